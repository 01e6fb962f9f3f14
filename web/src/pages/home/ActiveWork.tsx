// Home: my running and pending jobs and my active environments, with their states.
import { Anchor, Button, Text } from "@mantine/core";
import { Link } from "react-router";
import type { Env } from "../../api/envs";
import type { Job } from "../../api/jobs";
import { useCursorList } from "../../components/CursorList";
import { JobStateBadge } from "../jobs/JobStateBadge";
import { reasonText, startText } from "../jobs/reasons";
import { useJobEvents } from "../jobs/useJobEvents";
import { EnvStateBadge } from "../envs/EnvStateBadge";
import { isActive, mergeLive } from "../envs/envState";
import { useEnvEvents } from "../envs/useEnvEvents";
import { ListSection } from "./Section";

export const MY_ACTIVE_JOBS = "/api/v1/jobs?state=PENDING,RUNNING";
export const MY_ACTIVE_ENVS = "/api/v1/envs?active=true";

export function MyJobs() {
  // Under the jobs' key: the job event stream (useJobEvents) updates these rows as states change,
  // and refetches the list when one of my jobs it does not hold appears.
  const list = useCursorList<Job>(["jobs", "home", "active"], MY_ACTIVE_JOBS, 20);
  useJobEvents();
  return (
    <ListSection
      title="Running and pending jobs"
      list={list}
      rowKey={(j) => j.id}
      row={(j) => (
        <>
          <JobStateBadge state={j.state} held={j.held} />
          <Anchor component={Link} to={`/jobs/${j.id}`} style={{ overflowWrap: "anywhere" }}>
            {j.name || j.id}
          </Anchor>
          {j.state === "PENDING" ? (
            <Text size="sm" c="dimmed">
              {reasonText(j.reason)}
              {j.estimated_start && startText(j.estimated_start) ? ` It is ${startText(j.estimated_start)}.` : ""}
            </Text>
          ) : null}
        </>
      )}
      empty={{
        title: "No running or pending jobs",
        text: (
          <>
            Submit one from a project's <strong>Jobs</strong> tab; it shows here while it waits and runs.
          </>
        ),
      }}
    />
  );
}

export function MyEnvs() {
  const list = useCursorList<Env>(["envs", "home", "active"], MY_ACTIVE_ENVS, 20);
  // The environment event stream: listed ones take their newest state, new active ones come first.
  const live = useEnvEvents();
  const items = mergeLive(list.items, live.envs, isActive);
  return (
    <ListSection
      title="Active environments"
      list={{ ...list, items }}
      rowKey={(e) => e.id}
      row={(e) => (
        <>
          <EnvStateBadge state={e.state} reason={e.reason} showReason />
          <Text>{e.app}</Text>
          <Text size="sm" c="dimmed">
            {e.id}
          </Text>
          {e.state === "READY" ? (
            <Button
              component="a"
              href={e.url}
              target="_blank"
              rel="noopener"
              size="compact-xs"
              variant="default"
              aria-label={`Open ${e.app} ${e.id} in a new tab`}
            >
              Open
            </Button>
          ) : null}
        </>
      )}
      empty={{
        title: "No active environments",
        text: (
          <>
            Launch Jupyter or a terminal from a project's <strong>Environments</strong> tab.
          </>
        ),
      }}
    />
  );
}
