// /{org}/{project}/commit/<sha>: one commit: its message, author, parents, and its changes
// against its first parent (a root commit: all added) as a diff view.
import { Anchor, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { Link, useParams } from "react-router";
import { shortId, useCommit, useCommitDiff, when } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { DiffView } from "./DiffView";
import { codeUrl } from "./refs";

export default function CommitPage() {
  const { project, base } = useProject();
  const sha = useParams().sha ?? "";
  const c = useCommit(project.id, sha);
  const diff = useCommitDiff(project.id, c.data?.id ?? "", !!c.data);
  if (c.isPending) return <Loading label="Loading the commit" />;
  if (c.error) return <ErrorAlert error={c.error} title="This commit could not be loaded" />;
  const d = c.data;
  const body = d.message.slice(d.subject.length).trim();
  return (
    <Stack gap="sm">
      <Title order={2} size="h4" style={{ wordBreak: "break-word" }}>
        {d.subject || "(no message)"}
      </Title>
      <Paper withBorder p="sm">
        <Stack gap={6}>
          {body ? (
            <Text component="pre" size="sm" m={0} style={{ whiteSpace: "pre-wrap" }}>
              {body}
            </Text>
          ) : null}
          <Text size="sm">
            {d.author.name} &lt;{d.author.email}&gt; wrote this on {when(d.author.time)}
            {d.committer.name !== d.author.name ? `; ${d.committer.name} committed it on ${when(d.committer.time)}` : ""}
          </Text>
          <Group gap="xs" wrap="wrap">
            <Text size="sm">Commit</Text>
            <Code>{d.id}</Code>
            <Anchor component={Link} size="sm" to={codeUrl(base, "tree", d.id)}>
              Browse files
            </Anchor>
          </Group>
          <Group gap="xs" wrap="wrap">
            <Text size="sm">{d.parents.length === 1 ? "Parent" : d.parents.length ? "Parents" : "No parent: the first commit"}</Text>
            {d.parents.map((p) => (
              <Anchor key={p} component={Link} to={`${base}/commit/${p}`} size="sm" aria-label={`Parent commit ${shortId(p)}`}>
                <Code>{shortId(p)}</Code>
              </Anchor>
            ))}
          </Group>
        </Stack>
      </Paper>
      {d.parents.length === 0 ? <Text size="sm">The repository's first commit: everything in it is new.</Text> : null}
      {diff.isPending ? <Loading label="Loading the changes" /> : null}
      <ErrorAlert error={diff.error} title="The changes could not be loaded" />
      {diff.data ? <DiffView diff={diff.data} /> : null}
    </Stack>
  );
}
