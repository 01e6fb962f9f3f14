// A custom role's editor: name and description, and its grants as a matrix of resources x verbs
// with a scope per cell (own, group or org: an org's role reaches no further). A cell offers only
// the scopes the editor holds itself (the API refuses the rest: "cannot-grant"). Grants the matrix
// cannot show (wildcards) are kept as they are.
import { Button, Group, NativeSelect, Paper, Stack, Table, Text, TextInput, Title, VisuallyHidden } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { fetchJson } from "../../../api/client";
import { splitError } from "../../../api/fields";
import { fromCells, mayGrant, orgPath, RESOURCES, ROLE_SCOPES, rolePath, rolesKey, toCells, VERBS, type Cells, type OrgRole } from "../../../api/orgadmin";
import { useMe } from "../../../auth/session";
import { EditError } from "./bits";

function Cell({ org, resource, verb, value, onChange }: { org: string; resource: string; verb: string; value: string; onChange: (s: string) => void }) {
  const me = useMe();
  const offered = ROLE_SCOPES.filter((s) => mayGrant(me, org, `${resource}:${verb}:${s}`));
  if (offered.length === 0 && !value)
    return (
      <Text size="xs" c="dimmed" component="span">
        <span aria-hidden>—</span>
        <VisuallyHidden>
          {resource} {verb}: not yours to grant
        </VisuallyHidden>
      </Text>
    );
  const data = [
    { value: "", label: "—" },
    ...ROLE_SCOPES.filter((s) => offered.includes(s) || s === value).map((s) => ({ value: s, label: s, disabled: !offered.includes(s) })),
  ];
  return (
    <NativeSelect
      size="xs"
      aria-label={`${resource} ${verb}`}
      data={data}
      value={value}
      onChange={(e) => onChange(e.currentTarget.value)}
      w={80}
    />
  );
}

export function RoleEditor({ org, role, onDone }: { org: string; role: OrgRole | null; onDone: () => void }) {
  const qc = useQueryClient();
  const initial = useMemo(() => toCells(role?.permissions ?? []), [role]);
  const [name, setName] = useState(role?.name ?? "");
  const [description, setDescription] = useState(role?.description ?? "");
  const [cells, setCells] = useState<Cells>(initial.cells);
  const permissions = fromCells(cells, initial.other);
  const save = useMutation({
    mutationFn: () =>
      role
        ? fetchJson<OrgRole>(rolePath(role.id), {
            method: "PATCH",
            headers: { "If-Match": role.etag },
            body: JSON.stringify({ description, permissions }),
          })
        : fetchJson<OrgRole>(`${orgPath(org)}/roles`, { method: "POST", body: JSON.stringify({ name, description, permissions }) }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: rolesKey(org) });
      onDone();
    },
  });
  const split = splitError(save.error, ["name", "description"]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const title = role ? `Edit role ${role.name}` : "New role";
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="role-editor-title">
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Title order={2} size="h3" id="role-editor-title">
            {title}
          </Title>
          <Group align="flex-start" gap="sm" wrap="wrap">
            <TextInput
              label="Name"
              description="a-z 0-9 - _ ."
              required
              disabled={!!role}
              value={name}
              onChange={(e) => setName(e.currentTarget.value.toLowerCase())}
              error={split.fields.name}
              w={220}
            />
            <TextInput
              label="Description"
              value={description}
              onChange={(e) => setDescription(e.currentTarget.value)}
              error={split.fields.description}
              w={360}
            />
          </Group>
          <Text size="sm">
            Each cell gives one action on one kind of thing, over the holder's own things, their groups' or the whole
            organisation's. Only what you hold yourself is offered.
          </Text>
          <Table.ScrollContainer minWidth={640}>
            <Table aria-label="Permissions: resources by actions, a scope in each cell" verticalSpacing={4} horizontalSpacing="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Resource</Table.Th>
                  {VERBS.map((v) => (
                    <Table.Th key={v} scope="col">
                      {v}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {RESOURCES.map((r) => (
                  <Table.Tr key={r}>
                    <Table.Th scope="row">{r}</Table.Th>
                    {VERBS.map((v) => (
                      <Table.Td key={v}>
                        <Cell
                          org={org}
                          resource={r}
                          verb={v}
                          value={cells[`${r}:${v}`] ?? ""}
                          onChange={(s) => setCells((c) => ({ ...c, [`${r}:${v}`]: s }))}
                        />
                      </Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {initial.other.length ? (
            <Text size="sm">Also kept as they are: {initial.other.join(", ")}</Text>
          ) : null}
          <Text size="sm" c="dimmed" aria-live="polite">
            {permissions.length} permission{permissions.length === 1 ? "" : "s"}
          </Text>
          <EditError error={split.general} title="The role was not saved" reload={rolesKey(org)} />
          <Group>
            <Button type="submit" loading={save.isPending} disabled={permissions.length === 0 || !name}>
              {role ? "Save role" : "Create role"}
            </Button>
            <Button variant="default" onClick={onDone}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
