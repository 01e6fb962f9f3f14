// Rename (move) and delete of one file, each in a dialog that says what it will do and shows the
// API's refusal next to the field that caused it.
import { Button, Checkbox, Group, Modal, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../../api/client";
import { fileUrl, projectApi, type FileInfo } from "../../api/data";
import { ApiError } from "../../api/problem";
import { ErrorAlert } from "../../components/ErrorAlert";

function useFilesChanged(projectId: string) {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: ["files", projectId] }),
      qc.invalidateQueries({ queryKey: ["quota"] }),
    ]);
}

export function RenameDialog({ projectId, file, onClose }: { projectId: string; file: FileInfo; onClose: () => void }) {
  const [to, setTo] = useState(file.path);
  const [overwrite, setOverwrite] = useState(false);
  const changed = useFilesChanged(projectId);
  const m = useMutation({
    mutationFn: () =>
      fetchJson<FileInfo>(`${projectApi(projectId)}/files-move`, {
        method: "POST",
        body: JSON.stringify({ from: file.path, to: to.trim(), overwrite }),
        headers: { "If-Match": file.etag },
      }),
    onSuccess: async () => {
      await changed();
      onClose();
    },
  });
  const fieldError = m.error instanceof ApiError && m.error.problem.field === "to" ? m.error.message : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={`Rename or move ${file.path}`}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <TextInput
            label="New path"
            description="Folders are part of the path: results/run1.csv"
            value={to}
            onChange={(e) => setTo(e.currentTarget.value)}
            error={fieldError}
            data-autofocus
            required
          />
          <Checkbox label="Replace a file already at that path" checked={overwrite} onChange={(e) => setOverwrite(e.currentTarget.checked)} />
          {m.error && !fieldError ? <ErrorAlert error={m.error} title="The file was not renamed" /> : null}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={m.isPending} disabled={!to.trim() || to.trim() === file.path}>
              Rename
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function DeleteDialog({ projectId, file, onClose }: { projectId: string; file: FileInfo; onClose: () => void }) {
  const changed = useFilesChanged(projectId);
  const m = useMutation({
    mutationFn: () => fetchJson<void>(fileUrl(projectId, file.path), { method: "DELETE", headers: { "If-Match": file.etag } }),
    onSuccess: async () => {
      await changed();
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={`Delete ${file.path}?`}>
      <Stack gap="sm">
        <Text size="sm">
          The file is removed from the project. Dataset versions that hold it and signed links made to it keep their
          copy.
        </Text>
        <ErrorAlert error={m.error} title="The file was not deleted" />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose} data-autofocus>
            Cancel
          </Button>
          <Button color="red" loading={m.isPending} onClick={() => m.mutate()}>
            Delete
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
