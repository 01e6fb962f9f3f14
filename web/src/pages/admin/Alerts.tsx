// /admin/alerts: what is firing now (polled), the rules (new, edit with If-Match, send a test,
// delete), and the history of firing, resolving and test events with each delivery's outcome.
import { Button, Group, Select, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import {
  ALERTS,
  alertKeys,
  condition,
  deleteRule,
  getCurrent,
  listRules,
  testRule,
  type AlertEvent,
  type AlertRule,
  type CurrentAlert,
} from "../../api/alerts";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { HeadRow } from "../data/bits";
import { formatTime } from "../data/format";
import { RuleForm, SecretShown } from "./AlertRuleForm";

// Only "firing" is coloured (dark red): lighter shades fail axe's contrast check under a modal's overlay.
const STATE_COLOR: Record<string, string> = { firing: "red.9" };

function StateBadge({ state }: { state: string }) {
  return (
    <Text size="sm" fw={600} c={STATE_COLOR[state]}>
      {state}
    </Text>
  );
}

const EVENT_STATE: Record<string, string> = { firing: "firing", resolved: "ok", test: "test" };

function value(v: number | null): string {
  return v === null ? "unknown" : String(Number(v.toPrecision(6)));
}

function FiringNow({ current }: { current: CurrentAlert[] }) {
  const active = current.filter((c) => c.state !== "ok");
  if (active.length === 0) return <EmptyState title="Nothing is firing">Every enabled rule is ok.</EmptyState>;
  return (
    <Table.ScrollContainer minWidth={640}>
      <Table aria-label="Alerts firing now" verticalSpacing={4}>
        <HeadRow cols={["Rule", "State", "Severity", "Condition", "Value now", "Since"]} />
        <Table.Tbody>
          {active.map((c) => (
            <Table.Tr key={c.rule_id}>
              <Table.Td>{c.name}</Table.Td>
              <Table.Td>
                <StateBadge state={c.state} />
              </Table.Td>
              <Table.Td>{c.severity}</Table.Td>
              <Table.Td className="mono">{condition(c)}</Table.Td>
              <Table.Td>{value(c.value)}</Table.Td>
              <Table.Td>{c.since ? formatTime(c.since) : ""}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function RuleActions({ rule, onEdit, onDelete }: { rule: AlertRule; onEdit: () => void; onDelete: () => void }) {
  const qc = useQueryClient();
  const test = useMutation({
    mutationFn: () => testRule(rule),
    onSettled: () => qc.invalidateQueries({ queryKey: alertKeys.all }),
  });
  return (
    <Stack gap={2}>
      <Group gap={4} wrap="nowrap">
        <Button size="compact-xs" variant="subtle" onClick={onEdit} aria-label={`Edit ${rule.name}`}>
          Edit
        </Button>
        <Button size="compact-xs" variant="subtle" loading={test.isPending} onClick={() => test.mutate()} aria-label={`Send a test of ${rule.name}`}>
          Send a test
        </Button>
        <Button size="compact-xs" variant="subtle" color="red" onClick={onDelete} aria-label={`Delete ${rule.name}`}>
          Delete
        </Button>
      </Group>
      {test.isSuccess ? (
        <Text size="xs" role="status">
          Test sent: see the history.
        </Text>
      ) : null}
      <ErrorAlert error={test.error} title="The test was not sent" />
    </Stack>
  );
}

function Rules({ rules, current }: { rules: AlertRule[]; current: CurrentAlert[] }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState<AlertRule | "new" | null>(null);
  const [deleting, setDeleting] = useState<AlertRule | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const stateOf = (id: string) => current.find((c) => c.rule_id === id)?.state ?? "ok";
  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Title order={3}>Rules</Title>
        <Button onClick={() => setEditing("new")}>New rule</Button>
      </Group>
      {rules.length === 0 ? (
        <EmptyState title="No alert rules yet">Add one: e.g. disk_free_ratio below 0.1 for 60 seconds.</EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={760}>
          <Table aria-label="Alert rules" verticalSpacing={4}>
            <HeadRow cols={["Name", "Condition", "Severity", "Channels", "Enabled", "State", "Actions"]} />
            <Table.Tbody>
              {rules.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>{r.name}</Table.Td>
                  <Table.Td className="mono">{condition(r)}</Table.Td>
                  <Table.Td>
                    <Text size="sm" fw={r.severity === "critical" ? 700 : 400}>
                      {r.severity}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">{r.emails.join(", ")}</Text>
                    {r.webhook_url ? <Text size="xs" c="dimmed">webhook {r.webhook_url}</Text> : null}
                  </Table.Td>
                  <Table.Td>{r.enabled ? "yes" : "no"}</Table.Td>
                  <Table.Td>
                    <StateBadge state={stateOf(r.id)} />
                  </Table.Td>
                  <Table.Td>
                    <RuleActions rule={r} onEdit={() => setEditing(r)} onDelete={() => setDeleting(r)} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {editing ? (
        <RuleForm rule={editing === "new" ? null : editing} onClose={() => setEditing(null)} onSecret={setSecret} />
      ) : null}
      {secret ? <SecretShown secret={secret} onClose={() => setSecret(null)} /> : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          confirm={`Delete ${deleting.name}`}
          failed="The rule was not deleted"
          action={async () => {
            await deleteRule(deleting);
            await qc.invalidateQueries({ queryKey: alertKeys.all });
          }}
          onClose={() => setDeleting(null)}
        >
          The rule stops being evaluated; its past events stay in the history.
        </ConfirmDialog>
      ) : null}
    </Stack>
  );
}

function deliveryText(e: AlertEvent): string {
  if (e.deliveries.length === 0) return "none";
  return e.deliveries
    .map((d) => `${d.channel}: ${d.state}${d.attempts > 1 ? ` (${d.attempts} tries)` : ""}${d.error ? ` (${d.error})` : ""}`)
    .join("; ");
}

function History() {
  const [kind, setKind] = useState<string | null>("");
  const list = useCursorList<AlertEvent>(alertKeys.events(kind ?? ""), withQuery(`${ALERTS}/events`, { kind: kind || undefined }), 25);
  return (
    <Stack gap="sm">
      <Group justify="space-between" align="flex-end">
        <Title order={3}>History</Title>
        <Select
          label="Events"
          data={[
            { value: "", label: "all" },
            { value: "firing", label: "firing" },
            { value: "resolved", label: "resolved" },
            { value: "test", label: "test" },
          ]}
          value={kind}
          onChange={(v) => setKind(v === null ? null : String(v))}
          allowDeselect={false}
          w={160}
        />
      </Group>
      <ErrorAlert error={list.error} title="The history could not be loaded" />
      {list.isPending ? <Loading label="Loading the history" /> : null}
      {!list.isPending && list.items.length === 0 ? <EmptyState title="No events yet" /> : null}
      {list.items.length > 0 ? (
        <Table.ScrollContainer minWidth={760}>
          <Table aria-label="Alert history" verticalSpacing={4}>
            <HeadRow cols={["Time", "Rule", "Event", "Condition", "Value", "Deliveries"]} />
            <Table.Tbody>
              {list.items.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td>{formatTime(e.at)}</Table.Td>
                  <Table.Td>{e.rule_name}</Table.Td>
                  <Table.Td>
                    <Text size="sm" fw={600} c={STATE_COLOR[EVENT_STATE[e.kind]]}>
                      {e.kind}
                    </Text>
                  </Table.Td>
                  <Table.Td className="mono">{condition({ ...e, for_s: 0 })}</Table.Td>
                  <Table.Td>{value(e.value)}</Table.Td>
                  <Table.Td>
                    <Text size="xs">{deliveryText(e)}</Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
    </Stack>
  );
}

export default function Alerts() {
  const qc = useQueryClient();
  const rules = useQuery({ queryKey: alertKeys.rules, queryFn: listRules });
  const current = useQuery({ queryKey: alertKeys.current, queryFn: getCurrent, refetchInterval: 2000 });
  // A state that changed made an event: the history is read again.
  const states = (current.data?.items ?? []).map((c) => `${c.rule_id}:${c.state}`).join(",");
  useEffect(() => {
    void qc.invalidateQueries({ queryKey: alertKeys.allEvents });
  }, [states, qc]);
  return (
    <Stack gap="lg">
      <Title order={2}>Alerts</Title>
      <Stack gap="sm">
        <Title order={3}>Firing now</Title>
        <ErrorAlert error={current.error} title="The alerts could not be loaded" />
        {current.data ? <FiringNow current={current.data.items} /> : <Loading label="Loading the alerts" />}
      </Stack>
      <ErrorAlert error={rules.error} title="The rules could not be listed" />
      {rules.data ? <Rules rules={rules.data} current={current.data?.items ?? []} /> : null}
      <History />
    </Stack>
  );
}
