// A set of secrets (the user's own or a project's): their names, descriptions and when they
// changed; add one (its value in a password field, sent once and never shown again), replace a
// value, delete one. The API never answers a value, so neither does this page.
import { Button, Group, Modal, PasswordInput, Stack, Table, Text, TextInput } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "../../api/client";
import { checkSecretName, deleteSecret, listAllSecrets, putSecret, secretKeys, type Secret } from "../../api/secrets";
import { EmptyState } from "../../components/EmptyState";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { HeadRow, InlineForm } from "../data/bits";
import { formatTime } from "../data/format";

function fieldError(e: unknown, field: string): string | null {
  return e instanceof ApiError && e.problem.field === field ? e.message : null;
}

function AddSecret({ path, readOnly }: { path: string; readOnly: boolean }) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [description, setDescription] = useState("");
  const [saved, setSaved] = useState<string | null>(null);
  const nameErr = name ? checkSecretName(name) : undefined;
  const m = useMutation({
    mutationFn: () => putSecret(path, name, { value, description }),
    onSuccess: async (s) => {
      setSaved(s.name);
      setName("");
      setValue("");
      setDescription("");
      await qc.invalidateQueries({ queryKey: ["secrets"] });
    },
  });
  const serverName = fieldError(m.error, "name") ?? (m.error instanceof ApiError && m.error.status === 412 ? "A secret of this name exists: replace it below" : null);
  const serverValue = fieldError(m.error, "value");
  const other = m.error && !serverName && !serverValue ? m.error : null;
  return (
    <InlineForm
      onSubmit={() => {
        setSaved(null);
        m.mutate();
      }}
      footer={
        <>
          {other ? <ErrorAlert error={other} title="The secret was not saved" /> : null}
          {saved ? (
            <Text size="sm" role="status" mt="xs">
              Saved {saved}. Its value is not shown again.
            </Text>
          ) : null}
        </>
      }
    >
      <TextInput
        label="Name"
        description="an environment variable's name: HF_TOKEN"
        value={name}
        onChange={(e) => setName(e.currentTarget.value.toUpperCase())}
        error={nameErr ?? serverName}
        required
        disabled={readOnly}
        autoComplete="off"
      />
      <PasswordInput
        label="Value"
        description="sent once; never shown again"
        value={value}
        onChange={(e) => setValue(e.currentTarget.value)}
        error={serverValue}
        required
        disabled={readOnly}
        autoComplete="new-password"
        style={{ minWidth: 200 }}
      />
      <TextInput
        label="Description"
        description="optional: what it is for"
        value={description}
        onChange={(e) => setDescription(e.currentTarget.value)}
        disabled={readOnly}
        style={{ flex: 1, minWidth: 180 }}
      />
      <Button type="submit" loading={m.isPending} disabled={readOnly || !name || !!nameErr || !value}>
        Add secret
      </Button>
    </InlineForm>
  );
}

function ReplaceDialog({ path, secret, onClose }: { path: string; secret: Secret; onClose: () => void }) {
  const qc = useQueryClient();
  const [value, setValue] = useState("");
  const [description, setDescription] = useState(secret.description);
  const m = useMutation({
    mutationFn: () => putSecret(path, secret.name, { value, description }, secret.etag),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["secrets"] });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={`Replace ${secret.name}`}>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <PasswordInput
            label="New value"
            description="replaces the old value, which is not shown"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            error={fieldError(m.error, "value")}
            required
            data-autofocus
            autoComplete="new-password"
          />
          <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          {m.error && !fieldError(m.error, "value") ? <ErrorAlert error={m.error} title="The secret was not replaced" /> : null}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={m.isPending} disabled={!value}>
              Replace
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function DeleteDialog({ path, secret, onClose }: { path: string; secret: Secret; onClose: () => void }) {
  const qc = useQueryClient();
  return (
    <ConfirmDialog
      title={`Delete ${secret.name}?`}
      confirm={`Delete ${secret.name}`}
      failed="The secret was not deleted"
      action={async () => {
        await deleteSecret(path, secret);
        await qc.invalidateQueries({ queryKey: ["secrets"] });
      }}
      onClose={onClose}
    >
      Jobs and environments that ask for {secret.name} will no longer start until it is set again.
    </ConfirmDialog>
  );
}

export function SecretsPanel({ path, readOnly = false, note }: { path: string; readOnly?: boolean; note: ReactNode }) {
  const list = useQuery({ queryKey: secretKeys.at(path), queryFn: () => listAllSecrets(path) });
  const [replacing, setReplacing] = useState<Secret | null>(null);
  const [deleting, setDeleting] = useState<Secret | null>(null);
  return (
    <Stack gap="sm">
      <Text size="sm" c="dimmed">
        {note}
      </Text>
      <AddSecret path={path} readOnly={readOnly} />
      {list.isPending ? <Loading label="Loading secrets" /> : null}
      <ErrorAlert error={list.error} title="The secrets could not be listed" />
      {list.data && list.data.length === 0 ? (
        <EmptyState title="No secrets yet">Add one above; jobs and environments ask for it by name.</EmptyState>
      ) : null}
      {list.data && list.data.length > 0 ? (
        <Table.ScrollContainer minWidth={520}>
          <Table aria-label="Secrets" verticalSpacing={4}>
            <HeadRow cols={["Name", "Description", "Updated", "Actions"]} />
            <Table.Tbody>
              {list.data.map((s) => (
                <Table.Tr key={s.name}>
                  <Table.Td className="mono">{s.name}</Table.Td>
                  <Table.Td>{s.description}</Table.Td>
                  <Table.Td>{formatTime(s.updated_at)}</Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Button size="compact-xs" variant="subtle" disabled={readOnly} onClick={() => setReplacing(s)} aria-label={`Replace ${s.name}`}>
                        Replace
                      </Button>
                      <Button size="compact-xs" variant="subtle" color="red" disabled={readOnly} onClick={() => setDeleting(s)} aria-label={`Delete ${s.name}`}>
                        Delete
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      {replacing ? <ReplaceDialog path={path} secret={replacing} onClose={() => setReplacing(null)} /> : null}
      {deleting ? <DeleteDialog path={path} secret={deleting} onClose={() => setDeleting(null)} /> : null}
    </Stack>
  );
}
