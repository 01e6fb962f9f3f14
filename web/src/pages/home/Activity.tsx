// Home: recent activity in my projects and my own actions (GET /api/v1/me/activity), newest first.
import { Anchor, Group, Stack, Text } from "@mantine/core";
import { Link } from "react-router";
import { activityText, projectPath, type ActivityEvent } from "../../api/projects";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { Section } from "./Section";

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
    <Section title="Recent activity" pending={list.isPending} error={list.error}>
      {list.items.length ? (
        <Stack gap={6} component="ul" aria-label="Recent activity" style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {list.items.map((e) => (
            <li key={e.seq}>
              <Group gap={6} wrap="wrap">
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
              </Group>
            </li>
          ))}
          <LoadMore {...list} />
        </Stack>
      ) : (
        <EmptyState title="Nothing has happened yet">
          What you and your projects' members do (new projects, members, jobs, pushes, uploads) shows here.
        </EmptyState>
      )}
    </Section>
  );
}
