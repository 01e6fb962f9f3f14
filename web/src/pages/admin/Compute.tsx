// /admin/compute: this node's resources and what is allocated, every org's queue with priority
// factors (hold, release, cancel any job), and every org's environments (stop any of them).
import { Group, Paper, Progress, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { listAll } from "../../api/client";
import { adminKeys, getNode, type Org } from "../../api/adminCompute";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { ComputeEnvs } from "./ComputeEnvs";
import { ComputeQueue } from "./ComputeQueue";

function Meter({ label, used, total, unit }: { label: string; used: number; total: number; unit: string }) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return (
    <Paper withBorder p="sm">
      <Group justify="space-between">
        <Text fw={600} size="sm">
          {label}
        </Text>
        <Text size="sm" data-meter={label}>
          {used} of {total} {unit} allocated
        </Text>
      </Group>
      <Progress value={pct} mt="xs" aria-label={`${label}: ${Math.round(pct)}% allocated`} />
    </Paper>
  );
}

function NodeSummary() {
  const node = useQuery({ queryKey: adminKeys.node, queryFn: getNode, refetchInterval: 10_000 });
  if (node.isPending) return <Loading label="Loading this node" />;
  if (node.error) return <ErrorAlert error={node.error} title="This node's resources could not be loaded" />;
  const n = node.data;
  const gb = (mb: number) => Math.round((mb / 1024) * 10) / 10;
  return (
    <Stack gap="xs">
      <Title order={2}>This server</Title>
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Meter label="CPUs" used={n.allocated.cpus} total={n.resources.cpus} unit="" />
        <Meter label="Memory" used={gb(n.allocated.mem_mb)} total={gb(n.resources.mem_mb)} unit="GB" />
        <Meter label="GPUs" used={n.allocated.gpus} total={n.resources.gpus} unit="" />
      </SimpleGrid>
      <Text size="sm" c="dimmed">
        {n.jobs.running} running and {n.jobs.pending} pending on this server (SLURM partitions schedule their own).
      </Text>
    </Stack>
  );
}

export default function Compute() {
  const orgs = useQuery({ queryKey: adminKeys.orgs, queryFn: () => listAll<Org>("/api/v1/orgs") });
  return (
    <Stack gap="xl">
      <NodeSummary />
      <ComputeQueue orgs={orgs.data ?? []} />
      <ComputeEnvs />
    </Stack>
  );
}
