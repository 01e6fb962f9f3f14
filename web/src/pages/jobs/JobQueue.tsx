// A queue of jobs (a project's or mine), live through the job event stream: state, the pending
// reason in words, the estimated start; filtered by state, paged with the API's cursor.
import { Anchor, Badge, Group, Paper, Select, Stack, Text } from "@mantine/core";
import { Link } from "react-router";
import { JOB_STATES, jobKeys, type Job } from "../../api/jobs";
import { ErrorAlert } from "../../components/ErrorAlert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { JobStateBadge } from "./JobStateBadge";
import { reasonText, startText } from "./reasons";
import { useJobEvents, type LiveState } from "./useJobEvents";
import type { ReactNode } from "react";

const FILTERS = [
  { value: "", label: "All states" },
  { value: "PENDING,RUNNING", label: "Active (pending or running)" },
  ...JOB_STATES.map((s) => ({ value: s, label: s })),
];

export function LiveBadge({ live }: { live: LiveState }) {
  return (
    <Badge variant="dot" color={live === "live" ? "green" : "gray"} role="status" aria-live="polite">
      {live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
    </Badge>
  );
}

function resources(j: Job): string {
  const r = j.resources;
  const parts = [`${r.cpus} CPU`, `${r.mem_mb} MB`];
  if (r.gpus) parts.push(`${r.gpus} GPU`);
  return parts.join(" · ");
}

function JobRow({ j }: { j: Job }) {
  const when = startText(j.estimated_start);
  return (
    <Paper withBorder p="xs" component="li" aria-label={`Job ${j.name || j.id}`} data-job={j.id}>
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Stack gap={0} style={{ minWidth: 0 }}>
          <Anchor component={Link} to={`/jobs/${j.id}`} fw={600} style={{ overflowWrap: "anywhere" }}>
            {j.name || j.id}
          </Anchor>
          <Text size="xs" c="dimmed" style={{ overflowWrap: "anywhere" }}>
            {j.id} · {resources(j)} · submitted {new Date(j.submit_time).toLocaleString()}
          </Text>
        </Stack>
        <JobStateBadge state={j.state} held={j.held} />
      </Group>
      {j.state === "PENDING" ? (
        <Text size="sm" mt={4}>
          {reasonText(j.reason)}
          {when ? ` It is ${when}.` : ""}
        </Text>
      ) : null}
    </Paper>
  );
}

export function JobQueue({
  scope,
  path,
  projectId,
  state,
  onState,
  empty,
}: {
  scope: string; // "mine" or the project's id: the list's cache key
  path: string;
  projectId?: string;
  state: string;
  onState: (s: string) => void;
  empty: ReactNode;
}) {
  const live = useJobEvents(projectId);
  const list = useCursorList<Job>(jobKeys.list(scope, state), withQuery(path, { state }), 25);
  // An event may move a job out of the filter's states: the list shows what matches.
  const wanted = state ? new Set(state.split(",")) : null;
  const items = wanted ? list.items.filter((j) => wanted.has(j.state)) : list.items;
  return (
    <Stack gap="sm">
      <Group justify="space-between" wrap="wrap">
        <Select
          label="Filter by state"
          data={FILTERS}
          value={state}
          onChange={(v) => onState(v ?? "")}
          allowDeselect={false}
          w={260}
        />
        <LiveBadge live={live} />
      </Group>
      {list.isPending ? <Loading label="Loading jobs" /> : null}
      <ErrorAlert error={list.error} title="The jobs could not be loaded" />
      {!list.isPending && !list.error && items.length === 0 ? empty : null}
      {items.length > 0 ? (
        <Stack component="ul" gap={6} aria-label="Jobs" style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {items.map((j) => (
            <JobRow key={j.id} j={j} />
          ))}
        </Stack>
      ) : null}
      <LoadMore {...list} />
    </Stack>
  );
}

export function NoJobs({ filtered, children }: { filtered: boolean; children: ReactNode }) {
  return <EmptyState title={filtered ? "No jobs in this state" : "No jobs yet"}>{filtered ? "Choose another state above." : children}</EmptyState>;
}
