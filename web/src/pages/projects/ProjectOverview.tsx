// /{org}/{project}: the project's overview: how to clone it, its default branch and latest
// commit, and its README rendered as Markdown (an empty repository says how to push the first
// commit, or to write the README in the browser).
import { Anchor, Badge, Code, Group, Paper, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { useEffect } from "react";
import { Link } from "react-router";
import { useRepo, useTree } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { CopyButton } from "../../components/CopyButton";
import { Loading } from "../../components/Loading";
import { CommitLine } from "../code/CommitLine";
import { EmptyRepo } from "../code/EmptyRepo";
import { canWrite, codeUrl } from "../code/refs";
import { FolderReadme } from "../code/FolderReadme";
import { preloadMarkdown } from "../code/lazy";
import { useProject } from "./ProjectShell";

function CopyLine({ label, value }: { label: string; value: string }) {
  return (
    <Stack gap={2}>
      <Text size="sm" fw={600}>
        {label}
      </Text>
      <Group gap="xs" wrap="nowrap">
        <Code style={{ flex: 1, wordBreak: "break-all" }}>{value}</Code>
        <CopyButton value={value} label={`Copy the ${label.toLowerCase()}`} />
      </Group>
    </Stack>
  );
}

export default function ProjectOverview() {
  const { project, org, base } = useProject();
  useEffect(preloadMarkdown, []); // the renderer loads while the README's text is fetched
  const repo = useRepo(project.id);
  const head = repo.data?.default_branch ?? "";
  const root = useTree(project.id, head, "", !!repo.data && !repo.data.empty);
  const readme = root.data?.entries.find((e) => e.type === "file" && /^readme(\.(md|markdown|txt))?$/i.test(e.name));
  return (
    <Stack gap="md">
      {project.description ? <Text>{project.description}</Text> : null}
      {project.tags?.length ? (
        <Group gap={4}>
          {project.tags.map((t) => (
            <Badge key={t} variant="outline">
              {t}
            </Badge>
          ))}
        </Group>
      ) : null}
      {repo.isPending ? <Loading label="Loading the repository" /> : null}
      <ErrorAlert error={repo.error} title="The repository could not be loaded" />
      {repo.data ? (
        <Paper withBorder p="md" component="section" aria-labelledby="clone-title">
          <Stack gap="sm">
            <Title order={2} size="h4" id="clone-title">
              Repository
            </Title>
            <SimpleGrid cols={{ base: 1, md: 2 }} spacing="sm">
              <CopyLine label="Clone URL" value={repo.data.clone_url} />
              <CopyLine label="Clone with the CLI" value={`atrium repo clone ${org}/${project.slug}`} />
            </SimpleGrid>
            {!repo.data.empty ? (
              <Group gap="xs" wrap="wrap">
                <Text size="sm">Default branch</Text>
                <Anchor component={Link} to={codeUrl(base, "tree", head)} size="sm" fw={600}>
                  {head}
                </Anchor>
                <Anchor component={Link} to={`${base}/branches`} size="sm">
                  Branches and tags
                </Anchor>
                <Anchor component={Link} to={codeUrl(base, "commits", head)} size="sm">
                  History
                </Anchor>
              </Group>
            ) : null}
            {!repo.data.empty ? <CommitLine projectId={project.id} base={base} refName={head} /> : null}
          </Stack>
        </Paper>
      ) : null}
      {repo.data?.empty ? <EmptyRepo repo={repo.data} base={base} canWrite={canWrite(project.my_role)} /> : null}
      <ErrorAlert error={root.error} title="The repository's files could not be loaded" />
      {readme ? <FolderReadme projectId={project.id} base={base} refName={head} entry={readme} dir="" /> : null}
      {root.data && !readme ? (
        <Text size="sm">
          No README yet.{" "}
          {canWrite(project.my_role) ? (
            <Anchor component={Link} to={`${codeUrl(base, "new", head)}?name=README.md`}>
              Create README
            </Anchor>
          ) : null}
        </Text>
      ) : null}
    </Stack>
  );
}
