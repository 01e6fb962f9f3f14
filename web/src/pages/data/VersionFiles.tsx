// The files of one dataset version (its manifest), paged with the cursor, each downloadable.
import { Anchor, Stack, Table, Title } from "@mantine/core";
import type { ManifestEntry } from "../../api/data";
import { encodePath } from "../../api/data";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { formatBytes } from "./format";

export function VersionFiles({ datasetId, version }: { datasetId: string; version: number }) {
  const path = `/api/v1/datasets/${encodeURIComponent(datasetId)}/versions/${version}/files`;
  const list = useCursorList<ManifestEntry>(["dataset-files", datasetId, version], path, 200);
  return (
    <Stack gap="xs">
      <Title order={3} size="h5">
        Files of version {version}
      </Title>
      {list.isPending ? <Loading label="Loading the version's files" /> : null}
      <ErrorAlert error={list.error} title="The version's files could not be listed" />
      {list.items.length ? (
        <Table aria-label={`Files of version ${version}`} verticalSpacing={2}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Path</Table.Th>
              <Table.Th ta="right">Size</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.items.map((e) => (
              <Table.Tr key={e.path}>
                <Table.Td style={{ wordBreak: "break-all" }}>
                  <Anchor href={`${path}/${encodePath(e.path)}`} download aria-label={`Download ${e.path} of version ${version}`}>
                    {e.path}
                  </Anchor>
                </Table.Td>
                <Table.Td ta="right">{formatBytes(e.size)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
    </Stack>
  );
}
