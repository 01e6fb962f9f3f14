// Settings: archive or unarchive (owners, maintainers) and delete (owners) with a confirmation in
// which the user types the project's slug.
import { Alert, Button, Group, Modal, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError, fetchJson } from "../../../api/client";
import { projectApi, type Project } from "../../../api/projects";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { projectKey } from "../ProjectShell";

function DeleteDialog({ project, opened, onClose }: { project: Project; opened: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [typed, setTyped] = useState("");
  const del = useMutation({
    mutationFn: () => fetchJson(projectApi(project.id), { method: "DELETE", headers: { "If-Match": project.etag } }),
    onSuccess: () => {
      navigate("/", { replace: true });
      qc.removeQueries({ queryKey: ["project"] });
      void qc.invalidateQueries({ queryKey: ["projects"] });
      void qc.invalidateQueries({ queryKey: ["activity"] });
    },
  });
  const close = () => {
    setTyped("");
    del.reset();
    onClose();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (typed === project.slug) del.mutate();
  };
  const conflict = del.error instanceof ApiError && del.error.status === 412;
  return (
    <Modal
      opened={opened}
      onClose={close}
      title={`Delete ${project.name || project.slug}?`}
      centered
      closeButtonProps={{ "aria-label": "Close" }}
    >
      <form onSubmit={submit} aria-label="Delete the project">
        <Stack gap="sm">
          <Text size="sm">
            The project, its members and its settings are deleted for everyone. This cannot be undone.
          </Text>
          <TextInput
            label={`Type the project's slug, ${project.slug}, to confirm`}
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            autoCapitalize="none"
            autoComplete="off"
            data-autofocus
          />
          {conflict ? (
            <Alert color="orange" role="alert" title="The project changed meanwhile">
              Someone changed it since this page loaded. Close this dialog, reload the page and check it before
              deleting.
            </Alert>
          ) : (
            <ErrorAlert error={del.error} title="The project was not deleted" />
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" color="red" disabled={typed !== project.slug} loading={del.isPending}>
              Delete this project
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function DangerZone({
  project,
  org,
  canArchive,
  canDelete,
}: {
  project: Project;
  org: string;
  canArchive: boolean;
  canDelete: boolean;
}) {
  const qc = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const archive = useMutation({
    mutationFn: (archived: boolean) =>
      fetchJson<Project>(projectApi(project.id), {
        method: "PATCH",
        headers: { "If-Match": project.etag },
        body: JSON.stringify({ archived }),
      }),
    onSuccess: (p) => {
      qc.setQueryData(projectKey(org, project.slug), p);
      void qc.invalidateQueries({ queryKey: ["projects"] });
    },
  });
  if (!canArchive && !canDelete) return null;
  return (
    <Paper component="section" aria-labelledby="settings-danger" withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4" id="settings-danger">
          Archive or delete
        </Title>
        {canArchive ? (
          <Group justify="space-between" wrap="wrap">
            <Text size="sm" maw={480}>
              {project.archived
                ? "The project is archived: read-only, with its code, data and history kept. Unarchive it to work in it again."
                : "Archiving makes the project read-only and hides it from lists; everything in it is kept."}
            </Text>
            <Button variant="default" loading={archive.isPending} onClick={() => archive.mutate(!project.archived)}>
              {project.archived ? "Unarchive project" : "Archive project"}
            </Button>
          </Group>
        ) : null}
        <ErrorAlert error={archive.error} title={project.archived ? "Not unarchived" : "Not archived"} />
        {canDelete ? (
          <Group justify="space-between" wrap="wrap">
            <Text size="sm" maw={480}>
              Deleting removes the project for everyone.
            </Text>
            <Button color="red" variant="outline" onClick={() => setConfirming(true)}>
              Delete project
            </Button>
          </Group>
        ) : null}
      </Stack>
      <DeleteDialog project={project} opened={confirming} onClose={() => setConfirming(false)} />
    </Paper>
  );
}
