// /orgs/{org}/audit: the org's audit trail, newest first, with filters (actor, action, target, time range) kept in
// the address, paged with the API's cursor, exported as NDJSON with the same filters, and the hash
// chain's verification: the org's events and their links for its administrators, the whole chain
// as well for instance administrators.
import { Button, Code, Group, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { auditQuery, exportUrl, FILTER_KEYS, summaryText, type AuditEvent, type AuditFilters } from "../../api/audit";
import { useOrg } from "../../api/orgadmin";
import { useMe } from "../../auth/session";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { ChainCheck } from "./ChainCheck";

function filtersOf(p: URLSearchParams): AuditFilters {
  const f = {} as AuditFilters;
  for (const k of FILTER_KEYS) f[k] = p.get(k) ?? "";
  return f;
}

function FilterForm({ value, onApply }: { value: AuditFilters; onApply: (f: AuditFilters) => void }) {
  const [draft, setDraft] = useState<AuditFilters>(value);
  const set = (k: keyof AuditFilters) => (e: React.ChangeEvent<HTMLInputElement>) => {
    const v = e.currentTarget.value;
    setDraft((d) => ({ ...d, [k]: v }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft);
  };
  const clear = () => {
    const none = { actor: "", action: "", target: "", since: "", until: "" };
    setDraft(none);
    onApply(none);
  };
  return (
    <form onSubmit={submit} aria-label="Filter the events">
      <Group align="flex-end" gap="sm" wrap="wrap">
        <TextInput label="Actor" description="username or user id" value={draft.actor} onChange={set("actor")} w={180} />
        <TextInput
          label="Action"
          description="e.g. quota.exceeded, or project.*"
          value={draft.action}
          onChange={set("action")}
          w={200}
        />
        <TextInput label="Target" description="the object's id" value={draft.target} onChange={set("target")} w={200} />
        <TextInput type="datetime-local" label="From" description="local time" value={draft.since} onChange={set("since")} />
        <TextInput type="datetime-local" label="Until" description="local time" value={draft.until} onChange={set("until")} />
        <Button type="submit">Filter</Button>
        <Button variant="default" onClick={clear}>
          Clear
        </Button>
      </Group>
    </form>
  );
}

function EventTable({ orgId, filters }: { orgId: string; filters: AuditFilters }) {
  const q = auditQuery(orgId, filters);
  const list = useCursorList<AuditEvent>(["audit", q], withQuery("/api/v1/audit/events", q), 50);
  if (list.isPending) return <Loading label="Loading events" />;
  if (list.isError) return <ErrorAlert error={list.error} title="Could not load the events" />;
  if (list.items.length === 0)
    return <EmptyState title="No events">No event of this organisation matches the filters.</EmptyState>;
  return (
    <>
      <Table.ScrollContainer minWidth={900}>
        <Table striped verticalSpacing="xs" aria-label="Audit events">
          <Table.Caption>Newest first; each event's hash links it to the one before.</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">#</Table.Th>
              <Table.Th scope="col">Time</Table.Th>
              <Table.Th scope="col">Actor</Table.Th>
              <Table.Th scope="col">Action</Table.Th>
              <Table.Th scope="col">Target</Table.Th>
              <Table.Th scope="col">Details</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.items.map((e) => (
              <Table.Tr key={e.seq}>
                <Table.Td>{e.seq}</Table.Td>
                <Table.Td>
                  <time dateTime={e.time}>{new Date(e.time).toLocaleString()}</time>
                </Table.Td>
                <Table.Td>{e.actor ?? "(anonymous)"}</Table.Td>
                <Table.Td>
                  <Code>{e.action}</Code>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">
                    {e.target_kind} <Code>{e.target_id}</Code>
                  </Text>
                </Table.Td>
                <Table.Td maw={420}>
                  <Text size="xs" style={{ overflowWrap: "anywhere" }}>
                    {summaryText(e.summary)}
                  </Text>
                  <Text size="xs" c="dimmed">
                    from {e.client_ip} · request {e.request_id}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <LoadMore {...list} />
    </>
  );
}

function AuditBody() {
  const me = useMe();
  const org = useOrgSlug();
  const [params, setParams] = useSearchParams();
  const filters = filtersOf(params);
  // The API filters by the org's id; the page's address has its slug.
  const o = useOrg(org);
  const apply = (f: AuditFilters) => {
    const next = new URLSearchParams();
    for (const k of FILTER_KEYS) if (f[k]) next.set(k, f[k]);
    setParams(next, { replace: true });
  };
  if (o.isPending) return <Loading label="Loading the organisation" />;
  if (o.isError) return <ErrorAlert error={o.error} title="Could not load the organisation" />;
  return (
    <Stack component="section" aria-labelledby="audit-title" gap="sm">
      <Group justify="space-between" align="flex-end">
        <Title order={2} size="h3" id="audit-title">
          Audit trail
        </Title>
        <Button component="a" variant="default" href={exportUrl(o.data.id, filters)} download="audit.ndjson">
          Export NDJSON
        </Button>
      </Group>
      <Text size="sm" c="dimmed">
        Every change in this organisation, and every request a quota refused, with who made it and from where.
      </Text>
      <ChainCheck orgId={o.data.id} instanceAdmin={me.instance_admin} />
      <FilterForm key={params.toString()} value={filters} onApply={apply} />
      <EventTable orgId={o.data.id} filters={filters} />
    </Stack>
  );
}

export default function Audit() {
  return (
    <OrgPage perm="audit:read" what="read this organisation's audit trail">
      <AuditBody />
    </OrgPage>
  );
}
