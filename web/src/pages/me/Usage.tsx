// /me/usage: my compute use (allocated CPU-hours or GPU-hours) by project per day, as a chart
// (lazily loaded ECharts) beside a table of the totals.
import { Grid, Paper, SegmentedControl, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useState } from "react";
import { fetchJson } from "../../api/client";
import type { UsageAnswer } from "../../api/me";
import { withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { hours, lastDays, seriesOf, totalsOf, type Metric } from "./usage";

const UsageChart = lazy(() => import("./UsageChart"));

const RANGES = [
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
];
const METRICS = [
  { value: "cpu_hours", label: "CPU-hours" },
  { value: "gpu_hours", label: "GPU-hours" },
];

export default function Usage() {
  const [range, setRange] = useState("30");
  const [metric, setMetric] = useState<Metric>("cpu_hours");
  const window = useMemo(() => lastDays(Number(range), new Date()), [range]);
  const q = useQuery({
    queryKey: ["me", "usage", window.from, window.to],
    queryFn: () => fetchJson<UsageAnswer>(withQuery("/api/v1/me/usage", { ...window, bucket: "day" })),
  });
  const chart = useMemo(() => (q.data ? seriesOf(q.data, metric) : null), [q.data, metric]);
  const totals = useMemo(() => (q.data ? totalsOf(q.data) : []), [q.data]);
  const unit = metric === "cpu_hours" ? "CPU-hours" : "GPU-hours";

  return (
    <Stack component="section" aria-labelledby="usage-title">
      <Title order={2} size="h3" id="usage-title">
        Compute usage
      </Title>
      <Text size="sm" c="dimmed">
        What your jobs and environments held: CPUs (or GPUs) × hours, per project and UTC day — what quotas count.
      </Text>
      <Stack gap="xs">
        <Text size="sm" fw={500} id="usage-range">
          Period
        </Text>
        <SegmentedControl aria-labelledby="usage-range" data={RANGES} value={range} onChange={(v) => setRange(String(v))} maw={360} />
        <Text size="sm" fw={500} id="usage-metric">
          Measure
        </Text>
        <SegmentedControl
          aria-labelledby="usage-metric"
          data={METRICS}
          value={metric}
          onChange={(v) => setMetric(v as Metric)}
          maw={360}
        />
      </Stack>
      {q.isPending ? <Loading label="Loading usage" /> : null}
      <ErrorAlert error={q.error} title="Could not load your usage" />
      {q.data && q.data.items.length === 0 ? (
        <EmptyState title="No compute used in this period">
          Run a job or launch an environment from a project; its CPU-hours show here once it has run.
        </EmptyState>
      ) : null}
      {q.data && q.data.items.length > 0 && chart ? (
        <Grid>
          <Grid.Col span={{ base: 12, md: 8 }}>
            <Paper withBorder p="sm" role="img" aria-label={`${unit} per day by project; the table lists the totals`}>
              <Suspense fallback={<Loading label="Loading the chart" />}>
                <UsageChart days={chart.days} series={chart.series} unit={unit} />
              </Suspense>
            </Paper>
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 4 }}>
            <Table striped aria-label={`Usage by project, ${RANGES.find((r) => r.value === range)?.label}`}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Project</Table.Th>
                  <Table.Th scope="col" ta="right">
                    CPU-h
                  </Table.Th>
                  <Table.Th scope="col" ta="right">
                    GPU-h
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {totals.map((r) => (
                  <Table.Tr key={r.id}>
                    <Table.Td style={{ wordBreak: "break-word" }}>{r.label}</Table.Td>
                    <Table.Td ta="right">{hours(r.cpu_hours)}</Table.Td>
                    <Table.Td ta="right">{hours(r.gpu_hours)}</Table.Td>
                  </Table.Tr>
                ))}
                <Table.Tr>
                  <Table.Th scope="row">All projects</Table.Th>
                  <Table.Td ta="right" fw={600}>
                    {hours(q.data.totals.cpu_hours)}
                  </Table.Td>
                  <Table.Td ta="right" fw={600}>
                    {hours(q.data.totals.gpu_hours)}
                  </Table.Td>
                </Table.Tr>
              </Table.Tbody>
            </Table>
          </Grid.Col>
        </Grid>
      ) : null}
    </Stack>
  );
}
