// /jobs/{id}: one job, live: its state (why it waits, when it should start), actions, timings
// and resources, provenance (commit → job → dataset version), events, array tasks and its output.
import { Anchor, Divider, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { TERMINAL, getJob, jobKeys, type Job } from "../../api/jobs";
import { CopyButton } from "../../components/CopyButton";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { JobActions } from "./JobActions";
import { JobDetails, JobTimeline } from "./JobDetails";
import { JobLog } from "./JobLog";
import { JobStateBadge } from "./JobStateBadge";
import { LiveBadge } from "./JobQueue";
import { Provenance } from "./Provenance";
import { reasonText, startText } from "./reasons";
import { useJobEvents } from "./useJobEvents";
import { useProjectBase } from "./projectBase";

function ArrayTasks({ job }: { job: Job }) {
  const a = job.array!;
  const path = `/api/v1/projects/${job.project_id}/jobs?array=${encodeURIComponent(a.array_id)}`;
  const list = useCursorList<Job>(jobKeys.list(job.project_id, `array=${a.array_id}`), path, 50);
  return (
    <section aria-label="Array tasks">
      <Text fw={600} mb={4}>
        Array {a.array_id} ({a.spec}
        {a.max_concurrent ? `, at most ${a.max_concurrent} at once` : ""})
      </Text>
      <ErrorAlert error={list.error} title="The array's tasks could not be loaded" />
      <Group gap="xs" component="ul" style={{ listStyle: "none", padding: 0, margin: 0 }}>
        {list.items.map((t) => (
          <li key={t.id}>
            <Anchor component={Link} to={`/jobs/${t.id}`} size="sm" aria-current={t.id === job.id ? "page" : undefined}>
              task {t.array?.index}
            </Anchor>{" "}
            <JobStateBadge state={t.state} held={t.held} />
          </li>
        ))}
      </Group>
      <LoadMore {...list} />
    </section>
  );
}

const SLURM_REFRESH_MS = 10_000;

function Live({ projectId }: { projectId: string }) {
  return <LiveBadge live={useJobEvents(projectId)} />;
}

export default function JobPage() {
  const { id = "" } = useParams();
  // The event stream carries Atrium's state changes; a SLURM job's own fields (its nodes, SLURM's
  // reason, the tracker's unknown-since marker) change without one: re-read it while it is live.
  const q = useQuery({
    queryKey: jobKeys.one(id),
    queryFn: () => getJob(id),
    refetchInterval: (query) => (query.state.data?.slurm && !TERMINAL.has(query.state.data.state) ? SLURM_REFRESH_MS : false),
  });
  const base = useProjectBase(q.data?.project_id, q.data?.org_id);
  if (q.isPending) return <Loading label="Loading the job" />;
  if (q.error) return <ErrorAlert error={q.error} title="This job could not be loaded" />;
  const j = q.data;
  const when = startText(j.estimated_start);
  return (
    <Stack gap="md">
      <Stack gap={4}>
        <Group gap="xs" wrap="wrap">
          <Title order={1} size="h3" style={{ overflowWrap: "anywhere" }}>
            {j.name || j.id}
          </Title>
          <JobStateBadge state={j.state} held={j.held} />
          <Live projectId={j.project_id} />
        </Group>
        <Group gap="xs" wrap="wrap">
          <Text size="sm" c="dimmed" style={{ overflowWrap: "anywhere" }}>
            {j.id}
          </Text>
          <CopyButton value={j.id} label="Copy id" />
          {base ? (
            <Anchor component={Link} to={`${base}/jobs`} size="sm">
              {base.slice(1)} jobs
            </Anchor>
          ) : null}
        </Group>
      </Stack>
      {j.state === "PENDING" ? (
        <Paper withBorder p="sm" role="status">
          <Text size="sm">
            {reasonText(j.reason)}
            {when ? ` It is ${when}.` : ""}
          </Text>
        </Paper>
      ) : null}
      {j.stop_requested ? (
        <Text size="sm" role="status">
          {j.stop_requested === "cancel" ? "Stopping: the job is being cancelled." : "Stopping: the job will run again."}
        </Text>
      ) : null}
      <JobActions job={j} />
      <JobDetails job={j} />
      <Provenance job={j} base={base} />
      {j.array ? <ArrayTasks job={j} /> : null}
      <Divider />
      <JobLog job={j} />
      <JobTimeline job={j} />
    </Stack>
  );
}
