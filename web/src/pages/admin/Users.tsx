// /admin/users: the instance's accounts, searched by the server (username, name, email); create an
// account; disable one (sessions and tokens end, its work stops) or enable it. Each account's own
// page (/admin/users/:id) has its orgs, sessions, tokens and the password reset.
import { Anchor, Button, Group, Paper, PasswordInput, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { fetchJson } from "../../api/client";
import { setUserDisabled, USERS_KEY } from "../../api/admin";
import { splitError } from "../../api/fields";
import type { User } from "../../api/types";
import { useMe } from "../../auth/session";
import { useCursorList, withQuery } from "../../components/CursorList";
import { ErrorAlert } from "../../components/ErrorAlert";
import { DisableToggle, ListTable, StatusBadge } from "./parts";

const FIELDS = ["username", "password", "email", "display_name"] as const;

function CreateUser({ onCreated }: { onCreated: (u: User) => unknown }) {
  const [form, setForm] = useState({ username: "", password: "", email: "", display_name: "" });
  const create = useMutation({
    mutationFn: () =>
      fetchJson<User>("/api/v1/users", {
        method: "POST",
        body: JSON.stringify({ ...form, username: form.username.trim(), email: form.email.trim() }),
      }),
    onSuccess: async (u) => {
      setForm({ username: "", password: "", email: "", display_name: "" });
      await onCreated(u);
    },
  });
  const err = splitError(create.error, FIELDS);
  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setForm({ ...form, [k]: e.currentTarget.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="Create an account">
        <Stack gap="sm">
          <Title order={2} size="h4">
            Create an account
          </Title>
          <Group align="flex-start" gap="sm" wrap="wrap">
            <TextInput label="Username" required value={form.username} onChange={set("username")}
                       error={err.fields.username} autoCapitalize="none" autoComplete="off" style={{ flex: "1 1 12rem" }} />
            <PasswordInput label="Initial password" description="At least 10 characters; share it privately"
                           required value={form.password} onChange={set("password")} error={err.fields.password}
                           autoComplete="new-password" style={{ flex: "1 1 12rem" }} />
          </Group>
          <Group align="flex-start" gap="sm" wrap="wrap">
            <TextInput label="Email" type="email" value={form.email} onChange={set("email")} error={err.fields.email}
                       style={{ flex: "1 1 12rem" }} />
            <TextInput label="Display name" value={form.display_name} onChange={set("display_name")}
                       error={err.fields.display_name} style={{ flex: "1 1 12rem" }} />
          </Group>
          <ErrorAlert error={err.general} title="The account was not created" />
          {create.isSuccess ? (
            <Text size="sm" role="status">
              Created {create.data.username}.
            </Text>
          ) : null}
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create account
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

// Disable (with a confirmation) or enable an account (not one's own: the server refuses that).
export function UserToggle({ u, after }: { u: User; after: () => unknown }) {
  const me = useMe();
  if (u.id === me.id) return null;
  const change = async (disabled: boolean) => {
    await setUserDisabled(u, disabled, after);
    await after();
  };
  return (
    <DisableToggle name={u.username} kind="account" disabled={u.disabled} change={change}>
      {u.username} can no longer sign in: their sessions and API tokens end now, and their running jobs and
      environments stop. You can enable the account again later (tokens stay revoked).
    </DisableToggle>
  );
}

export default function Users() {
  const [q, setQ] = useState("");
  const [debounced] = useDebouncedValue(q.trim(), 250);
  const list = useCursorList<User>([...USERS_KEY, debounced], withQuery("/api/v1/users", { q: debounced }), 50);
  return (
    <Stack gap="md">
      <CreateUser onCreated={() => list.refetch()} />
      <Title order={2} size="h3">
        Accounts
      </Title>
      <TextInput
        label="Search accounts"
        description="Part of a username, name or email"
        type="search"
        value={q}
        onChange={(e) => setQ(e.currentTarget.value)}
        maw={360}
      />
      <ListTable
        list={list}
        label="Accounts"
        empty={debounced ? { title: "No account matches", hint: "Try another part of the name." } : { title: "No accounts" }}
        headers={["Username", "Name", "Email", "Status", "Actions"]}
        minWidth={640}
        row={(u) => (
          <>
            <Table.Td>
              <Anchor component={Link} to={`/admin/users/${encodeURIComponent(u.id)}`}>
                {u.username}
              </Anchor>
            </Table.Td>
            <Table.Td style={{ overflowWrap: "anywhere" }}>{u.display_name}</Table.Td>
            <Table.Td style={{ overflowWrap: "anywhere" }}>{u.email}</Table.Td>
            <Table.Td>
              <StatusBadge disabled={u.disabled} />
            </Table.Td>
            <Table.Td>
              <UserToggle u={u} after={() => list.refetch()} />
            </Table.Td>
          </>
        )}
      />
    </Stack>
  );
}
