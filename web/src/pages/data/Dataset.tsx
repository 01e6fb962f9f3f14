// /{org}/{project}/datasets/<name>: a dataset's versions (newest first), a version's files, a new
// version from a folder, the diff between two versions, and signed links to a version.
import { Anchor, Breadcrumbs, Button, Group, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { fetchJson, type ListPage } from "../../api/client";
import { projectApi, type Dataset as DatasetT, type DatasetWithVersions } from "../../api/data";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { HeadRow } from "./bits";
import { formatBytes, formatTime } from "./format";
import { LinkDialog } from "./LinkDialog";
import { NewVersion } from "./NewVersion";
import { VersionDiff } from "./VersionDiff";
import { VersionFiles } from "./VersionFiles";
import { VersionProvenance } from "./VersionProvenance";

// The API names datasets by id; the page by name: page through the list (name order) to it.
async function findDataset(projectId: string, name: string): Promise<DatasetT> {
  let after = "";
  for (;;) {
    const q = new URLSearchParams({ limit: "200" });
    if (after) q.set("after", after);
    const page = await fetchJson<ListPage<DatasetT>>(`${projectApi(projectId)}/datasets?${q}`);
    const d = page.items.find((x) => x.name === name);
    if (d) return d;
    if (!page.next || (page.items.at(-1)?.name ?? "") > name) throw new Error(`There is no dataset named ${name}.`);
    after = page.next;
  }
}

export default function Dataset() {
  const { project, base } = useProject();
  const name = useParams().name ?? "";
  const [shown, setShown] = useState<number | null>(null);
  const [linkTo, setLinkTo] = useState<number | null>(null);
  const found = useQuery({ queryKey: ["dataset-by-name", project.id, name], queryFn: () => findDataset(project.id, name) });
  const id = found.data?.id;
  const q = useQuery({
    queryKey: ["dataset", id],
    enabled: !!id,
    queryFn: () => fetchJson<DatasetWithVersions>(`/api/v1/datasets/${encodeURIComponent(id!)}`),
  });
  const error = found.error ?? q.error;
  const d = q.data;
  const current = shown ?? d?.versions[0]?.version ?? null;
  return (
    <Stack gap="sm">
      <nav aria-label="Dataset">
      <Breadcrumbs>
        <Anchor component={Link} to={`${base}/datasets`}>
          Datasets
        </Anchor>
        <Text>{name}</Text>
      </Breadcrumbs>
      </nav>
      <Title order={2} size="h4">
        Dataset {name}
      </Title>
      {error ? <ErrorAlert error={error} title="This dataset could not be loaded" /> : null}
      {!error && !d ? <Loading label="Loading the dataset" /> : null}
      {d ? (
        <>
          {d.description ? <Text size="sm">{d.description}</Text> : null}
          <NewVersion datasetId={d.id} onMade={(v) => setShown(v.version)} />
          {d.versions.length === 0 ? (
            <Paper withBorder p="md">
              <EmptyState title="No versions yet">
                Give a folder above (or leave it empty for every file) and choose Make version.
              </EmptyState>
            </Paper>
          ) : (
            <Table.ScrollContainer minWidth={640}>
              <Table aria-label="Versions" verticalSpacing={4}>
                <HeadRow cols={["Version", "Files", "Size", "Made", "Made by", "Message", "Actions"]} />
                <Table.Tbody>
                  {d.versions.map((v) => (
                    <Table.Tr key={v.version} aria-current={v.version === current ? "true" : undefined}>
                      <Table.Td>{v.version}</Table.Td>
                      <Table.Td>{v.files}</Table.Td>
                      <Table.Td>{formatBytes(v.bytes)}</Table.Td>
                      <Table.Td>{formatTime(v.created)}</Table.Td>
                      <Table.Td>
                        <VersionProvenance provenance={v.provenance ?? {}} />
                      </Table.Td>
                      <Table.Td>{v.message}</Table.Td>
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          <Button size="compact-xs" variant="subtle" onClick={() => setShown(v.version)} aria-label={`Show the files of version ${v.version}`}>
                            Files
                          </Button>
                          <Button size="compact-xs" variant="subtle" onClick={() => setLinkTo(v.version)} aria-label={`Share version ${v.version}`}>
                            Link
                          </Button>
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
          {current ? <VersionFiles datasetId={d.id} version={current} /> : null}
          <Title order={3} size="h5">
            Compare versions
          </Title>
          <VersionDiff datasetId={d.id} versions={d.versions} />
          {linkTo ? (
            <LinkDialog
              projectId={project.id}
              target={{ kind: "version", datasetId: d.id, name: d.name, version: linkTo }}
              onClose={() => setLinkTo(null)}
            />
          ) : null}
        </>
      ) : null}
    </Stack>
  );
}
