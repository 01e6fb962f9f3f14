// Home: recent activity in my projects and my own actions (GET /api/v1/me/activity), newest first.
import { Anchor, Text } from "@mantine/core";
import { Link } from "react-router";
import { activityText, projectPath, type ActivityEvent } from "../../api/projects";
import { useCursorList } from "../../components/CursorList";
import { ListSection } from "./Section";

export const ACTIVITY_KEY = ["activity", "mine"] as const;

function When({ time }: { time: string }) {
  const d = new Date(time);
  return (
    <Text component="time" dateTime={time} size="xs" c="dimmed">
      {Number.isNaN(d.getTime()) ? time : d.toLocaleString()}
    </Text>
  );
}

export function Activity() {
  const list = useCursorList<ActivityEvent>(ACTIVITY_KEY, "/api/v1/me/activity", 20);
  return (
    <ListSection
      title="Recent activity"
      list={list}
      rowKey={(e) => e.seq}
      row={(e) => (
        <>
          <Text size="sm" fw={600}>
            {e.actor ?? "Atrium"}
          </Text>
          <Text size="sm">{activityText(e)}</Text>
          {e.project ? (
            <Anchor size="sm" component={Link} to={projectPath(e.project)}>
              {e.project.org_slug ?? ""}/{e.project.slug}
            </Anchor>
          ) : null}
          <When time={e.time} />
        </>
      )}
      empty={{
        title: "Nothing has happened yet",
        text: "What you and your projects' members do (new projects, members, jobs, pushes, uploads) shows here.",
      }}
    />
  );
}
