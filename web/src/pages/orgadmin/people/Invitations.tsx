// The Members page's ways in: add an existing user by username, or invite by a one-time link (shown
// once with a copy button and its expiry; mailed too when an address is given and mail is on). Open
// invitations can be revoked.
import { Badge, Button, Code, Group, Paper, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../../../api/client";
import { splitError } from "../../../api/fields";
import { invitationsKey, membersKey, orgPath, type Invitation, type NewInvitation } from "../../../api/orgadmin";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { CopyButton } from "../../../components/CopyButton";
import { useCursorList } from "../../../components/CursorList";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { PagedTable, useGrantableRoles, when } from "./bits";

const EXPIRY = [
  { value: "24", label: "1 day" },
  { value: "72", label: "3 days" },
  { value: "168", label: "7 days" },
  { value: "720", label: "30 days" },
];

// The role picker of both forms: only the roles the caller may give.
function RolePicker({ org, value, onChange, error }: { org: string; value: string | null; onChange: (v: string) => void; error?: string }) {
  const data = useGrantableRoles(org);
  return (
    <Select
      label="Role"
      data={data}
      value={value}
      onChange={(v) => v && onChange(v)}
      allowDeselect={false}
      error={error}
      w={180}
    />
  );
}

export function AddMember({ org }: { org: string }) {
  const qc = useQueryClient();
  const roles = useGrantableRoles(org);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<string | null>(null);
  const chosen = role ?? roles.find((r) => r.label === "member")?.value ?? null;
  const add = useMutation({
    mutationFn: () =>
      fetchJson(`${orgPath(org)}/members`, { method: "POST", body: JSON.stringify({ username: username.trim(), role: chosen }) }),
    onSuccess: () => {
      setUsername("");
      void qc.invalidateQueries({ queryKey: membersKey(org) });
    },
  });
  const split = splitError(add.error, ["username", "role"], { user_id: "username" });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (username.trim() && chosen) add.mutate();
  };
  return (
    <Stack component="section" aria-labelledby="add-member-title" gap="sm">
      <Title order={2} size="h3" id="add-member-title">
        Add an existing user
      </Title>
      <form onSubmit={submit}>
        <Group align="flex-start" gap="sm" wrap="wrap">
          <TextInput
            label="Username"
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
            error={split.fields.username}
            autoCapitalize="none"
            w={240}
          />
          <RolePicker org={org} value={chosen} onChange={setRole} error={split.fields.role} />
          <Button type="submit" mt={25} loading={add.isPending} disabled={!username.trim() || !chosen}>
            Add member
          </Button>
        </Group>
      </form>
      <ErrorAlert error={split.general} title="The user was not added" />
    </Stack>
  );
}

function InviteForm({ org, onCreated }: { org: string; onCreated: (inv: NewInvitation) => void }) {
  const qc = useQueryClient();
  const roles = useGrantableRoles(org);
  const [role, setRole] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [hours, setHours] = useState("72");
  const chosen = role ?? roles.find((r) => r.label === "member")?.value ?? null;
  const create = useMutation({
    mutationFn: () =>
      fetchJson<NewInvitation>(`${orgPath(org)}/invitations`, {
        method: "POST",
        body: JSON.stringify({ role: chosen, expires_in_hours: Number(hours), ...(email.trim() ? { email: email.trim() } : {}) }),
      }),
    onSuccess: (inv) => {
      setEmail("");
      onCreated(inv);
      void qc.invalidateQueries({ queryKey: invitationsKey(org) });
    },
  });
  const split = splitError(create.error, ["role", "email", "expires_in_hours"]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (chosen) create.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Invite someone">
      <Group align="flex-start" gap="sm" wrap="wrap">
        <RolePicker org={org} value={chosen} onChange={setRole} error={split.fields.role} />
        <TextInput
          label="Email (optional)"
          description="The link is mailed there too, when mail is set up"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.currentTarget.value)}
          error={split.fields.email}
          w={260}
        />
        <Select
          label="Expires after"
          data={EXPIRY}
          value={hours}
          onChange={(v) => v && setHours(v)}
          allowDeselect={false}
          error={split.fields.expires_in_hours}
          w={140}
        />
        <Button type="submit" mt={25} loading={create.isPending} disabled={!chosen}>
          Create invitation link
        </Button>
      </Group>
      <ErrorAlert error={split.general} title="No invitation was made" />
    </form>
  );
}

// The link, this once: the server keeps only a hash of its secret.
function NewLink({ inv, onDone }: { inv: NewInvitation; onDone: () => void }) {
  return (
    <Paper withBorder p="md" component="section" role="status" aria-labelledby="new-link-title">
      <Stack gap="xs">
        <Title order={3} size="h4" id="new-link-title">
          Invitation link ({inv.role})
        </Title>
        <Text size="sm" fw={600}>
          Copy it now: it is shown only this once. It works once, until {when(inv.expires_at)}.
          {inv.mailed ? ` It was also mailed to ${inv.email}.` : ""}
        </Text>
        <Group gap="xs" wrap="nowrap">
          <Code data-testid="invitation-link" style={{ wordBreak: "break-all" }}>
            {inv.url}
          </Code>
          <CopyButton value={inv.url} label="Copy link" />
        </Group>
        <Button size="xs" variant="default" onClick={onDone} style={{ alignSelf: "flex-start" }}>
          I have copied it
        </Button>
      </Stack>
    </Paper>
  );
}

const STATE_COLOR: Record<string, string> = { open: "blue", used: "green", expired: "gray", revoked: "red" };

function InvitationRow({ org, inv }: { org: string; inv: Invitation }) {
  const qc = useQueryClient();
  const [revoking, setRevoking] = useState(false);
  return (
    <Table.Tr>
      <Table.Td>{inv.role}</Table.Td>
      <Table.Td style={{ overflowWrap: "anywhere" }}>{inv.email || "—"}</Table.Td>
      <Table.Td>
        <Badge color={STATE_COLOR[inv.state] ?? "gray"} variant="dot">
          {inv.state}
        </Badge>
      </Table.Td>
      <Table.Td>{when(inv.created_at)}</Table.Td>
      <Table.Td>{when(inv.expires_at)}</Table.Td>
      <Table.Td>
        {inv.state === "open" ? (
          <Button size="compact-sm" variant="subtle" color="red" onClick={() => setRevoking(true)} aria-label={`Revoke the ${inv.role} invitation made ${when(inv.created_at)}`}>
            Revoke
          </Button>
        ) : null}
        {revoking ? (
          <ConfirmDialog
            title="Revoke this invitation?"
            confirm="Revoke"
            failed="The invitation was not revoked"
            action={async () => {
              await fetchJson(`/api/v1/invitations/${encodeURIComponent(inv.id)}`, { method: "DELETE", headers: { "If-Match": inv.etag } });
              await qc.invalidateQueries({ queryKey: invitationsKey(org) });
            }}
            onClose={() => setRevoking(false)}
          >
            Its link stops working at once; nobody can join with it any more.
          </ConfirmDialog>
        ) : null}
      </Table.Td>
    </Table.Tr>
  );
}

export function Invitations({ org }: { org: string }) {
  const [created, setCreated] = useState<NewInvitation | null>(null);
  const list = useCursorList<Invitation>(invitationsKey(org), `${orgPath(org)}/invitations`, 50);
  return (
    <Stack component="section" aria-labelledby="invitations-title" gap="sm">
      <Title order={2} size="h3" id="invitations-title">
        Invitations
      </Title>
      {created ? <NewLink inv={created} onDone={() => setCreated(null)} /> : <InviteForm org={org} onCreated={setCreated} />}
      <PagedTable
        list={list}
        what="invitations"
        empty="No invitations yet."
        label="Invitations"
        heads={["Role", "Email", "State", "Created", "Expires"]}
        minWidth={640}
      >
        {list.items.map((inv) => (
          <InvitationRow key={inv.id} org={org} inv={inv} />
        ))}
      </PagedTable>
    </Stack>
  );
}
