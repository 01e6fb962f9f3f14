// /orgs/{org}/groups: the org's groups (create, rename with If-Match, delete) and, for the group
// opened, its members (add an org member by username, remove).
import { Button, Group, Modal, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import { groupPath, groupsKey, orgPath, type GroupMember, type OrgGroup } from "../../api/orgadmin";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { useCursorList } from "../../components/CursorList";
import { ErrorAlert } from "../../components/ErrorAlert";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { EditError, PagedTable, when } from "./people/bits";

const groupMembersKey = (id: string) => ["orgadmin", "group-members", id] as const;

function NewGroup({ org }: { org: string }) {
  const qc = useQueryClient();
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => fetchJson<OrgGroup>(`${orgPath(org)}/groups`, { method: "POST", body: JSON.stringify({ slug, name }) }),
    onSuccess: () => {
      setSlug("");
      setName("");
      void qc.invalidateQueries({ queryKey: groupsKey(org) });
    },
  });
  const split = splitError(create.error, ["slug", "name"]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Stack component="section" aria-labelledby="new-group-title" gap="sm">
      <Title order={2} size="h3" id="new-group-title">
        New group
      </Title>
      <form onSubmit={submit}>
        <Group align="flex-start" gap="sm" wrap="wrap">
          <TextInput
            label="Slug"
            description="a-z 0-9 - _ ."
            required
            value={slug}
            onChange={(e) => setSlug(e.currentTarget.value.toLowerCase())}
            error={split.fields.slug}
            w={200}
          />
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} error={split.fields.name} w={260} />
          <Button type="submit" mt={25} loading={create.isPending}>
            Create group
          </Button>
        </Group>
      </form>
      <ErrorAlert error={split.general} title="The group was not created" />
    </Stack>
  );
}

function RenameDialog({ org, g, onClose }: { org: string; g: OrgGroup; onClose: () => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState(g.name);
  const save = useMutation({
    mutationFn: () =>
      fetchJson(groupPath(g.id), { method: "PATCH", headers: { "If-Match": g.etag }, body: JSON.stringify({ name }) }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: groupsKey(org) });
      onClose();
    },
  });
  const split = splitError(save.error, ["name"]);
  return (
    <Modal opened onClose={onClose} title={`Rename ${g.slug}`} closeButtonProps={{ "aria-label": "Close" }}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} error={split.fields.name} data-autofocus />
          <EditError error={split.general} title="The group was not renamed" reload={groupsKey(org)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function GroupMembers({ g }: { g: OrgGroup }) {
  const qc = useQueryClient();
  const key = groupMembersKey(g.id);
  const list = useCursorList<GroupMember>(key, `${groupPath(g.id)}/members`, 50);
  const [username, setUsername] = useState("");
  const refresh = () => qc.invalidateQueries({ queryKey: key });
  const add = useMutation({
    mutationFn: () => fetchJson(`${groupPath(g.id)}/members`, { method: "POST", body: JSON.stringify({ username: username.trim() }) }),
    onSuccess: () => {
      setUsername("");
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (m: GroupMember) =>
      fetchJson(`${groupPath(g.id)}/members/${encodeURIComponent(m.user_id)}`, { method: "DELETE", headers: { "If-Match": m.etag } }),
    onSettled: refresh,
  });
  const split = splitError(add.error, ["username"], { user_id: "username" });
  return (
    <Stack component="section" aria-labelledby="group-members-title" gap="sm">
      <Title order={2} size="h3" id="group-members-title">
        Members of {g.name}
      </Title>
      <PagedTable list={list} what="group's members" empty="Nobody is in this group yet." label={`Members of ${g.name}`} heads={["User"]} minWidth={320}>
        {list.items.map((m) => (
          <Table.Tr key={m.user_id}>
            <Table.Td>{m.username}</Table.Td>
            <Table.Td>
              <Button
                size="compact-sm"
                variant="subtle"
                color="red"
                loading={remove.isPending && remove.variables?.user_id === m.user_id}
                onClick={() => remove.mutate(m)}
                aria-label={`Remove ${m.username} from ${g.name}`}
              >
                Remove
              </Button>
            </Table.Td>
          </Table.Tr>
        ))}
      </PagedTable>
      <EditError error={remove.error} title="The member was not removed" reload={key} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (username.trim()) add.mutate();
        }}
      >
        <Group align="flex-start" gap="sm">
          <TextInput
            label={`Add to ${g.name}`}
            description="The username of a member of the organisation"
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
            error={split.fields.username}
            autoCapitalize="none"
            w={260}
          />
          <Button type="submit" mt={47} loading={add.isPending} disabled={!username.trim()}>
            Add
          </Button>
        </Group>
      </form>
      <ErrorAlert error={split.general} title="The member was not added" />
    </Stack>
  );
}

function GroupRow({ org, g, open, onOpen }: { org: string; g: OrgGroup; open: boolean; onOpen: () => void }) {
  const qc = useQueryClient();
  const [dialog, setDialog] = useState<"rename" | "delete" | null>(null);
  return (
    <Table.Tr>
      <Table.Td>
        <Text size="sm" fw={500}>
          {g.name}
        </Text>
      </Table.Td>
      <Table.Td>{g.slug}</Table.Td>
      <Table.Td>{when(g.created_at)}</Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Button size="compact-sm" variant={open ? "light" : "subtle"} onClick={onOpen} aria-pressed={open} aria-label={`Members of ${g.name}`}>
            Members
          </Button>
          <Button size="compact-sm" variant="subtle" onClick={() => setDialog("rename")} aria-label={`Rename ${g.name}`}>
            Rename
          </Button>
          <Button size="compact-sm" variant="subtle" color="red" onClick={() => setDialog("delete")} aria-label={`Delete ${g.name}`}>
            Delete
          </Button>
        </Group>
        {dialog === "rename" ? <RenameDialog org={org} g={g} onClose={() => setDialog(null)} /> : null}
        {dialog === "delete" ? (
          <ConfirmDialog
            title={`Delete ${g.name}?`}
            confirm="Delete group"
            failed="The group was not deleted"
            action={async () => {
              await fetchJson(groupPath(g.id), { method: "DELETE", headers: { "If-Match": g.etag } });
              await qc.invalidateQueries({ queryKey: groupsKey(org) });
            }}
            onClose={() => setDialog(null)}
          >
            Its members stay in the organisation; the group's quotas go with it. A group that projects belong to cannot be
            deleted.
          </ConfirmDialog>
        ) : null}
      </Table.Td>
    </Table.Tr>
  );
}

export default function Groups() {
  const org = useOrgSlug();
  const list = useCursorList<OrgGroup>(groupsKey(org), `${orgPath(org)}/groups`, 50);
  const [openId, setOpenId] = useState<string | null>(null);
  const opened = list.items.find((g) => g.id === openId) ?? null;
  return (
    <OrgPage perm="groups:write" what="manage this organisation's groups">
      <Stack gap="xl">
        <Stack component="section" aria-labelledby="groups-title" gap="sm">
          <Title order={2} size="h3" id="groups-title">
            Groups
          </Title>
          <PagedTable list={list} what="groups" empty="No groups yet." label="Groups" heads={["Name", "Slug", "Created"]} minWidth={560}>
            {list.items.map((g) => (
              <GroupRow key={g.id} org={org} g={g} open={g.id === openId} onOpen={() => setOpenId(g.id === openId ? null : g.id)} />
            ))}
          </PagedTable>
        </Stack>
        {opened ? <GroupMembers key={opened.id} g={opened} /> : null}
        <NewGroup org={org} />
      </Stack>
    </OrgPage>
  );
}
