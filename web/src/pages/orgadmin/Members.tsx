// /orgs/{org}/members: the org's members (search by name, filter by role), each member's role
// (built-in or custom: only roles whose every grant the caller holds are offered), removal, and
// invitations (a one-time link, shown once). The org's last org-admin is protected by the API and
// shown as such here, its controls disabled.
import { Badge, Button, Group, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import { membersKey, orgPath, type OrgMember } from "../../api/orgadmin";
import { ME_KEY, useMe } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { useCursorList, withQuery } from "../../components/CursorList";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { AddMember, Invitations } from "./people/Invitations";
import { EditError, PagedTable, useGrantableRoles, useOrgRoles } from "./people/bits";

function MemberRow({ org, m }: { org: string; m: OrgMember }) {
  const qc = useQueryClient();
  const me = useMe();
  const roles = useOrgRoles(org).data ?? [];
  const grantable = new Set(useGrantableRoles(org).map((r) => r.value));
  const [removing, setRemoving] = useState(false);
  const who = m.username;
  const path = `${orgPath(org)}/members/${encodeURIComponent(m.user_id)}`;
  // A change to one's own membership changes what one may do here: /me says it again.
  const refresh = () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: membersKey(org) }),
      m.user_id === me.id ? qc.invalidateQueries({ queryKey: ME_KEY }) : null,
    ]);
  const change = useMutation({
    mutationFn: (role: string) =>
      fetchJson<OrgMember>(path, { method: "PATCH", headers: { "If-Match": m.etag }, body: JSON.stringify({ role }) }),
    onSuccess: refresh,
  });
  // The API lets nobody change (or remove) a member whose role grants more than they hold.
  const above = !grantable.has(m.role_id);
  const locked = !!m.last_admin || above;
  const data = roles.map((r) => ({ value: r.id, label: r.name, disabled: !grantable.has(r.id) }));
  if (!data.some((d) => d.value === m.role_id)) data.push({ value: m.role_id, label: m.role, disabled: true });
  return (
    <Table.Tr>
      <Table.Td style={{ overflowWrap: "anywhere" }}>
        <Text size="sm" fw={500}>
          {who}
          {m.user_id === me.id ? " (you)" : ""}
        </Text>
        {m.display_name ? (
          <Text size="xs" c="dimmed">
            {m.display_name}
          </Text>
        ) : null}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          <Select
            aria-label={`Role of ${who}`}
            data={data}
            value={m.role_id}
            onChange={(v) => v && v !== m.role_id && change.mutate(v)}
            allowDeselect={false}
            disabled={locked || change.isPending}
            size="xs"
            w={160}
          />
          {m.last_admin ? (
            <Badge variant="default" tt="none" title="The organisation's only org-admin: make someone else org-admin first">
              Last org admin (protected)
            </Badge>
          ) : null}
        </Group>
        {change.error ? <EditError error={change.error} title={`${who}: role not changed`} reload={membersKey(org)} /> : null}
      </Table.Td>
      <Table.Td>
        <Button
          size="compact-sm"
          variant="subtle"
          color="red"
          disabled={locked}
          onClick={() => setRemoving(true)}
          aria-label={`Remove ${who} from the organisation`}
        >
          Remove
        </Button>
        {removing ? (
          <ConfirmDialog
            title={`Remove ${who}?`}
            confirm="Remove"
            failed={`${who} was not removed`}
            action={async () => {
              await fetchJson(path, { method: "DELETE", headers: { "If-Match": m.etag } });
              await refresh();
            }}
            onClose={() => setRemoving(false)}
          >
            {who} loses access to the organisation, its groups and the projects shared with it. Their own account and
            data stay.
          </ConfirmDialog>
        ) : null}
      </Table.Td>
    </Table.Tr>
  );
}

function MemberList({ org }: { org: string }) {
  const [search, setSearch] = useState("");
  const [q] = useDebouncedValue(search.trim(), 250);
  const [role, setRole] = useState<string | null>(null);
  const roles = useOrgRoles(org).data ?? [];
  const list = useCursorList<OrgMember>(
    [...membersKey(org), q, role ?? ""],
    withQuery(`${orgPath(org)}/members`, { q, role: role ?? undefined }),
    50,
  );
  return (
    <Stack component="section" aria-labelledby="members-title" gap="sm">
      <Title order={2} size="h3" id="members-title">
        Members
      </Title>
      <Group gap="sm" align="flex-end" wrap="wrap">
        <TextInput
          label="Search members"
          placeholder="Part of a username or name"
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          w={280}
        />
        <Select
          label="Filter by role"
          placeholder="Any role"
          data={roles.map((r) => ({ value: r.id, label: r.name }))}
          value={role}
          onChange={(v) => setRole(v === null ? null : String(v))}
          clearable
          w={200}
        />
      </Group>
      <PagedTable
        list={list}
        what="members"
        empty={q || role ? "No member matches." : "No members yet."}
        label="Organisation members"
        heads={["User", "Role"]}
      >
        {list.items.map((m) => (
          <MemberRow key={m.user_id} org={org} m={m} />
        ))}
      </PagedTable>
    </Stack>
  );
}

export default function Members() {
  const org = useOrgSlug();
  return (
    <OrgPage perm="members:write" what="manage this organisation's members">
      <Stack gap="xl">
        <MemberList org={org} />
        <AddMember org={org} />
        <Invitations org={org} />
      </Stack>
    </OrgPage>
  );
}
