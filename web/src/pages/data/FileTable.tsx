// The entries of one folder: sub-folders (links), then files with size, modified time and
// actions (download, signed link, rename, delete).
import { Anchor, Button, Group, Table, Text, VisuallyHidden } from "@mantine/core";
import { Link } from "react-router";
import { encodePath, fileUrl, type FileInfo } from "../../api/data";
import { formatBytes, formatTime } from "./format";
import type { Entry } from "./listing";

export type FileAction = { kind: "rename" | "delete" | "link"; file: FileInfo };

export function FileTable({
  entries,
  base,
  projectId,
  onAction,
}: {
  entries: Entry[];
  base: string;
  projectId: string;
  onAction: (a: FileAction) => void;
}) {
  return (
    <Table.ScrollContainer minWidth={560}>
      <Table verticalSpacing={4} highlightOnHover aria-label="Files">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th>Modified</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {entries.map((e) =>
            e.kind === "folder" ? (
              <Table.Tr key={`d:${e.path}`}>
                <Table.Td colSpan={4}>
                  <Anchor component={Link} to={`${base}/files/${encodePath(e.path)}`} aria-label={`Folder ${e.name}`}>
                    <span aria-hidden="true">📁 </span>
                    {e.name}/
                  </Anchor>
                </Table.Td>
              </Table.Tr>
            ) : (
              <Table.Tr key={`f:${e.path}`}>
                <Table.Td>
                  <Text size="sm" style={{ wordBreak: "break-all" }}>
                    {e.name}
                  </Text>
                </Table.Td>
                <Table.Td ta="right" style={{ whiteSpace: "nowrap" }}>
                  {formatBytes(e.file.size)}
                </Table.Td>
                <Table.Td style={{ whiteSpace: "nowrap" }}>
                  <Text size="sm">{formatTime(e.file.updated)}</Text>
                </Table.Td>
                <Table.Td>
                  <Group gap={4} wrap="nowrap" justify="flex-end">
                    <Button
                      component="a"
                      href={fileUrl(projectId, e.path)}
                      download={e.name}
                      size="compact-xs"
                      variant="subtle"
                      aria-label={`Download ${e.name}`}
                    >
                      Download
                    </Button>
                    <Button size="compact-xs" variant="subtle" onClick={() => onAction({ kind: "link", file: e.file })} aria-label={`Share ${e.name}`}>
                      Link
                    </Button>
                    <Button size="compact-xs" variant="subtle" onClick={() => onAction({ kind: "rename", file: e.file })} aria-label={`Rename ${e.name}`}>
                      Rename
                    </Button>
                    <Button size="compact-xs" variant="subtle" color="red" onClick={() => onAction({ kind: "delete", file: e.file })} aria-label={`Delete ${e.name}`}>
                      Delete
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ),
          )}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
