// What changed between two versions of a dataset: added, removed and changed paths.
import { Badge, Button, Group, List, Select, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import type { DatasetDiff, DatasetVersion } from "../../api/data";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { formatBytes } from "./format";

function Section({ title, color, rows }: { title: string; color: string; rows: { path: string; note: string }[] }) {
  if (!rows.length) return null;
  return (
    <Stack gap={2}>
      <Group gap="xs">
        <Badge color={color} variant="outline">
          {title}
        </Badge>
        <Text size="xs" c="dimmed">
          {rows.length}
        </Text>
      </Group>
      <List size="sm" aria-label={`${title} files`}>
        {rows.map((r) => (
          <List.Item key={r.path} style={{ wordBreak: "break-all" }}>
            {r.path} <Text span size="xs" c="dimmed">{r.note}</Text>
          </List.Item>
        ))}
      </List>
    </Stack>
  );
}

export function VersionDiff({ datasetId, versions }: { datasetId: string; versions: DatasetVersion[] }) {
  const options = versions.map((v) => ({ value: String(v.version), label: `Version ${v.version}` }));
  // Until chosen: the newest version against the one before it.
  const [fromChoice, setFrom] = useState<string | null>(null);
  const [toChoice, setTo] = useState<string | null>(null);
  const from = fromChoice ?? options.at(1)?.value ?? null;
  const to = toChoice ?? options.at(0)?.value ?? null;
  const [shown, setShown] = useState<[string, string] | null>(null);
  const q = useQuery({
    queryKey: ["dataset-diff", datasetId, shown],
    enabled: !!shown,
    queryFn: () =>
      fetchJson<DatasetDiff>(`/api/v1/datasets/${encodeURIComponent(datasetId)}/diff?from=${shown![0]}&to=${shown![1]}`),
  });
  if (versions.length < 2) return <Text size="sm" c="dimmed">Make a second version to compare versions.</Text>;
  const d = q.data;
  return (
    <Stack gap="sm">
      <Group align="flex-end" gap="sm" wrap="wrap">
        <Select label="From" data={options} value={from} onChange={(v) => setFrom(v == null ? null : String(v))} allowDeselect={false} w={140} />
        <Select label="To" data={options} value={to} onChange={(v) => setTo(v == null ? null : String(v))} allowDeselect={false} w={140} />
        <Button variant="default" disabled={!from || !to || from === to} onClick={() => from && to && setShown([from, to])}>
          Compare
        </Button>
      </Group>
      {shown && q.isPending ? <Loading label="Comparing" /> : null}
      <ErrorAlert error={q.error} title="The versions could not be compared" />
      {d ? (
        <Stack gap="xs" role="region" aria-label="Differences">
          <Text size="sm">
            Version {d.from} → {d.to}: {d.added.length} added, {d.removed.length} removed, {d.changed.length} changed,{" "}
            {d.unchanged} unchanged
          </Text>
          <Section title="Added" color="dark" rows={d.added.map((e) => ({ path: e.path, note: formatBytes(e.size) }))} />
          <Section title="Removed" color="red.9" rows={d.removed.map((e) => ({ path: e.path, note: formatBytes(e.size) }))} />
          <Section
            title="Changed"
            color="dark"
            rows={d.changed.map((c) => ({ path: c.path, note: `${formatBytes(c.from.size)} → ${formatBytes(c.to.size)}` }))}
          />
        </Stack>
      ) : null}
    </Stack>
  );
}
