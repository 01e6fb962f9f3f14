// The latest commit at a ref (and path): subject, author, time and its id, linked to the commit.
import { Anchor, Code, Group, Paper, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { fetchJson, type ListPage } from "../../api/client";
import { codeKey, repoBase, shortId, when, type Commit } from "../../api/code";
import { withQuery } from "../../components/CursorList";
import { ErrorAlert } from "../../components/ErrorAlert";

export function CommitLine({ projectId, base, refName, path = "" }: { projectId: string; base: string; refName: string; path?: string }) {
  const q = useQuery({
    queryKey: codeKey(projectId, "log", refName, path, "latest"),
    queryFn: () =>
      fetchJson<ListPage<Commit>>(withQuery(`${repoBase(projectId)}/commits`, { ref: refName, path, limit: 1 })),
  });
  if (q.error) return <ErrorAlert error={q.error} title="The latest commit could not be loaded" />;
  const c = q.data?.items[0];
  if (!c) return null;
  return (
    <Paper withBorder p="xs">
      <Group gap="xs" wrap="wrap" justify="space-between">
        <Group gap="xs" wrap="wrap">
          <Text size="sm" fw={600}>
            {c.author.name}
          </Text>
          <Anchor component={Link} to={`${base}/commit/${c.id}`} size="sm">
            {c.subject || "(no message)"}
          </Anchor>
        </Group>
        <Group gap="xs">
          <Text size="xs">
            {when(c.author.time)}
          </Text>
          <Code>{shortId(c.id)}</Code>
        </Group>
      </Group>
    </Paper>
  );
}
