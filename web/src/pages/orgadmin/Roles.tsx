// /orgs/{org}/roles: the built-in roles (read-only, with their permissions), the org's custom roles
// (made and changed in the matrix editor, deleted when nobody holds them) and who holds each role.
import { Button, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { Fragment, useState } from "react";
import { fetchJson } from "../../api/client";
import { orgPath, rolePath, rolesKey, type OrgMember, type OrgRole } from "../../api/orgadmin";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { DataTable, useOrgRoles } from "./people/bits";
import { RoleEditor } from "./people/RoleEditor";

function Holders({ org, role }: { org: string; role: OrgRole }) {
  const list = useCursorList<OrgMember>(
    ["orgadmin", org, "members", "", role.id],
    withQuery(`${orgPath(org)}/members`, { role: role.id }),
    50,
  );
  if (list.isPending) return <Loading label={`Loading who holds ${role.name}`} />;
  if (list.error) return <ErrorAlert error={list.error} title="The holders could not be loaded" />;
  return (
    <Stack gap={4}>
      <Text size="sm" fw={500}>
        Held by:
      </Text>
      {list.items.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nobody holds {role.name}.
        </Text>
      ) : (
        <ul aria-label={`Holders of ${role.name}`} style={{ margin: 0 }}>
          {list.items.map((m) => (
            <li key={m.user_id}>
              <Text size="sm">{m.username}</Text>
            </li>
          ))}
        </ul>
      )}
      <LoadMore {...list} />
    </Stack>
  );
}

function Permissions({ perms }: { perms: string[] }) {
  return (
    <Group gap={4}>
      {perms.map((p) => (
        <Code key={p}>{p}</Code>
      ))}
    </Group>
  );
}

function RoleRows({ org, role, onEdit }: { org: string; role: OrgRole; onEdit: () => void }) {
  const qc = useQueryClient();
  const [showHolders, setShowHolders] = useState(false);
  const [deleting, setDeleting] = useState(false);
  return (
    <Fragment>
      <Table.Tr>
        <Table.Td>
          <Text size="sm" fw={600}>
            {role.name}
          </Text>
          <Text size="xs" c="dimmed">
            {role.description || (role.builtin ? "" : "No description")}
          </Text>
        </Table.Td>
        <Table.Td>
          <Permissions perms={role.permissions} />
        </Table.Td>
        <Table.Td>
          <Group gap={4} wrap="nowrap">
            <Button
              size="compact-sm"
              variant={showHolders ? "light" : "subtle"}
              aria-pressed={showHolders}
              onClick={() => setShowHolders((s) => !s)}
              aria-label={`Who holds ${role.name}`}
            >
              Holders
            </Button>
            {role.builtin ? null : (
              <>
                <Button size="compact-sm" variant="subtle" onClick={onEdit} aria-label={`Edit ${role.name}`}>
                  Edit
                </Button>
                <Button size="compact-sm" variant="subtle" color="red" onClick={() => setDeleting(true)} aria-label={`Delete ${role.name}`}>
                  Delete
                </Button>
              </>
            )}
          </Group>
          {deleting ? (
            <ConfirmDialog
              title={`Delete the role ${role.name}?`}
              confirm="Delete role"
              failed="The role was not deleted"
              action={async () => {
                await fetchJson(rolePath(role.id), { method: "DELETE", headers: { "If-Match": role.etag } });
                await qc.invalidateQueries({ queryKey: rolesKey(org) });
              }}
              onClose={() => setDeleting(false)}
            >
              A role that members or open invitations still have cannot be deleted: give them another role first.
            </ConfirmDialog>
          ) : null}
        </Table.Td>
      </Table.Tr>
      {showHolders ? (
        <Table.Tr>
          <Table.Td colSpan={3}>
            <Holders org={org} role={role} />
          </Table.Td>
        </Table.Tr>
      ) : null}
    </Fragment>
  );
}

function RoleTable({ org, label, roles, onEdit }: { org: string; label: string; roles: OrgRole[]; onEdit: (r: OrgRole) => void }) {
  return (
    <DataTable label={label} heads={["Role", "Permissions"]} minWidth={640}>
      {roles.map((r) => (
        <RoleRows key={r.id} org={org} role={r} onEdit={() => onEdit(r)} />
      ))}
    </DataTable>
  );
}

export default function Roles() {
  const org = useOrgSlug();
  const roles = useOrgRoles(org);
  // null: no editor; "new": a new role; else the role being edited.
  const [editing, setEditing] = useState<OrgRole | "new" | null>(null);
  const all = roles.data ?? [];
  const custom = all.filter((r) => !r.builtin);
  return (
    <OrgPage perm="roles:write" what="manage this organisation's roles">
      <Stack gap="xl">
        {roles.isPending ? (
          <Loading label="Loading roles" />
        ) : roles.error ? (
          <ErrorAlert error={roles.error} title="The roles could not be loaded" />
        ) : (
          <>
            <Stack component="section" aria-labelledby="builtin-roles-title" gap="sm">
              <Title order={2} size="h3" id="builtin-roles-title">
                Built-in roles
              </Title>
              <Text size="sm" c="dimmed">
                The same in every organisation; they cannot be changed.
              </Text>
              <RoleTable org={org} label="Built-in roles" roles={all.filter((r) => r.builtin)} onEdit={() => {}} />
            </Stack>
            <Stack component="section" aria-labelledby="custom-roles-title" gap="sm">
              <Group justify="space-between">
                <Title order={2} size="h3" id="custom-roles-title">
                  Custom roles
                </Title>
                <Button size="sm" onClick={() => setEditing("new")} disabled={editing !== null}>
                  New role
                </Button>
              </Group>
              {custom.length === 0 ? (
                <Text size="sm" c="dimmed">
                  No custom roles yet.
                </Text>
              ) : (
                <RoleTable org={org} label="Custom roles" roles={custom} onEdit={setEditing} />
              )}
            </Stack>
          </>
        )}
        {editing ? (
          <RoleEditor
            key={editing === "new" ? "new" : editing.id}
            org={org}
            role={editing === "new" ? null : editing}
            onDone={() => setEditing(null)}
          />
        ) : null}
      </Stack>
    </OrgPage>
  );
}
