// Settings: the project's members and their roles (GET/POST/PATCH/DELETE
// /api/v1/projects/{id}/members). Owners (and org admins) add by username, change roles and remove;
// everyone else reads the list. Each error is shown at the row or field it concerns.
import { Button, Group, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, fetchJson } from "../../../api/client";
import { problemField, projectApi, PROJECT_ROLES, type Project, type ProjectMember, type ProjectRole } from "../../../api/projects";
import { LoadMore, useCursorList } from "../../../components/CursorList";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { Loading } from "../../../components/Loading";

const ROLE_DATA = PROJECT_ROLES.map((r) => ({ value: r, label: r }));

export function membersKey(projectId: string) {
  return ["project-members", projectId] as const;
}

function AddMember({ project }: { project: Project }) {
  const qc = useQueryClient();
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<ProjectRole>("member");
  const add = useMutation({
    mutationFn: () =>
      fetchJson<ProjectMember>(`${projectApi(project.id)}/members`, {
        method: "POST",
        body: JSON.stringify({ username: username.trim(), role }),
      }),
    onSuccess: () => {
      setUsername("");
      void qc.invalidateQueries({ queryKey: membersKey(project.id) });
    },
  });
  const err = add.error instanceof ApiError ? add.error : null;
  const field = problemField(err?.problem);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (username.trim()) add.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Add a member">
      <Group align="flex-end" gap="xs" wrap="wrap">
        <TextInput
          label="Username"
          description="A member of the project's organisation"
          value={username}
          onChange={(e) => {
            setUsername(e.currentTarget.value);
            if (add.error) add.reset();
          }}
          error={field === "username" || field === "user_id" ? err?.message : null}
          autoCapitalize="none"
          style={{ flex: "1 1 12rem" }}
        />
        <Select
          label="Role"
          data={ROLE_DATA}
          value={role}
          onChange={(v) => v && setRole(v as ProjectRole)}
          allowDeselect={false}
          error={field === "role" ? err?.message : null}
          style={{ flex: "0 1 10rem" }}
        />
        <Button type="submit" loading={add.isPending} disabled={!username.trim()}>
          Add member
        </Button>
      </Group>
      {add.error && !(field === "username" || field === "user_id" || field === "role") ? (
        <ErrorAlert error={add.error} title="The member was not added" />
      ) : null}
    </form>
  );
}

function MemberRow({ project, m, manage }: { project: Project; m: ProjectMember; manage: boolean }) {
  const qc = useQueryClient();
  const who = m.username ?? m.user_id;
  const path = `${projectApi(project.id)}/members/${encodeURIComponent(m.user_id)}`;
  const done = () => qc.invalidateQueries({ queryKey: membersKey(project.id) });
  const change = useMutation({
    mutationFn: (role: string) =>
      fetchJson(path, { method: "PATCH", headers: { "If-Match": m.etag }, body: JSON.stringify({ role }) }),
    onSettled: done,
  });
  const remove = useMutation({
    mutationFn: () => fetchJson(path, { method: "DELETE", headers: { "If-Match": m.etag } }),
    onSettled: done,
  });
  const error = change.error ?? remove.error;
  return (
    <Table.Tr>
      <Table.Td style={{ overflowWrap: "anywhere" }}>{who}</Table.Td>
      <Table.Td>
        {manage ? (
          <Select
            aria-label={`Role of ${who}`}
            data={ROLE_DATA}
            value={m.role}
            onChange={(v) => v && v !== m.role && change.mutate(v)}
            allowDeselect={false}
            disabled={change.isPending}
            size="xs"
            w={140}
          />
        ) : (
          m.role
        )}
        {error ? <ErrorAlert error={error} title={`${who}: not changed`} /> : null}
      </Table.Td>
      {manage ? (
        <Table.Td>
          <Button
            size="compact-sm"
            variant="subtle"
            color="red"
            loading={remove.isPending}
            onClick={() => remove.mutate()}
            aria-label={`Remove ${who} from the project`}
          >
            Remove
          </Button>
        </Table.Td>
      ) : null}
    </Table.Tr>
  );
}

export function Members({ project, manage }: { project: Project; manage: boolean }) {
  const list = useCursorList<ProjectMember>(membersKey(project.id), `${projectApi(project.id)}/members`, 50);
  const canManage = manage && !project.archived;
  return (
    <Stack component="section" aria-labelledby="settings-members" gap="sm">
      <Title order={2} size="h4" id="settings-members">
        Members
      </Title>
      {!manage ? (
        <Text size="sm" c="dimmed">
          Only the project's owners manage its members.
        </Text>
      ) : null}
      {list.isPending ? (
        <Loading label="Loading members" />
      ) : list.error ? (
        <ErrorAlert error={list.error} title="The members could not be loaded" />
      ) : (
        <Table.ScrollContainer minWidth={320}>
          <Table aria-label="Project members" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>User</Table.Th>
                <Table.Th>Role</Table.Th>
                {canManage ? (
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                ) : null}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.items.map((m) => (
                <MemberRow key={m.user_id} project={project} m={m} manage={canManage} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <LoadMore {...list} />
      {canManage ? <AddMember project={project} /> : null}
    </Stack>
  );
}
