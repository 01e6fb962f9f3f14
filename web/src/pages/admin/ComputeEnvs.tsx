// Every org's environments (GET /api/v1/admin/envs): app, org, owner, state, uptime and idle
// time, and a stop button (with a confirmation) on each running one.
import { Group, SegmentedControl, Stack, Table, Text, Title } from "@mantine/core";
import { useState } from "react";
import { adminKeys, envsPath, type AdminEnv } from "../../api/adminCompute";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { EnvStateBadge } from "../envs/EnvStateBadge";
import { duration, isActive } from "../envs/envState";
import { StopButton } from "../envs/StopButton";
import { TableHead } from "../envs/TableHead";
import { useRefetchEvery } from "./useRefetchEvery";

const secs = (s: number | null) => (s === null || s === undefined ? "—" : duration(s * 1000));

function Row({ e, onStopped }: { e: AdminEnv; onStopped: () => void }) {
  return (
    <Table.Tr data-env={e.id}>
      <Table.Td>
        <Text fw={600} size="sm">
          {e.app}
        </Text>
        <Text size="xs" c="dimmed" className="mono">
          {e.id}
        </Text>
        <Text size="xs" c="dimmed">
          {e.cpus} CPU · {e.mem_mb} MB{e.gpus ? ` · ${e.gpus} GPU` : ""}
        </Text>
      </Table.Td>
      <Table.Td>{e.org?.slug ?? e.org_id}</Table.Td>
      <Table.Td data-owner>{e.owner.username ?? e.user_id}</Table.Td>
      <Table.Td>
        <EnvStateBadge state={e.state} reason={e.reason} showReason />
      </Table.Td>
      <Table.Td>{secs(e.uptime_s)}</Table.Td>
      <Table.Td>{e.state === "READY" ? secs(e.idle_s) : "—"}</Table.Td>
      <Table.Td>{isActive(e) && e.state !== "STOPPING" ? <StopButton env={e} onStopped={onStopped} /> : null}</Table.Td>
    </Table.Tr>
  );
}

export function ComputeEnvs() {
  const [which, setWhich] = useState("active");
  const active = which === "active";
  const list = useCursorList<AdminEnv>(adminKeys.envs(active), withQuery(envsPath, { active: String(active) }), 100);
  useRefetchEvery(list.refetch);
  return (
    <Stack gap="sm">
      <Group justify="space-between" align="end">
        <Title order={2}>Environments</Title>
        <SegmentedControl
          aria-label="Which environments"
          value={which}
          onChange={(v) => setWhich(String(v))}
          data={[
            { value: "active", label: "Running" },
            { value: "all", label: "All" },
          ]}
        />
      </Group>
      <ErrorAlert error={list.error} title="The environments could not be loaded" />
      {list.isPending ? (
        <Loading label="Loading the environments" />
      ) : list.items.length === 0 ? (
        <EmptyState title="No environments">{active ? "No environment is running in any organisation." : "No environment was ever launched."}</EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={760}>
          <Table aria-label="Environments across organisations" striped highlightOnHover>
            <TableHead columns={["App", "Org", "Owner", "State", "Uptime", "Idle"]} />
            <Table.Tbody>
              {list.items.map((e) => (
                <Row key={e.id} e={e} onStopped={() => void list.refetch()} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <LoadMore {...list} />
    </Stack>
  );
}
