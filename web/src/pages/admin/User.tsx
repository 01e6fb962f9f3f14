// /admin/users/:id: one account as the instance admin sees it: its orgs and roles, where it is signed
// in, its API tokens (never their secrets); disable or enable it, end all its sessions, and make a
// one-time password-reset link (shown once, with a copy button).
import { Alert, Anchor, Button, Group, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { fetchJson, type ListPage } from "../../api/client";
import { userKey, userPath, type ResetLink, type UserOrg } from "../../api/admin";
import type { SessionRow, TokenRow } from "../../api/me";
import type { User as UserT } from "../../api/types";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyButton } from "../../components/CopyButton";
import { useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { deviceName, when } from "../me/device";
import { ListTable, StatusBadge } from "./parts";
import { UserToggle } from "./Users";

function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <Stack component="section" aria-labelledby={id} gap="xs">
      <Title order={2} size="h4" id={id}>
        {title}
      </Title>
      {children}
    </Stack>
  );
}

function ResetPassword({ u }: { u: UserT }) {
  const reset = useMutation({
    mutationFn: () => fetchJson<ResetLink>(`${userPath(u.id)}/password-reset`, { method: "POST" }),
  });
  const link = reset.data;
  return (
    <Stack gap="xs">
      <Group>
        <Button variant="default" loading={reset.isPending} onClick={() => reset.mutate()} disabled={u.disabled}>
          Make a password-reset link
        </Button>
      </Group>
      <ErrorAlert error={reset.error} title="No reset link was made" />
      {link ? (
        <Alert color="blue" variant="light" title="One-time reset link" role="status">
          <Stack gap="xs">
            <Text size="sm">
              Send this link to {u.username} privately. It works once, until {when(link.expires_at)}, and is not
              shown again{link.mailed ? " (it was also mailed to them)" : ""}. Using it ends their sessions.
            </Text>
            <Group gap="xs" wrap="nowrap" align="center">
              <Text size="sm" ff="monospace" style={{ overflowWrap: "anywhere", flex: 1, minWidth: 0 }} data-testid="reset-link">
                {link.url}
              </Text>
              <div style={{ flexShrink: 0 }}>
                <CopyButton value={link.url} label="Copy link" />
              </div>
            </Group>
          </Stack>
        </Alert>
      ) : null}
    </Stack>
  );
}

function Orgs({ id }: { id: string }) {
  const q = useQuery({
    queryKey: [...userKey(id), "orgs"],
    queryFn: () => fetchJson<ListPage<UserOrg>>(`${userPath(id)}/orgs`),
  });
  if (q.isPending) return <Loading label="Loading organisations" />;
  if (q.error) return <ErrorAlert error={q.error} title="The organisations could not be loaded" />;
  if (q.data.items.length === 0) return <EmptyState title="In no organisation" />;
  return (
    <Table aria-label="Organisations and roles" verticalSpacing="xs">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Organisation</Table.Th>
          <Table.Th>Role</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {q.data.items.map((o) => (
          <Table.Tr key={o.id}>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${encodeURIComponent(o.slug)}/members`}>
                {o.name || o.slug}
              </Anchor>{" "}
              {o.disabled ? <StatusBadge disabled /> : null}
            </Table.Td>
            <Table.Td>{o.role}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function Sessions({ id }: { id: string }) {
  const [ending, setEnding] = useState(false);
  const list = useCursorList<SessionRow>([...userKey(id), "sessions"], `${userPath(id)}/sessions`, 50);
  return (
    <>
      <Group>
        <Button color="red" variant="light" onClick={() => setEnding(true)}>
          End all sessions
        </Button>
      </Group>
      {ending ? (
        <ConfirmDialog
          title="End all sessions?"
          confirm="End all sessions"
          failed="The sessions were not ended"
          action={async () => {
            await fetchJson<void>(`${userPath(id)}/sessions`, { method: "DELETE" });
            await list.refetch();
          }}
          onClose={() => setEnding(false)}
        >
          Every browser where this account is signed in is signed out now. Its API tokens keep working (disable the
          account to end those too).
        </ConfirmDialog>
      ) : null}
      <ListTable
        list={list}
        label="Sessions"
        empty={{ title: "Not signed in anywhere" }}
        headers={["Device", "From", "Signed in", "Last active", "Ends"]}
        row={(s) => (
          <>
            <Table.Td>{deviceName(s.user_agent)}</Table.Td>
            <Table.Td>{s.client_ip}</Table.Td>
            <Table.Td>{when(s.created_at)}</Table.Td>
            <Table.Td>{when(s.last_seen_at)}</Table.Td>
            <Table.Td>{when(s.expires_at)}</Table.Td>
          </>
        )}
      />
    </>
  );
}

function Tokens({ id }: { id: string }) {
  const list = useCursorList<TokenRow>([...userKey(id), "tokens"], `${userPath(id)}/tokens`, 50);
  return (
    <ListTable
      list={list}
      label="API tokens"
      empty={{ title: "No API tokens" }}
      headers={["Name", "Scopes", "Created", "Expires", "Last used"]}
      row={(t) => (
        <>
          <Table.Td style={{ overflowWrap: "anywhere" }}>{t.name}</Table.Td>
          <Table.Td style={{ overflowWrap: "anywhere" }}>{t.scopes.length ? t.scopes.join(", ") : "all"}</Table.Td>
          <Table.Td>{when(t.created_at)}</Table.Td>
          <Table.Td>{t.expires_at ? when(t.expires_at) : "never"}</Table.Td>
          <Table.Td>{when(t.last_used_at)}</Table.Td>
        </>
      )}
    />
  );
}

export default function User() {
  const id = useParams().id ?? "";
  const qc = useQueryClient();
  const q = useQuery({ queryKey: userKey(id), queryFn: () => fetchJson<UserT>(userPath(id)) });
  const reload = () => qc.invalidateQueries({ queryKey: userKey(id) });
  if (q.isPending) return <Loading label="Loading the account" />;
  if (q.error) return <ErrorAlert error={q.error} title="The account could not be loaded" />;
  const u = q.data;
  return (
    <Stack gap="lg">
      <Anchor component={Link} to="/admin/users" size="sm">
        ← All accounts
      </Anchor>
      <Paper withBorder p="md">
        <Stack gap="xs">
          <Group justify="space-between" wrap="wrap">
            <Group gap="xs">
              <Title order={2} size="h3">
                {u.username}
              </Title>
              <StatusBadge disabled={u.disabled} />
            </Group>
            <UserToggle u={u} after={reload} />
          </Group>
          <Text size="sm">
            {u.display_name || "No display name"} · {u.email || "no email"}
            {u.email && !u.email_verified ? " (not verified)" : ""} · created {when(u.created_at)}
          </Text>
          <ResetPassword u={u} />
        </Stack>
      </Paper>
      <Section id="user-orgs" title="Organisations and roles">
        <Orgs id={id} />
      </Section>
      <Section id="user-sessions" title="Sessions">
        <Sessions id={id} />
      </Section>
      <Section id="user-tokens" title="API tokens">
        <Tokens id={id} />
      </Section>
    </Stack>
  );
}
