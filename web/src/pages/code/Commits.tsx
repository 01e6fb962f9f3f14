// /{org}/{project}/commits/<ref>?path=: the history at a ref (of one path when given), newest
// first, paged with the API's cursor.
import { Anchor, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { Link, useNavigate, useSearchParams } from "react-router";
import { repoBase, shortId, when, type Commit, codeKey } from "../../api/code";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { CodeHeader } from "./CodeHeader";
import { useCodeLocation } from "./location";
import { codeUrl } from "./refs";

const LOG_PAGE = 20;

export default function Commits() {
  const loc = useCodeLocation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const { project, base } = loc;
  // The whole splat is the ref here (the path is in ?path=).
  const ref = loc.ref && loc.path ? `${loc.ref}/${loc.path}` : loc.ref;
  const path = params.get("path") ?? "";
  const log = useCursorList<Commit>(
    codeKey(project.id, "log", ref, path),
    withQuery(`${repoBase(project.id)}/commits`, { ref, path }),
    LOG_PAGE,
    loc.ready && !loc.repo.data?.empty,
  );
  if (loc.error) return <ErrorAlert error={loc.error} title="The repository could not be loaded" />;
  if (!loc.ready) return <Loading />;
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        History of {path ? <Code>{path}</Code> : "the repository"} at {ref}
      </Title>
      <CodeHeader
        loc={{ ...loc, ref }}
        view="commits"
        onPick={(r) => navigate(withQuery(codeUrl(base, "commits", r), { path }))}
      >
        {path ? (
          <Anchor component={Link} size="sm" to={codeUrl(base, "commits", ref)}>
            Whole repository
          </Anchor>
        ) : null}
      </CodeHeader>
      {log.isPending && !loc.repo.data?.empty ? <Loading label="Loading the history" /> : null}
      <ErrorAlert error={log.error} title="The history could not be loaded" />
      {loc.repo.data?.empty || (log.isSuccess && log.items.length === 0) ? (
        <EmptyState title="No commits yet">Push a commit or create a file to start the history.</EmptyState>
      ) : null}
      <Stack gap={4} component="ol" style={{ listStyle: "none", padding: 0, margin: 0 }} aria-label="Commits">
        {log.items.map((c) => (
          <Paper key={c.id} withBorder p="xs" component="li">
            <Group justify="space-between" wrap="wrap" gap="xs">
              <Stack gap={0} style={{ minWidth: 0 }}>
                <Anchor component={Link} to={`${base}/commit/${c.id}`} fw={600} style={{ wordBreak: "break-word" }}>
                  {c.subject || "(no message)"}
                </Anchor>
                <Text size="xs">
                  {c.author.name} · {when(c.author.time)}
                </Text>
              </Stack>
              <Group gap="xs">
                <Code>{shortId(c.id)}</Code>
                <Anchor component={Link} size="xs" to={codeUrl(base, "tree", c.id)} aria-label={`Browse files at ${shortId(c.id)}`}>
                  Browse
                </Anchor>
              </Group>
            </Group>
          </Paper>
        ))}
      </Stack>
      <LoadMore hasNextPage={log.hasNextPage} isFetchingNextPage={log.isFetchingNextPage} fetchNextPage={log.fetchNextPage} />
    </Stack>
  );
}
