// Home: my running and pending jobs and my active environments, with their states.
import { Anchor, Badge, Button, Group, Stack, Text } from "@mantine/core";
import { Link } from "react-router";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { Section } from "./Section";

// The few fields of a job and an environment this page reads (docs/api.md has them all).
interface JobRow {
  id: string;
  name: string;
  state: string;
  reason: string | null;
  reason_detail?: string;
  project_id: string;
}
interface EnvRow {
  id: string;
  app: string;
  state: string;
  reason: string;
  url: string;
  project_id: string;
}

export const STATE_COLOR: Record<string, string> = {
  PENDING: "yellow",
  QUEUED: "yellow",
  STARTING: "blue",
  RUNNING: "green",
  READY: "green",
  STOPPING: "gray",
};

export const MY_ACTIVE_JOBS = "/api/v1/jobs?state=PENDING,RUNNING";
export const MY_ACTIVE_ENVS = "/api/v1/envs?active=true";

export function MyJobs() {
  const list = useCursorList<JobRow>(["jobs", "mine", "active"], MY_ACTIVE_JOBS, 20);
  return (
    <Section title="Running and pending jobs" pending={list.isPending} error={list.error}>
      {list.items.length ? (
        <Stack gap={6} component="ul" aria-label="Running and pending jobs" style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {list.items.map((j) => (
            <Group component="li" key={j.id} gap="xs" wrap="wrap">
              <Badge color={STATE_COLOR[j.state] ?? "gray"} variant="dot">
                {j.state}
              </Badge>
              <Anchor component={Link} to={`/jobs/${j.id}`} style={{ overflowWrap: "anywhere" }}>
                {j.name || j.id}
              </Anchor>
              {j.state === "PENDING" && (j.reason_detail || j.reason) ? (
                <Text size="sm" c="dimmed">
                  {j.reason_detail || j.reason}
                </Text>
              ) : null}
            </Group>
          ))}
          <LoadMore {...list} />
        </Stack>
      ) : (
        <EmptyState title="No running or pending jobs">
          Submit one from a project's <strong>Jobs</strong> tab; it shows here while it waits and runs.
        </EmptyState>
      )}
    </Section>
  );
}

export function MyEnvs() {
  const list = useCursorList<EnvRow>(["envs", "mine", "active"], MY_ACTIVE_ENVS, 20);
  return (
    <Section title="Active environments" pending={list.isPending} error={list.error}>
      {list.items.length ? (
        <Stack gap={6} component="ul" aria-label="Active environments" style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {list.items.map((e) => (
            <Group component="li" key={e.id} gap="xs" wrap="wrap">
              <Badge color={STATE_COLOR[e.state] ?? "gray"} variant="dot">
                {e.state}
              </Badge>
              <Text>{e.app}</Text>
              <Text size="sm" c="dimmed">
                {e.id}
              </Text>
              {e.state === "QUEUED" && e.reason ? (
                <Text size="sm" c="dimmed">
                  {e.reason}
                </Text>
              ) : null}
              {e.state === "READY" ? (
                <Button component="a" href={e.url} target="_blank" rel="noopener" size="compact-xs" variant="default" aria-label={`Open ${e.app} ${e.id} in a new tab`}>
                  Open
                </Button>
              ) : null}
            </Group>
          ))}
          <LoadMore {...list} />
        </Stack>
      ) : (
        <EmptyState title="No active environments">
          Launch Jupyter or a terminal from a project's <strong>Environments</strong> tab.
        </EmptyState>
      )}
    </Section>
  );
}
