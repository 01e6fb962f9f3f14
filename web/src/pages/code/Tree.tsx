// /{org}/{project}/tree/<ref>/<path>: a folder of the repository at a ref: folders first, sizes,
// the latest commit that touched it, and its README below.
import { Anchor, Button, Stack, Table, Text, Title } from "@mantine/core";
import { Link, useNavigate } from "react-router";
import { formatSize, useTree } from "../../api/code";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { CodeHeader } from "./CodeHeader";
import { CommitLine } from "./CommitLine";
import { EmptyRepo } from "./EmptyRepo";
import { FolderReadme } from "./FolderReadme";
import { useCodeLocation } from "./location";
import { canWrite, codeUrl, sortEntries } from "./refs";

export default function Tree() {
  const loc = useCodeLocation();
  const navigate = useNavigate();
  const { project, base, ref, path } = loc;
  const tree = useTree(project.id, ref, path, loc.ready && !loc.repo.data?.empty);
  const readme = tree.data?.entries.find((e) => e.type === "file" && /^readme(\.(md|markdown|txt))?$/i.test(e.name));
  if (loc.error) return <ErrorAlert error={loc.error} title="The repository could not be loaded" />;
  if (!loc.ready) return <Loading />;
  if (loc.repo.data?.empty)
    return <EmptyRepo repo={loc.repo.data} base={base} canWrite={canWrite(project.my_role)} />;
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        Code
      </Title>
      <CodeHeader loc={loc} view="tree" onPick={(r) => navigate(codeUrl(base, "tree", r, path))}>
        {loc.isBranch && canWrite(project.my_role) ? (
          <Button component={Link} to={codeUrl(base, "new", ref, path)} size="xs" variant="default">
            New file
          </Button>
        ) : null}
      </CodeHeader>
      <CommitLine projectId={project.id} base={base} refName={ref} path={path} />
      {tree.isPending ? <Loading label="Loading the folder" /> : null}
      <ErrorAlert error={tree.error} title="This folder could not be loaded" />
      {tree.data && tree.data.entries.length === 0 ? <EmptyState title="This folder is empty" /> : null}
      {tree.data && tree.data.entries.length > 0 ? (
        <Table striped highlightOnHover aria-label={`Files in ${path || "the repository's root"}`}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Kind</Table.Th>
              <Table.Th ta="right">Size</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {sortEntries(tree.data.entries).map((e) => (
              <Table.Tr key={e.path}>
                <Table.Td style={{ wordBreak: "break-all" }}>
                  {e.type === "dir" || e.type === "file" || e.type === "symlink" ? (
                    <Anchor component={Link} to={codeUrl(base, e.type === "dir" ? "tree" : "blob", ref, e.path)}>
                      {e.type === "dir" ? `${e.name}/` : e.name}
                    </Anchor>
                  ) : (
                    <Text span>{e.name}</Text>
                  )}
                </Table.Td>
                <Table.Td>{e.type === "dir" ? "folder" : e.type}</Table.Td>
                <Table.Td ta="right">{e.type === "file" ? formatSize(e.size) : ""}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
      {readme ? <FolderReadme projectId={project.id} base={base} refName={ref} entry={readme} dir={path} /> : null}
    </Stack>
  );
}
