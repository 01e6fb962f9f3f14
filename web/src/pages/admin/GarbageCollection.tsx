// The data store's garbage collection (POST /api/v1/admin/gc): a dry run counts what a collection
// would remove; the collection itself is offered after it, behind a confirmation. A collection
// that outlasts the route's wait answers its task, followed here until it ends.
import { Alert, Button, Group, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import type { GcReport, GcTask } from "../../api/health";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorAlert } from "../../components/ErrorAlert";
import { formatBytes } from "../data/format";

const TASK_POLL_MS = 1000;

async function runGc(dryRun: boolean): Promise<GcReport> {
  const r = await fetchJson<GcReport | GcTask>("/api/v1/admin/gc", {
    method: "POST",
    body: JSON.stringify({ dry_run: dryRun }),
  });
  if (!("state" in r)) return r;
  for (;;) {
    await new Promise((done) => setTimeout(done, TASK_POLL_MS));
    const t = await fetchJson<GcTask>(`/api/v1/tasks/${encodeURIComponent(r.id)}`);
    if (t.state === "succeeded") return { ...(t.result as GcReport), task_id: t.id };
    if (t.state === "dead") throw new Error(`garbage collection failed: ${t.last_error ?? "unknown error"}`);
  }
}

const ROWS: { key: keyof GcReport; label: string }[] = [
  { key: "blobs", label: "Unreferenced blobs" },
  { key: "bytes", label: "Their size" },
  { key: "orphan_objects", label: "Objects the database does not know" },
  { key: "expired_uploads", label: "Expired uploads" },
  { key: "staging_files", label: "Staging files without an upload" },
  { key: "materialized", label: "Plaintext dataset copies no job mounts" },
];

function Report({ report }: { report: GcReport }) {
  const caption = report.dry_run ? "Dry run: what a collection would remove" : "Collected";
  return (
    <Table striped maw={520} aria-label={caption} data-testid="gc-report">
      <Table.Caption>
        {caption} (task {report.task_id})
      </Table.Caption>
      <Table.Tbody>
        {ROWS.map((r) => (
          <Table.Tr key={r.key}>
            <Table.Th scope="row">{r.label}</Table.Th>
            <Table.Td ta="right">{r.key === "bytes" ? formatBytes(report.bytes) : report[r.key]}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function GarbageCollection() {
  const [report, setReport] = useState<GcReport | null>(null);
  const [confirm, setConfirm] = useState(false);
  const dry = useMutation({ mutationFn: () => runGc(true), onSuccess: setReport });
  const counted = report?.dry_run === true;
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="gc-title">
      <Stack gap="sm">
        <Title order={2} size="h3" id="gc-title">
          Data store garbage collection
        </Title>
        <Text size="sm" c="dimmed">
          Removes blobs no file or dataset version has referred to for the grace period, objects the database does not
          know, expired uploads and stray staging files. Start with a dry run: it only counts.
        </Text>
        <Group>
          <Button variant="default" loading={dry.isPending} onClick={() => dry.mutate()}>
            Dry run
          </Button>
          <Button color="red" disabled={!counted} onClick={() => setConfirm(true)}>
            Collect garbage
          </Button>
        </Group>
        {!counted && !report ? <Text size="sm">The collection is offered once a dry run has counted.</Text> : null}
        <ErrorAlert error={dry.error} title="The dry run failed" />
        {report && !report.dry_run ? (
          <Alert color="green" variant="light" role="status" title="Garbage collected">
            {report.blobs} blobs ({formatBytes(report.bytes)}) removed.
          </Alert>
        ) : null}
        {report ? <Report report={report} /> : null}
      </Stack>
      {confirm && report ? (
        <ConfirmDialog
          title="Collect garbage?"
          confirm="Collect"
          failed="The collection failed"
          action={async () => setReport(await runGc(false))}
          onClose={() => setConfirm(false)}
        >
          The dry run counted {report.blobs} unreferenced blobs ({formatBytes(report.bytes)}),{" "}
          {report.orphan_objects} unknown objects and {report.expired_uploads} expired uploads. They are deleted for good;
          what became unreferenced since the dry run goes too.
        </ConfirmDialog>
      ) : null}
    </Paper>
  );
}
