// /admin/apps: the app catalog. Every app with its resources, timeouts, network and who may use
// it; add a web app, tune any app (built-ins too), remove an added app or put a built-in back to
// its shipped settings.
import { Badge, Button, Group, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { adminKeys, deleteApp, listCatalog, type CatalogApp, type Org } from "../../api/adminCompute";
import { listAll } from "../../api/client";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { duration } from "../envs/envState";
import { TableHead } from "../envs/TableHead";
import { AppForm } from "./AppForm";

const hours = (s: number) => (s === 0 ? "none" : duration(s * 1000));

function who(a: CatalogApp, orgs: Org[]): string {
  if (!a.enabled) return "Disabled";
  if (a.orgs === null) return "Every organisation";
  if (a.orgs.length === 0) return "No organisation";
  return a.orgs.map((id) => orgs.find((o) => o.id === id)?.slug ?? id).join(", ");
}

function Row({ a, orgs, onEdit, onRemove }: { a: CatalogApp; orgs: Org[]; onEdit: () => void; onRemove: () => void }) {
  const changedBuiltin = a.builtin && a.etag !== '"0"';
  return (
    <Table.Tr data-app={a.name}>
      <Table.Td>
        <Group gap={6}>
          <Text fw={600} size="sm">
            {a.name}
          </Text>
          <Badge size="xs" variant="light" color={a.builtin ? "gray" : "blue"}>
            {a.builtin ? "built-in" : a.kind}
          </Badge>
        </Group>
        <Text size="xs" c="dimmed">
          {a.title}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="xs">
          {a.defaults.cpus} CPU · {a.defaults.mem_mb} MB · {hours(a.defaults.time_limit_s)}
        </Text>
        <Text size="xs" c="dimmed">
          up to {a.max.cpus} CPU · {a.max.mem_mb} MB · {hours(a.max.time_limit_s)}
          {a.max_gpus ? ` · ${a.max_gpus} GPU` : ""}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="xs">idle {a.idle_timeout_s ? duration(a.idle_timeout_s * 1000) : "never"}</Text>
        <Text size="xs">uptime {hours(a.max_uptime_s)}</Text>
        {Object.keys(a.per_org).length ? (
          <Text size="xs" c="dimmed">
            {Object.keys(a.per_org).length} org(s) with their own
          </Text>
        ) : null}
      </Table.Td>
      <Table.Td>{a.network}</Table.Td>
      <Table.Td data-who>{who(a, orgs)}</Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Button size="xs" variant="default" onClick={onEdit} aria-label={`Edit ${a.name}`}>
            Edit
          </Button>
          {!a.builtin || changedBuiltin ? (
            <Button size="xs" variant="light" color="red" onClick={onRemove} aria-label={`${a.builtin ? "Reset" : "Remove"} ${a.name}`}>
              {a.builtin ? "Reset" : "Remove"}
            </Button>
          ) : null}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

export default function Apps() {
  const apps = useQuery({ queryKey: adminKeys.apps, queryFn: listCatalog });
  const orgs = useQuery({ queryKey: adminKeys.orgs, queryFn: () => listAll<Org>("/api/v1/orgs") });
  const [editing, setEditing] = useState<CatalogApp | "new" | null>(null);
  const [removing, setRemoving] = useState<CatalogApp | null>(null);
  const [search, setSearch] = useState("");
  const orgList = orgs.data ?? [];
  const needle = search.trim().toLowerCase();
  const shown = (apps.data?.items ?? []).filter((a) => !needle || a.name.includes(needle) || a.title.toLowerCase().includes(needle));
  return (
    <Stack gap="sm">
      <Group justify="space-between" align="end">
        <Title order={2}>App catalog</Title>
        <Group align="end">
          <TextInput label="Search apps" value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={220} />
          <Button onClick={() => setEditing("new")}>Add a web app</Button>
        </Group>
      </Group>
      <ErrorAlert error={apps.error ?? orgs.error} title="The catalog could not be loaded" />
      {apps.isPending ? (
        <Loading label="Loading the catalog" />
      ) : shown.length === 0 ? (
        <EmptyState title="No apps">{needle ? "No app matches the search." : "Add a web app to offer it to the organisations."}</EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={860}>
          <Table aria-label="App catalog" striped highlightOnHover>
            <TableHead columns={["App", "Resources (default, maximum)", "Timeouts", "Network", "Who may use it"]} />
            <Table.Tbody>
              {shown.map((a) => (
                <Row key={a.name} a={a} orgs={orgList} onEdit={() => setEditing(a)} onRemove={() => setRemoving(a)} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {editing ? (
        <AppForm
          key={editing === "new" ? "new" : editing.name}
          app={editing === "new" ? null : editing}
          orgs={orgList}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void apps.refetch();
          }}
        />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={removing.builtin ? `Reset ${removing.name}?` : `Remove ${removing.name}?`}
          confirm={removing.builtin ? "Reset to shipped settings" : "Remove app"}
          failed="It was not changed"
          action={() => deleteApp(removing.name).then(() => apps.refetch())}
          onClose={() => setRemoving(null)}
        >
          {removing.builtin
            ? "The built-in app goes back to the settings it shipped with; your changes to it are lost."
            : "The app leaves the catalog: nobody can launch it any more. Environments already running keep running."}
        </ConfirmDialog>
      ) : null}
    </Stack>
  );
}
