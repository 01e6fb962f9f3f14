// /{org}/{project}/images: the images jobs and environments of the project run on: their state
// (pending ones refresh until ready or failed), digest, source, the software they hold and size;
// the default one; pull, import and build forms; make default; delete with a confirmation.
import { Anchor, Badge, Button, Group, Paper, SegmentedControl, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import {
  buildJobOf,
  deleteImage,
  imageKeys,
  listAllImages,
  setDefaultImage,
  shortDigest,
  softwareWords,
  type Image,
} from "../../api/images";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyButton } from "../../components/CopyButton";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { HeadRow } from "../data/bits";
import { formatBytes } from "../data/format";
import { useProject } from "../projects/ProjectShell";
import { BuildForm, ImportForm, PullForm } from "./ImageForms";

const STATE_COLOR: Record<string, string> = { ready: "green", pending: "blue", failed: "red" };

export function ImageStateBadge({ state }: { state: string }) {
  return (
    <Badge color={STATE_COLOR[state] ?? "gray"} variant="dot">
      {state}
    </Badge>
  );
}

function DeleteImage({ projectId, image, onClose }: { projectId: string; image: Image; onClose: () => void }) {
  const qc = useQueryClient();
  return (
    <ConfirmDialog
      title={`Delete the image ${image.name}?`}
      confirm={`Delete ${image.name}`}
      failed="The image was not deleted"
      action={async () => {
        await deleteImage(image);
        await qc.invalidateQueries({ queryKey: imageKeys.project(projectId) });
      }}
      onClose={onClose}
    >
      Jobs can no longer name it. Jobs that ran on it keep its digest in their records; its files go once no other image
      names the same digest and no job uses it.
      {image.default ? " It is the project's default: new jobs will run on the host system." : ""}
    </ConfirmDialog>
  );
}

function ImageRow({ im, projectId, readOnly, onDelete }: { im: Image; projectId: string; readOnly: boolean; onDelete: (i: Image) => void }) {
  const qc = useQueryClient();
  const makeDefault = useMutation({
    mutationFn: (to: string | null) => setDefaultImage(projectId, to),
    onSuccess: () => qc.invalidateQueries({ queryKey: imageKeys.project(projectId) }),
  });
  const job = buildJobOf(im);
  return (
    <Table.Tr>
      <Table.Td>
        <Group gap={6} wrap="wrap">
          <Text fw={600} size="sm">
            {im.name}
          </Text>
          {im.default ? <Badge variant="filled">default</Badge> : null}
          {im.project_id === null ? <Badge variant="default">org-wide</Badge> : null}
        </Group>
        <Text size="xs" c="dimmed" style={{ overflowWrap: "anywhere" }}>
          {im.source}
        </Text>
      </Table.Td>
      <Table.Td>
        <ImageStateBadge state={im.state} />
        {im.state === "failed" && im.error ? (
          <Text size="xs" c="red.8" style={{ overflowWrap: "anywhere" }}>
            {im.error}
          </Text>
        ) : null}
        {job ? (
          <Anchor component={Link} to={`/jobs/${job}`} size="xs" display="block">
            build log
          </Anchor>
        ) : null}
      </Table.Td>
      <Table.Td>
        {im.digest ? (
          <Group gap={4} wrap="nowrap">
            <Tooltip label={im.digest}>
              <Text size="sm" className="mono">
                {shortDigest(im.digest)}
              </Text>
            </Tooltip>
            <CopyButton value={im.digest} label="Copy digest" />
          </Group>
        ) : (
          "—"
        )}
      </Table.Td>
      <Table.Td>{softwareWords(im.software) || "—"}</Table.Td>
      <Table.Td style={{ whiteSpace: "nowrap" }}>{im.state === "ready" ? formatBytes(im.size_bytes) : "—"}</Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          {im.default ? (
            <Button size="compact-xs" variant="subtle" disabled={readOnly} loading={makeDefault.isPending} onClick={() => makeDefault.mutate(null)} aria-label={`Stop using ${im.name} by default`}>
              Unset default
            </Button>
          ) : (
            <Button
              size="compact-xs"
              variant="subtle"
              disabled={readOnly || im.state !== "ready"}
              loading={makeDefault.isPending}
              onClick={() => makeDefault.mutate(im.digest ? `${im.name}@${im.digest}` : im.name)}
              aria-label={`Make ${im.name} the default`}
            >
              Make default
            </Button>
          )}
          {im.project_id !== null ? (
            <Button size="compact-xs" variant="subtle" color="red" disabled={readOnly} onClick={() => onDelete(im)} aria-label={`Delete ${im.name}`}>
              Delete
            </Button>
          ) : null}
        </Group>
        <ErrorAlert error={makeDefault.error} title="The default was not changed" />
      </Table.Td>
    </Table.Tr>
  );
}

export default function Images() {
  const { project } = useProject();
  const [how, setHow] = useState<"pull" | "import" | "build">("pull");
  const [deleting, setDeleting] = useState<Image | null>(null);
  const list = useQuery({
    queryKey: imageKeys.project(project.id),
    queryFn: () => listAllImages(project.id),
    // Pending pulls, imports and builds: asked again until each is ready or failed.
    refetchInterval: (q) => (q.state.data?.some((i) => i.state === "pending") ? 1500 : false),
  });
  const images = list.data ?? [];
  const def = images.find((i) => i.default);
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        Images
      </Title>
      <Text size="sm" c="dimmed">
        An image is the software jobs and environments run on, mounted read-only as /. Each is pinned by its digest: a
        dataset version made by a job names the exact image that made it.{" "}
        {def ? (
          <>
            Jobs that name none run on <strong>{def.name}</strong>.
          </>
        ) : (
          "Jobs that name none run on the host system."
        )}
      </Text>
      {!project.archived ? (
        <Paper withBorder p="sm">
          <Stack gap="xs">
            <SegmentedControl
              aria-label="Add an image"
              value={how}
              onChange={(v) => setHow(v as typeof how)}
              data={[
                { value: "pull", label: "Pull from a registry" },
                { value: "import", label: "Import a file" },
                { value: "build", label: "Build from a spec" },
              ]}
              style={{ alignSelf: "flex-start" }}
            />
            {how === "pull" ? <PullForm projectId={project.id} /> : how === "import" ? <ImportForm projectId={project.id} /> : <BuildForm projectId={project.id} />}
          </Stack>
        </Paper>
      ) : null}
      {list.isPending ? <Loading label="Loading images" /> : null}
      <ErrorAlert error={list.error} title="The images could not be listed" />
      {list.isSuccess && images.length === 0 ? (
        <Paper withBorder p="md">
          <EmptyState title="No images yet">Pull one from a registry, import a .sif file, or build one from a spec in the repository.</EmptyState>
        </Paper>
      ) : null}
      {images.length ? (
        <Table.ScrollContainer minWidth={760} type="native" tabIndex={0} role="region" aria-label="Images table, scrolls sideways">
          <Table aria-label="Images" verticalSpacing={4}>
            <HeadRow cols={["Name · source", "State", "Digest", "Software", "Size", "Actions"]} />
            <Table.Tbody>
              {images.map((im) => (
                <ImageRow key={im.id} im={im} projectId={project.id} readOnly={project.archived} onDelete={setDeleting} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      {deleting ? <DeleteImage projectId={project.id} image={deleting} onClose={() => setDeleting(null)} /> : null}
    </Stack>
  );
}
