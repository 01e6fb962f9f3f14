// The app catalog as cards: what can be launched here (Jupyter, the terminal, web apps), with
// their default and largest resources.
import { Badge, Button, Card, Group, SimpleGrid, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { listApps, type App } from "../../api/envs";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { fmtHours } from "./envState";

const gb = (mb: number) => `${Math.round((mb / 1024) * 100) / 100} GB`;

export function AppCatalog({ onPick, disabled }: { onPick: (a: App) => void; disabled?: boolean }) {
  const q = useQuery({ queryKey: ["apps"], queryFn: listApps });
  if (q.isPending) return <Loading label="Loading the app catalog" />;
  if (q.error) return <ErrorAlert error={q.error} title="The app catalog could not be loaded" />;
  const apps = q.data.items.filter((a) => a.enabled);
  if (!apps.length)
    return <EmptyState title="No apps to launch">An administrator adds apps to the catalog (PUT /api/v1/apps/&lt;name&gt;).</EmptyState>;
  return (
    <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
      {apps.map((a) => (
        <Card key={a.name} withBorder padding="md" component="article" aria-label={a.name}>
          <Stack gap={6} h="100%">
            <Group justify="space-between" wrap="nowrap">
              <Text fw={600}>{a.name}</Text>
              <Badge variant="light" color="gray">
                {a.kind}
              </Badge>
            </Group>
            <Text size="sm">{a.title}</Text>
            <Text size="xs" c="dimmed">
              {a.defaults.cpus} CPU, {gb(a.defaults.mem_mb)}, {fmtHours(a.defaults.time_limit_s)} by default; up to{" "}
              {a.max.cpus} CPUs, {gb(a.max.mem_mb)}, {fmtHours(a.max.time_limit_s)}
            </Text>
            <Group mt="auto">
              <Button size="xs" onClick={() => onPick(a)} disabled={disabled} aria-label={`Launch ${a.name}…`}>
                Launch…
              </Button>
            </Group>
          </Stack>
        </Card>
      ))}
    </SimpleGrid>
  );
}
