// /orgs/{org}/quotas: the org's, its groups' and its users' limits (storage, CPU-hours per period,
// concurrent jobs and environments), each with a bar of its use; an administrator with
// quotas:write sets them (If-Match; "changed meanwhile" on a 412).
import { Button, Group, Select, Stack, Table, Text, Title, VisuallyHidden } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { listAll } from "../../api/client";
import { COUNTED, getQuota, LIMIT_LABEL, listQuotas, type Quota, type QuotaKind } from "../../api/quotas";
import { canInOrg } from "../../auth/can";
import { useMe } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { OrgPage, useOrgSlug } from "./OrgAdminLayout";
import { UsageBar } from "./QuotaBars";
import { QuotaEditor } from "./QuotaEditor";

interface Named {
  id: string;
  name: string;
}

// Groups' and members' names (when the caller may list them): the quotas name subjects by id.
function useSubjects(org: string, canGroups: boolean, canMembers: boolean) {
  const groups = useQuery({
    queryKey: ["orgadmin", org, "groups", "all"],
    enabled: canGroups,
    queryFn: () =>
      listAll<{ id: string; name: string; slug: string }>(`/api/v1/orgs/${encodeURIComponent(org)}/groups`).then(
        (gs) => gs.map((g): Named => ({ id: g.id, name: g.name || g.slug })),
      ),
  });
  const members = useQuery({
    queryKey: ["orgadmin", org, "members", "all"],
    enabled: canMembers,
    queryFn: () =>
      listAll<{ user_id: string; username: string }>(`/api/v1/orgs/${encodeURIComponent(org)}/members`).then((ms) =>
        ms.map((m): Named => ({ id: m.user_id, name: m.username })),
      ),
  });
  return { groups: groups.data ?? [], members: members.data ?? [] };
}

function subjectText(q: Pick<Quota, "kind" | "subject_id">, orgName: string, names: Map<string, string>): string {
  if (q.kind === "org") return `Organisation ${orgName}`;
  const n = names.get(q.subject_id) ?? q.subject_id;
  return q.kind === "group" ? `Group ${n}` : `User ${n}`;
}

// Picks a group or member and opens its limits (set or not).
function AddQuota({
  org,
  groups,
  members,
  onOpen,
}: {
  org: string;
  groups: Named[];
  members: Named[];
  onOpen: (q: Quota) => void;
}) {
  const [kind, setKind] = useState<QuotaKind>("user");
  const [subject, setSubject] = useState<string | null>(null);
  const open = useMutation({ mutationFn: () => getQuota(org, kind, subject ?? ""), onSuccess: onOpen });
  const options = (kind === "group" ? groups : members).map((s) => ({ value: s.id, label: s.name }));
  return (
    <Stack gap={4}>
      <Group align="flex-end" gap="sm" wrap="wrap">
        <Select
          label="Set limits for a"
          data={[
            { value: "user", label: "User" },
            { value: "group", label: "Group" },
          ]}
          value={kind}
          allowDeselect={false}
          onChange={(v) => {
            setKind((v as QuotaKind) ?? "user");
            setSubject(null);
          }}
          w={120}
        />
        <Select
          label={kind === "group" ? "Group" : "Member"}
          placeholder={kind === "group" ? "Pick a group" : "Pick a member"}
          data={options}
          searchable
          value={subject}
          onChange={(v) => setSubject(v === null ? null : String(v))}
          nothingFoundMessage="None found"
          w={260}
        />
        <Button variant="default" disabled={!subject} loading={open.isPending} onClick={() => open.mutate()}>
          Set limits
        </Button>
      </Group>
      <ErrorAlert error={open.error} title="Could not open the limits" />
    </Stack>
  );
}

function QuotasBody() {
  const me = useMe();
  const org = useOrgSlug();
  const qc = useQueryClient();
  const key = ["orgadmin", org, "quotas"];
  const quotas = useQuery({ queryKey: key, queryFn: () => listQuotas(org) });
  const canWrite = canInOrg(me, org, "quotas:write");
  const { groups, members } = useSubjects(
    org,
    canInOrg(me, org, "groups:read"),
    canInOrg(me, org, "members:read"),
  );
  const names = new Map([...groups, ...members].map((s) => [s.id, s.name]));
  const orgName = me.orgs.find((o) => o.slug === org)?.name ?? org;
  const [editing, setEditing] = useState<Quota | null>(null);

  if (quotas.isPending) return <Loading label="Loading quotas" />;
  if (quotas.isError) return <ErrorAlert error={quotas.error} title="Could not load the quotas" />;
  return (
    <Stack component="section" aria-labelledby="quotas-title" gap="sm">
      <Title order={2} size="h3" id="quotas-title">
        Quotas
      </Title>
      <Text size="sm" c="dimmed">
        Limits on what the organisation, each group and each user may use; the tightest that applies wins. A bar
        turns red when use is over its limit: new work is refused until it falls.
      </Text>
      {canWrite ? <AddQuota org={org} groups={groups} members={members} onOpen={setEditing} /> : null}
      <Table.ScrollContainer minWidth={800}>
        <Table striped verticalSpacing="xs" aria-label="Quotas and their use">
          <Table.Caption>Limits and current use; “unlimited” where none is set.</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Applies to</Table.Th>
              {COUNTED.map((k) => (
                <Table.Th scope="col" key={k}>
                  {LIMIT_LABEL[k]}
                </Table.Th>
              ))}
              {canWrite ? (
                <Table.Th scope="col">
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              ) : null}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {quotas.data.map((q) => {
              const who = subjectText(q, orgName, names);
              return (
                <Table.Tr key={`${q.kind}/${q.subject_id}`}>
                  <Table.Th scope="row">{who}</Table.Th>
                  {COUNTED.map((k) => (
                    <Table.Td key={k}>
                      <UsageBar quota={q} what={k} />
                    </Table.Td>
                  ))}
                  {canWrite ? (
                    <Table.Td>
                      <Button size="xs" variant="default" onClick={() => setEditing(q)} aria-label={`Edit limits of ${who}`}>
                        Edit
                      </Button>
                    </Table.Td>
                  ) : null}
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {editing ? (
        <QuotaEditor
          org={org}
          quota={editing}
          subject={subjectText(editing, orgName, names)}
          onClose={() => setEditing(null)}
          onSaved={() => void qc.invalidateQueries({ queryKey: key })}
        />
      ) : null}
    </Stack>
  );
}

export default function Quotas() {
  return (
    <OrgPage perm="quotas:read" what="see this organisation's quotas">
      <QuotasBody />
    </OrgPage>
  );
}
