// /{org}/{project}/branches: the repository's branches (protected ones marked) and tags, each
// paged with the API's cursor.
import { Anchor, Badge, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";
import { codeKey, repoBase, shortId, when, type Branch, type Tag } from "../../api/code";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { codeUrl } from "./refs";

function RefList<T extends Branch | Tag>({ kind, title }: { kind: "branches" | "tags"; title: string }) {
  const { project, base } = useProject();
  const list = useCursorList<T>(codeKey(project.id, kind, "page"), `${repoBase(project.id)}/${kind}`, 50);
  return (
    <Stack gap="xs" component="section" aria-label={title}>
      <Title order={2} size="h4">
        {title}
      </Title>
      {list.isPending ? <Loading label={`Loading ${kind}`} /> : null}
      <ErrorAlert error={list.error} title={`The ${kind} could not be loaded`} />
      {list.isSuccess && list.items.length === 0 ? (
        <EmptyState title={`No ${kind}`}>
          {kind === "branches" ? "Push a commit to make the first branch." : "Tag a commit with git tag and push it."}
        </EmptyState>
      ) : null}
      {list.items.map((r) => (
        <Paper key={r.name} withBorder p="xs">
          <Group justify="space-between" wrap="wrap" gap="xs">
            <Group gap="xs" wrap="wrap">
              <Anchor component={Link} to={codeUrl(base, "tree", r.name)} fw={600}>
                {r.name}
              </Anchor>
              {"protected" in r && r.protected ? (
                <Badge color="blue" variant="filled">
                  protected
                </Badge>
              ) : null}
            </Group>
            <Group gap="xs" wrap="wrap">
              <Text size="sm" style={{ wordBreak: "break-word" }}>
                {r.subject}
              </Text>
              <Anchor component={Link} to={`${base}/commit/${r.commit}`} aria-label={`Commit ${shortId(r.commit)} of ${r.name}`}>
                <Code>{shortId(r.commit)}</Code>
              </Anchor>
              <Text size="xs">{when(r.time)}</Text>
              <Anchor component={Link} size="xs" to={codeUrl(base, "commits", r.name)} aria-label={`History of ${r.name}`}>
                History
              </Anchor>
            </Group>
          </Group>
        </Paper>
      ))}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
    </Stack>
  );
}

export default function Branches() {
  return (
    <Stack gap="lg">
      <RefList<Branch> kind="branches" title="Branches" />
      <RefList<Tag> kind="tags" title="Tags" />
    </Stack>
  );
}
