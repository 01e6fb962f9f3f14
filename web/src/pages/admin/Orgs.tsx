// /admin/orgs: every organisation of the instance with its member count; create one; disable one
// (its members can no longer act in it until it is enabled again) or enable it.
import { Anchor, Stack, Table, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { ORGS_KEY, setOrgDisabled, type AdminOrg } from "../../api/admin";
import { ME_KEY } from "../../auth/session";
import { CreateOrgForm } from "../../components/CreateOrgForm";
import { useCursorList } from "../../components/CursorList";
import { DisableToggle, ListTable, StatusBadge } from "./parts";

function OrgCells({ o, reload }: { o: AdminOrg; reload: () => unknown }) {
  const qc = useQueryClient();
  const change = async (disabled: boolean) => {
    await setOrgDisabled(o, disabled, reload);
    await reload();
    await qc.invalidateQueries({ queryKey: ME_KEY });
  };
  return (
    <>
      <Table.Td>
        <Anchor component={Link} to={`/orgs/${encodeURIComponent(o.slug)}/members`}>
          {o.slug}
        </Anchor>
      </Table.Td>
      <Table.Td style={{ overflowWrap: "anywhere" }}>{o.name}</Table.Td>
      <Table.Td>{o.members ?? "–"}</Table.Td>
      <Table.Td>
        <StatusBadge disabled={o.disabled} />
      </Table.Td>
      <Table.Td>
        <DisableToggle name={o.slug} kind="organisation" disabled={o.disabled} change={change}>
          Its {o.members ?? ""} members can no longer open it or act in it (projects, jobs, environments, its
          administration) until you enable it again. Nothing is deleted.
        </DisableToggle>
      </Table.Td>
    </>
  );
}

export default function Orgs() {
  const [filter, setFilter] = useState("");
  const list = useCursorList<AdminOrg>(ORGS_KEY, "/api/v1/orgs", 100);
  const f = filter.trim().toLowerCase();
  const shown = f ? list.items.filter((o) => o.slug.includes(f) || o.name.toLowerCase().includes(f)) : list.items;
  return (
    <Stack gap="md">
      <CreateOrgForm onCreated={() => list.refetch()} />
      <Title order={2} size="h3">
        Organisations
      </Title>
      <TextInput
        label="Filter"
        placeholder="slug or name"
        value={filter}
        onChange={(e) => setFilter(e.currentTarget.value)}
        maw={320}
      />
      <ListTable
        list={{ ...list, items: shown }}
        label="Organisations"
        empty={f ? { title: "No organisation matches", hint: "Clear the filter or load more." } : { title: "No organisations yet", hint: "Create one above." }}
        headers={["Slug", "Name", "Members", "Status", "Actions"]}
        row={(o) => <OrgCells o={o} reload={() => list.refetch()} />}
      />
    </Stack>
  );
}
