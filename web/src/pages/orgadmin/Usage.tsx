// /orgs/{org}/usage: the org's compute usage (allocated CPU-hours or GPU-hours) by group, user or
// project per day, week or month as stacked bars (lazily loaded ECharts) beside a table of the
// same numbers with a CSV export; the totals per group/user/project; storage per project; and the
// fair-share tree as `sshare -l` shows it. Org and instance administrators (quotas:read).
import { Button, Grid, Group, Paper, SegmentedControl, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { fetchJson } from "../../api/client";
import type { FairShareAnswer, OrgUsageAnswer, UsageBucket, UsageBy } from "../../api/orgUsage";
import { downloadCsv, type Cell } from "../../components/charts/csv";
import { withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { hours, lastDays } from "../me/usage";
import { useUsageChart } from "../me/useUsageChart";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { bytes, chartOf, fairShareLines, totalsByKey, type Metric } from "./orgUsage";


const BY = [
  { value: "group", label: "Group" },
  { value: "user", label: "User" },
  { value: "project", label: "Project" },
];
const BUCKETS = [
  { value: "day", label: "Day" },
  { value: "week", label: "Week" },
  { value: "month", label: "Month" },
];
const RANGES = [
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "12 months" },
];
const METRICS = [
  { value: "cpu_hours", label: "CPU-hours" },
  { value: "gpu_hours", label: "GPU-hours" },
];

function Choice({ id, label, data, value, onChange }: {
  id: string;
  label: string;
  data: { value: string; label: string }[];
  value: string;
  onChange: (v: string) => void;
}) {
  return (
    <Stack gap={4}>
      <Text size="sm" fw={500} id={id}>
        {label}
      </Text>
      <SegmentedControl aria-labelledby={id} data={data} value={value} onChange={(v) => onChange(String(v))} />
    </Stack>
  );
}

function CsvButton({ name, header, rows }: { name: string; header: string[]; rows: Cell[][] }) {
  return (
    <Button variant="default" size="xs" onClick={() => downloadCsv(name, header, rows)}>
      Export CSV
    </Button>
  );
}

function UsageSection({ org }: { org: string }) {
  const [by, setBy] = useState<UsageBy>("group");
  const [bucket, setBucket] = useState<UsageBucket>("day");
  const [range, setRange] = useState("30");
  const [metric, setMetric] = useState<Metric>("cpu_hours");
  const UsageChart = useUsageChart();
  const window = useMemo(() => lastDays(Number(range), new Date()), [range]);
  const q = useQuery({
    queryKey: ["orgs", org, "usage", by, bucket, window.from, window.to],
    queryFn: () =>
      fetchJson<OrgUsageAnswer>(withQuery(`/api/v1/orgs/${encodeURIComponent(org)}/usage`, { ...window, by, bucket })),
  });
  const chart = useMemo(() => (q.data ? chartOf(q.data, metric) : null), [q.data, metric]);
  const totals = useMemo(() => (q.data ? totalsByKey(q.data, metric) : []), [q.data, metric]);
  const unit = metric === "cpu_hours" ? "CPU-hours" : "GPU-hours";
  const byLabel = BY.find((b) => b.value === by)?.label.toLowerCase() ?? by;
  const header = chart ? ["Period starting", ...chart.series.map((s) => s.label), "Total"] : [];
  const rows: Cell[][] = chart
    ? chart.days.map((d, i) => {
        const vals = chart.series.map((s) => s.values[i]);
        return [d, ...vals, vals.reduce((x, y) => x + y, 0)];
      })
    : [];

  return (
    <Stack component="section" aria-labelledby="org-usage-title">
      <Title order={2} size="h3" id="org-usage-title">
        Compute usage
      </Title>
      <Text size="sm" c="dimmed">
        What the organisation's jobs and environments held: CPUs (or GPUs) × hours per UTC {bucket}, what quotas count.
      </Text>
      <Group gap="lg" align="flex-end" wrap="wrap">
        <Choice id="usage-by" label="By" data={BY} value={by} onChange={(v) => setBy(v as UsageBy)} />
        <Choice id="usage-bucket" label="Per" data={BUCKETS} value={bucket} onChange={(v) => setBucket(v as UsageBucket)} />
        <Choice id="usage-range" label="Period" data={RANGES} value={range} onChange={setRange} />
        <Choice id="usage-metric" label="Measure" data={METRICS} value={metric} onChange={(v) => setMetric(v as Metric)} />
      </Group>
      {q.isPending ? <Loading label="Loading usage" /> : null}
      <ErrorAlert error={q.error} title="Could not load the usage" />
      {q.data && totals.length === 0 ? (
        <EmptyState title="No compute used in this period">Jobs and environments show here once they have run.</EmptyState>
      ) : null}
      {q.data && chart && totals.length > 0 ? (
        <Grid>
          <Grid.Col span={{ base: 12, lg: 7 }}>
            <Paper withBorder p="sm" role="img" aria-label={`${unit} per ${bucket} by ${byLabel}; the table beside lists the same numbers`}>
              {UsageChart ? (
                <UsageChart days={chart.days} series={chart.series} unit={unit} testId="org-usage-chart" />
              ) : (
                <Loading label="Loading the chart" />
              )}
            </Paper>
          </Grid.Col>
          <Grid.Col span={{ base: 12, lg: 5 }}>
            <Group justify="space-between" mb={4}>
              <Text size="sm" fw={500}>
                {unit} per {bucket}
              </Text>
              <CsvButton name={`usage-${org}-${by}-${bucket}.csv`} header={header} rows={rows} />
            </Group>
            <Table.ScrollContainer minWidth={360} maxHeight={320} type="native" tabIndex={0} role="region" aria-label="Usage per period table, scrolls">
              <Table striped stickyHeader aria-label={`${unit} per ${bucket} by ${byLabel}`}>
                <Table.Thead>
                  <Table.Tr>
                    {header.map((h, i) => (
                      <Table.Th key={i} scope="col" ta={i === 0 ? undefined : "right"}>
                        {h}
                      </Table.Th>
                    ))}
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((r) => (
                    <Table.Tr key={String(r[0])}>
                      <Table.Th scope="row">{r[0]}</Table.Th>
                      {r.slice(1).map((v, i) => (
                        <Table.Td key={i} ta="right">
                          {hours(Number(v))}
                        </Table.Td>
                      ))}
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          </Grid.Col>
        </Grid>
      ) : null}
      {q.data && totals.length > 0 ? (
        <Stack gap={4}>
          <Group justify="space-between">
            <Title order={3} size="h4">
              Totals by {byLabel}
            </Title>
            <CsvButton
              name={`usage-${org}-${by}-totals.csv`}
              header={[BY.find((b) => b.value === by)?.label ?? by, "CPU-hours", "GPU-hours"]}
              rows={totals.map((t) => [t.label, t.cpu_hours, t.gpu_hours])}
            />
          </Group>
          <Table striped aria-label={`Totals by ${byLabel}, ${window.from} to ${window.to}`}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">{BY.find((b) => b.value === by)?.label}</Table.Th>
                <Table.Th scope="col" ta="right">CPU-hours</Table.Th>
                <Table.Th scope="col" ta="right">GPU-hours</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {totals.map((t) => (
                <Table.Tr key={t.id}>
                  <Table.Td style={{ wordBreak: "break-word" }}>{t.label}</Table.Td>
                  <Table.Td ta="right">{hours(t.cpu_hours)}</Table.Td>
                  <Table.Td ta="right">{hours(t.gpu_hours)}</Table.Td>
                </Table.Tr>
              ))}
              <Table.Tr>
                <Table.Th scope="row">All</Table.Th>
                <Table.Td ta="right" fw={600}>{hours(q.data.totals.cpu_hours)}</Table.Td>
                <Table.Td ta="right" fw={600}>{hours(q.data.totals.gpu_hours)}</Table.Td>
              </Table.Tr>
            </Table.Tbody>
          </Table>
        </Stack>
      ) : null}
      {q.data ? <StorageSection org={org} storage={q.data.storage} /> : null}
    </Stack>
  );
}

function StorageSection({ org, storage }: { org: string; storage: OrgUsageAnswer["storage"] }) {
  const items = [...storage.items].sort((x, y) => y.bytes - x.bytes);
  const label = (p: (typeof items)[number]) => p.name ?? `${p.project_id} (deleted)`;
  return (
    <Stack component="section" aria-labelledby="org-storage-title" gap={4}>
      <Group justify="space-between">
        <Title order={2} size="h3" id="org-storage-title">
          Storage by project
        </Title>
        <CsvButton name={`storage-${org}.csv`} header={["Project", "Bytes"]} rows={items.map((p) => [label(p), p.bytes])} />
      </Group>
      {items.length === 0 ? (
        <EmptyState title="No data stored">Files and datasets of the organisation's projects count here.</EmptyState>
      ) : (
        <Table striped aria-label="Storage by project">
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Project</Table.Th>
              <Table.Th scope="col" ta="right">Stored</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((p) => (
              <Table.Tr key={p.project_id}>
                <Table.Td>{label(p)}</Table.Td>
                <Table.Td ta="right">{bytes(p.bytes)}</Table.Td>
              </Table.Tr>
            ))}
            <Table.Tr>
              <Table.Th scope="row">All projects</Table.Th>
              <Table.Td ta="right" fw={600}>{bytes(storage.total_bytes)}</Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

const num = (v: number, d = 4) => (Number.isFinite(v) ? v.toFixed(d) : "");

function FairShareSection({ org }: { org: string }) {
  const q = useQuery({
    queryKey: ["orgs", org, "fairshare"],
    queryFn: () => fetchJson<FairShareAnswer>(`/api/v1/orgs/${encodeURIComponent(org)}/fairshare`),
  });
  const lines = useMemo(() => (q.data ? fairShareLines(q.data) : []), [q.data]);
  const header = ["Account", "User", "Raw shares", "Norm shares", "Raw usage", "Norm usage", "Effective usage", "Fair share"];
  const csvRows: Cell[][] = lines.map((l) => [
    l.account,
    l.user,
    l.row.shares,
    l.row.norm_shares,
    l.row.raw_usage,
    l.row.norm_usage,
    l.row.effective_usage,
    l.row.factor,
  ]);
  return (
    <Stack component="section" aria-labelledby="org-fairshare-title" gap={4}>
      <Group justify="space-between">
        <Title order={2} size="h3" id="org-fairshare-title">
          Fair share
        </Title>
        {q.data ? <CsvButton name={`fairshare-${org}.csv`} header={header} rows={csvRows} /> : null}
      </Group>
      {q.data ? (
        <Text size="sm" c="dimmed">
          As <code>sshare -l</code> shows it for this server's scheduler: usage in {q.data.usage_unit}, halving every{" "}
          {q.data.half_life_hours} hours; a factor near 1 means under its share, near 0 over it.
        </Text>
      ) : null}
      {q.isPending ? <Loading label="Loading fair share" /> : null}
      <ErrorAlert error={q.error} title="Could not load the fair-share tree" />
      {q.data ? (
        <Table.ScrollContainer minWidth={760} type="native" tabIndex={0} role="region" aria-label="Fair-share table, scrolls sideways">
          <Table striped aria-label="Fair-share tree">
            <Table.Thead>
              <Table.Tr>
                {header.map((h, i) => (
                  <Table.Th key={h} scope="col" ta={i < 2 ? undefined : "right"}>
                    {h}
                  </Table.Th>
                ))}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {lines.map((l, i) => (
                <Table.Tr key={i}>
                  <Table.Td pl={l.level === 0 ? undefined : l.level * 16} fw={l.level < 2 ? 600 : undefined}>
                    {l.level === 2 ? "" : l.account}
                  </Table.Td>
                  <Table.Td>{l.user}</Table.Td>
                  <Table.Td ta="right">{l.row.shares}</Table.Td>
                  <Table.Td ta="right">{num(l.row.norm_shares)}</Table.Td>
                  <Table.Td ta="right">{Math.round(l.row.raw_usage)}</Table.Td>
                  <Table.Td ta="right">{num(l.row.norm_usage)}</Table.Td>
                  <Table.Td ta="right">{num(l.row.effective_usage)}</Table.Td>
                  <Table.Td ta="right">{num(l.row.factor)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
    </Stack>
  );
}

export default function Usage() {
  const org = useOrgSlug();
  return (
    <OrgPage perm="quotas:read" what="see this organisation's usage">
      <Stack gap="xl">
        <UsageSection org={org} />
        <FairShareSection org={org} />
      </Stack>
    </OrgPage>
  );
}
