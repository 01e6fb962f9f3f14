// Every org's pending and running jobs (GET /api/v1/admin/compute/queue): who, where, why it
// waits, and a pending job's priority factors as `sprio` shows them (each factor times its weight;
// the factor itself on hover); hold, release and cancel any of them.
import { Anchor, Button, Group, SegmentedControl, Select, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { adminKeys, queuePath, type AdminJob, type Factors, type Org, type QueuePage, type Weights } from "../../api/adminCompute";
import { actOn, type JobAction } from "../../api/jobs";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { JobStateBadge } from "../jobs/JobStateBadge";
import { reasonText } from "../jobs/reasons";
import { TableHead } from "../envs/TableHead";
import { useRefetchEvery } from "./useRefetchEvery";

const FACTORS: { key: keyof Weights; label: string }[] = [
  { key: "age", label: "Age" },
  { key: "fair_share", label: "Fair share" },
  { key: "job_size", label: "Size" },
  { key: "qos", label: "QoS" },
];

const round = (x: number) => Math.round(x).toLocaleString();

function FactorCells({ f, w }: { f: Factors | null; w: Weights | undefined }) {
  if (!f || !w)
    return (
      <Table.Td colSpan={FACTORS.length + 2}>
        <Text size="xs" c="dimmed">
          —
        </Text>
      </Table.Td>
    );
  return (
    <>
      {FACTORS.map(({ key, label }) => (
        <Table.Td key={key} data-factor={key}>
          <Tooltip label={`${label} factor ${f[key].toFixed(3)} × weight ${w[key]}`}>
            <span tabIndex={0}>{round(f[key] * w[key])}</span>
          </Tooltip>
        </Table.Td>
      ))}
      <Table.Td data-factor="nice">{f.nice}</Table.Td>
      <Table.Td data-factor="priority">
        <Text size="sm" fw={600} span>
          {round(f.priority)}
        </Text>
        <Text size="xs" c="dimmed">
          #{f.rank + 1} in queue
        </Text>
      </Table.Td>
    </>
  );
}

function where(j: AdminJob): string {
  if (!j.slurm) return j.partition ?? "local";
  const s = j.slurm;
  return `${j.partition} · SLURM ${s.cluster}${s.job_id ? ` #${s.job_id}` : ""} ${s.state}${s.nodes ? ` on ${s.nodes}` : ""}`;
}

function Row({ j, w, onAct }: { j: AdminJob; w: Weights | undefined; onAct: (j: AdminJob, a: JobAction) => void }) {
  const label = j.name || j.id;
  return (
    <Table.Tr data-job={j.id}>
      <Table.Td>
        <Anchor component={Link} to={`/jobs/${j.id}`} fw={600} size="sm">
          {label}
        </Anchor>
        <Text size="xs" c="dimmed" className="mono">
          {j.id}
        </Text>
        <Text size="xs" c="dimmed">
          {j.resources.cpus} CPU · {j.resources.mem_mb} MB{j.resources.gpus ? ` · ${j.resources.gpus} GPU` : ""}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="sm">{j.org?.slug ?? j.org_id}</Text>
        <Text size="xs" c="dimmed">
          {j.user.username ?? j.user_id}
        </Text>
      </Table.Td>
      <Table.Td>
        <JobStateBadge state={j.state} held={j.held} />
        <Text size="xs" c="dimmed">
          {where(j)}
        </Text>
        {j.state === "PENDING" ? (
          <Text size="xs" data-reason>
            {reasonText(j.reason)}
          </Text>
        ) : null}
      </Table.Td>
      <FactorCells f={j.factors} w={w} />
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          {j.state === "PENDING" ? (
            <Button size="xs" variant="default" onClick={() => onAct(j, j.held ? "release" : "hold")} aria-label={`${j.held ? "Release" : "Hold"} ${label}`}>
              {j.held ? "Release" : "Hold"}
            </Button>
          ) : null}
          {!j.stop_requested ? (
            <Button size="xs" color="red" variant="light" onClick={() => onAct(j, "cancel")} aria-label={`Cancel ${label}`}>
              Cancel
            </Button>
          ) : null}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

export function ComputeQueue({ orgs }: { orgs: Org[] }) {
  const [state, setState] = useState("PENDING");
  const [org, setOrg] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState<AdminJob | null>(null);
  const list = useCursorList<AdminJob>(adminKeys.queue(state, org ?? ""), withQuery(queuePath, { state: state === "all" ? undefined : state, org: org ?? undefined }), 100);
  useRefetchEvery(list.refetch);
  const first = list.data?.pages[0] as QueuePage | undefined;
  const act = useMutation({
    mutationFn: ({ j, a }: { j: AdminJob; a: JobAction }) => actOn(j.id, a),
    onSettled: () => list.refetch(),
  });
  const onAct = (j: AdminJob, a: JobAction) => (a === "cancel" ? setCancelling(j) : act.mutate({ j, a }));
  return (
    <Stack gap="sm">
      <Group justify="space-between" align="end" wrap="wrap">
        <Title order={2}>Jobs</Title>
        <Group gap="sm" align="end">
          <SegmentedControl
            aria-label="Which jobs"
            value={state}
            onChange={(v) => setState(String(v))}
            data={[
              { value: "PENDING", label: "Pending" },
              { value: "RUNNING", label: "Running" },
              { value: "all", label: "Both" },
            ]}
          />
          <Select
            label="Organisation"
            placeholder="All organisations"
            clearable
            searchable
            value={org}
            onChange={(v) => setOrg(v === null ? null : String(v))}
            data={orgs.map((o) => ({ value: o.id, label: `${o.name} (${o.slug})` }))}
            w={240}
          />
        </Group>
      </Group>
      {first ? (
        <Text size="sm" c="dimmed">
          {first.pending_total} pending on this server. Priority = {FACTORS.map((f) => `${first.weights[f.key]} × ${f.label.toLowerCase()}`).join(" + ")} − nice.
        </Text>
      ) : null}
      <ErrorAlert error={list.error} title="The queue could not be loaded" />
      <ErrorAlert error={act.error} title={`Could not ${act.variables?.a ?? "do that"} the job`} />
      {list.isPending ? (
        <Loading label="Loading the queue" />
      ) : list.items.length === 0 ? (
        <EmptyState title="No jobs here">No job is {state === "all" ? "pending or running" : state.toLowerCase()}{org ? " in this organisation" : ""}.</EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={900}>
          <Table aria-label="Jobs across organisations" striped highlightOnHover>
            <TableHead columns={["Job", "Org / user", "State", ...FACTORS.map((f) => f.label), "Nice", "Priority"]} />
            <Table.Tbody>
              {list.items.map((j) => (
                <Row key={j.id} j={j} w={first?.weights} onAct={onAct} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <LoadMore {...list} />
      {cancelling ? (
        <ConfirmDialog
          title={`Cancel ${cancelling.name || cancelling.id}?`}
          confirm="Cancel the job"
          failed="The job was not cancelled"
          action={() => actOn(cancelling.id, "cancel").then(() => list.refetch())}
          onClose={() => setCancelling(null)}
        >
          The job of {cancelling.user.username ?? cancelling.user_id} in {cancelling.org?.slug ?? cancelling.org_id} ends: a pending job never starts, a
          running one is stopped (SIGTERM, then killed).
        </ConfirmDialog>
      ) : null}
    </Stack>
  );
}
