// /{org}/{project}/files/<folder>: the project's files as folders, with uploads (drop anywhere on
// the page, or the picker), downloads, rename, delete, signed links, and storage against quota.
import { Anchor, Breadcrumbs, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type DragEvent } from "react";
import { Link, useParams } from "react-router";
import { fetchJson, type ListPage } from "../../api/client";
import { encodePath, projectApi, type FileInfo } from "../../api/data";
import { LoadMore, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { DeleteDialog, RenameDialog } from "./FileDialogs";
import { FileTable, type FileAction } from "./FileTable";
import { LinkDialog } from "./LinkDialog";
import { crumbs, folderPage, mergeEntries } from "./listing";
import { StorageBar } from "./StorageBar";
import { UploadPanel } from "./UploadPanel";
import { queueFor } from "./upload/queues";

const PAGE = 200;

export default function Files() {
  const { project, base } = useProject();
  const folder = (useParams()["*"] ?? "").replace(/\/+$/, "");
  const qc = useQueryClient();
  const queue = queueFor(project.id);
  const [overwrite, setOverwrite] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [action, setAction] = useState<FileAction | null>(null);

  useEffect(() => {
    queue.onFileDone = () => {
      void qc.invalidateQueries({ queryKey: ["files", project.id] });
      void qc.invalidateQueries({ queryKey: ["quota"] });
    };
  }, [queue, qc, project.id]);

  const q = useInfiniteQuery({
    queryKey: ["files", project.id, folder],
    initialPageParam: "",
    queryFn: async ({ pageParam }) => {
      const page = await fetchJson<ListPage<FileInfo>>(
        withQuery(`${projectApi(project.id)}/files`, { prefix: folder || undefined, limit: PAGE, after: pageParam || undefined }),
      );
      return folderPage(folder, page.items, page.next);
    },
    getNextPageParam: (last) => last.next ?? undefined,
  });
  const entries = mergeEntries(q.data?.pages.map((p) => p.entries) ?? []);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const files = Array.from(e.dataTransfer.files);
    if (files.length) queue.add(files, folder, overwrite);
  };

  return (
    <Stack
      gap="sm"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
      data-testid="files-drop"
      style={dragging ? { outline: "2px dashed var(--mantine-color-blue-filled)", outlineOffset: 4 } : undefined}
    >
      <Group justify="space-between" wrap="wrap">
        <Title order={2} size="h4">
          Files
        </Title>
        <Group gap="sm">
          <Anchor component={Link} to={`${base}/datasets`} size="sm">
            Datasets
          </Anchor>
          <Anchor component={Link} to={`${base}/links`} size="sm">
            Signed links
          </Anchor>
        </Group>
      </Group>
      <StorageBar orgId={project.org_id} />
      <Group gap="xs" wrap="wrap">
        <Text size="sm" c="dimmed">
          Jobs read files through datasets (mounted read-only at /data/&lt;name&gt;).
        </Text>
        <Anchor component={Link} to={`${base}/datasets`} size="sm">
          Make a dataset version from these files
        </Anchor>
      </Group>
      <nav aria-label="Folder">
      <Breadcrumbs separator="/">
        <Anchor component={Link} to={`${base}/files`}>
          {project.slug}
        </Anchor>
        {crumbs(folder).map((c) => (
          <Anchor key={c.path} component={Link} to={`${base}/files/${encodePath(c.path)}`}>
            {c.name}
          </Anchor>
        ))}
      </Breadcrumbs>
      </nav>
      <UploadPanel queue={queue} projectId={project.id} folder={folder} overwrite={overwrite} setOverwrite={setOverwrite} />
      {dragging ? (
        <Text size="sm" c="blue" role="status">
          Drop to upload into {folder || "the top folder"}
        </Text>
      ) : null}
      {q.isPending ? (
        <Loading label="Loading files" />
      ) : q.error ? (
        <ErrorAlert error={q.error} title="The files could not be listed" />
      ) : entries.length === 0 ? (
        <Paper withBorder p="md">
          <EmptyState title={folder ? "This folder is empty" : "No files yet"}>
            Drop files on this page or choose Upload files. Large files upload in pieces and resume after a reload.
          </EmptyState>
        </Paper>
      ) : (
        <FileTable entries={entries} base={base} projectId={project.id} onAction={setAction} />
      )}
      <LoadMore hasNextPage={q.hasNextPage} isFetchingNextPage={q.isFetchingNextPage} fetchNextPage={q.fetchNextPage} />
      {action?.kind === "rename" ? <RenameDialog projectId={project.id} file={action.file} onClose={() => setAction(null)} /> : null}
      {action?.kind === "delete" ? <DeleteDialog projectId={project.id} file={action.file} onClose={() => setAction(null)} /> : null}
      {action?.kind === "link" ? (
        <LinkDialog projectId={project.id} target={{ kind: "file", path: action.file.path }} onClose={() => setAction(null)} />
      ) : null}
    </Stack>
  );
}
