// /admin/health: the server's own figures over the last hour (GET /api/v1/admin/health, polled
// every sampling period while the page is visible), one chart per figure group with its current
// value and a table view with CSV; and the data store's garbage collection, dry run first.
import { Button, Group, Paper, SimpleGrid, Stack, Table, Text, Title, VisuallyHidden } from "@mantine/core";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useState } from "react";
import { fetchJson } from "../../api/client";
import type { HealthAnswer, HealthSample } from "../../api/health";
import { downloadCsv } from "../../components/charts/csv";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { GarbageCollection } from "./GarbageCollection";
import { display, groupsOf, HOUR_MS, mergeAnswer, seriesLabel, tableOf, timeLabel, type ChartGroup } from "./health";

const EChart = lazy(() => import("../../components/charts/EChart"));

const KEY = ["admin", "health"];

// Each poll asks for the samples newer than the last one kept (the whole hour at first).
function useHealth() {
  const qc = useQueryClient();
  return useQuery({
    queryKey: KEY,
    queryFn: async () => {
      const prev = qc.getQueryData<HealthAnswer>(KEY);
      const since = prev?.samples.at(-1)?.t ?? 0;
      return mergeAnswer(prev, await fetchJson<HealthAnswer>(`/api/v1/admin/health?since=${since}`));
    },
    // Polling stops while the page is hidden (TanStack's default) and resumes when it shows again.
    refetchInterval: (q) => q.state.data?.period_ms ?? 5000,
  });
}

function chartOption(g: ChartGroup, samples: HealthSample[], now: number) {
  const unit = g.scale.label;
  return {
    tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (v == null ? "—" : `${Number(v).toFixed(g.scale.digits)} ${unit}`) },
    legend: g.figures.length > 1 ? { bottom: 0 } : undefined,
    grid: { left: 8, right: 16, top: 24, bottom: g.figures.length > 1 ? 32 : 8, containLabel: true },
    xAxis: { type: "time", min: now - HOUR_MS, max: now },
    yAxis: { type: "value", name: unit, min: 0 },
    series: g.figures.map((f) => ({
      type: "line",
      name: seriesLabel(f),
      showSymbol: false,
      connectNulls: false,
      data: samples.map((s) => [s.t, s.values[f.name] === undefined ? null : s.values[f.name] * g.scale.scale]),
    })),
  };
}

function FigureCard({ group, samples, now, period }: { group: ChartGroup; samples: HealthSample[]; now: number; period: number }) {
  const [table, setTable] = useState(false);
  const option = useMemo(() => chartOption(group, samples, now), [group, samples, now]);
  const latest = samples.at(-1);
  const rows = useMemo(() => (table ? tableOf(group, samples) : null), [table, group, samples]);
  const titleId = `health-${group.id}`;
  return (
    <Paper withBorder p="sm" component="section" aria-labelledby={titleId}>
      <Stack gap="xs">
        <Group justify="space-between" align="baseline" wrap="wrap">
          <Title order={3} size="h5" id={titleId}>
            {group.title}
          </Title>
          <Group gap="md" data-testid={`current-${group.id}`}>
            {group.figures.map((f) => (
              <Text key={f.name} size="sm" title={f.help}>
                {group.figures.length > 1 ? `${seriesLabel(f)} ` : ""}
                <Text span fw={700}>
                  {display(latest?.values[f.name], group.scale)}
                </Text>
              </Text>
            ))}
          </Group>
        </Group>
        <div role="img" aria-label={`${group.title} over the last hour; the table view lists the numbers`}>
          <Suspense fallback={<Loading label="Loading the chart" />}>
            <EChart option={option} height={200} testId={`chart-${group.id}`} />
          </Suspense>
        </div>
        <Group gap="xs">
          <Button size="compact-sm" variant="default" aria-expanded={table} onClick={() => setTable((v) => !v)}>
            {table ? "Hide table" : "Show table"}
            <VisuallyHidden> of {group.title.toLowerCase()}</VisuallyHidden>
          </Button>
          <Button
            size="compact-sm"
            variant="default"
            onClick={() => {
              const t = tableOf(group, samples);
              downloadCsv(`atrium-health-${group.id}.csv`, t.header, t.rows);
            }}
          >
            Download CSV<VisuallyHidden> of {group.title.toLowerCase()}</VisuallyHidden>
          </Button>
        </Group>
        {rows ? (
          <div tabIndex={0} role="region" aria-label={`${group.title}, table`} style={{ maxHeight: 260, overflow: "auto" }}>
            <Table striped stickyHeader aria-label={`${group.title}, the last hour, newest first`}>
              <Table.Thead>
                <Table.Tr>
                  {rows.header.map((h) => (
                    <Table.Th key={h} scope="col">
                      {h}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.rows.map((r) => (
                  <Table.Tr key={String(r[0])}>
                    <Table.Td>{timeLabel(Date.parse(String(r[0])), period < 1000)}</Table.Td>
                    {r.slice(1).map((v, i) => (
                      <Table.Td key={i} ta="right">
                        {v === null ? "—" : v}
                      </Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        ) : null}
      </Stack>
    </Paper>
  );
}

export default function Health() {
  const q = useHealth();
  const groups = useMemo(() => (q.data ? groupsOf(q.data.figures, q.data.samples) : []), [q.data]);
  return (
    <Stack gap="lg">
      <Stack component="section" aria-labelledby="health-title" gap="sm">
        <Title order={2} size="h3" id="health-title">
          Health
        </Title>
        <Text size="sm" c="dimmed">
          This server&apos;s own figures over the last hour, sampled every{" "}
          {q.data ? `${q.data.period_ms / 1000} s` : "period"} and kept in memory (a restart starts afresh). Times are
          UTC. Prometheus gets the same figures as <code>atrium_health_*</code> at /metrics.
        </Text>
        {q.isPending ? <Loading label="Loading the health figures" /> : null}
        <ErrorAlert error={q.error} title="Could not load the health figures" />
        {q.data && q.data.samples.length === 0 ? (
          <Text size="sm">No sample yet: the first one comes within a period of the server starting.</Text>
        ) : null}
        {q.data && q.data.samples.length > 0 ? (
          <SimpleGrid cols={{ base: 1, lg: 2 }}>
            {groups.map((g) => (
              <FigureCard key={g.id} group={g} samples={q.data.samples} now={q.data.now} period={q.data.period_ms} />
            ))}
          </SimpleGrid>
        ) : null}
      </Stack>
      <GarbageCollection />
    </Stack>
  );
}
