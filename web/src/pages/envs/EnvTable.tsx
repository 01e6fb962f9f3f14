// A list of environments, live: state (QUEUED with why), app, uptime, idle time, and what can be
// done with each: open (a new tab), share (its owner), stop (with a confirmation).
import { Button, Group, SegmentedControl, Stack, Table, Text } from "@mantine/core";
import { useEffect, useState } from "react";
import type { Env } from "../../api/envs";
import { shortDigest } from "../../api/images";
import { useMe } from "../../auth/session";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { EnvStateBadge } from "./EnvStateBadge";
import { idle, isActive, mergeLive, uptime } from "./envState";
import { OpenEnvButton } from "./LaunchProgress";
import { ShareDialog } from "./ShareDialog";
import { StopButton } from "./StopButton";
import { TableHead } from "./TableHead";

// Now, every `ms`: the durations shown move without asking the server anything.
function useNow(ms = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

// What an environment runs with: its image (name and digest), GPUs, datasets, secrets' names and
// the project's files.
function EnvRuns({ env }: { env: Env }) {
  const parts: string[] = [];
  if (env.gpus) parts.push(`${env.gpus} GPU${env.gpus > 1 ? "s" : ""}`);
  if (env.datasets?.length) parts.push(`data: ${env.datasets.map((d) => `${d.name}@${d.version}`).join(", ")}`);
  if (env.secrets?.length) parts.push(`secrets: ${env.secrets.join(", ")}`);
  if (env.files) parts.push(`files at ${env.files.path}${env.files.prefix ? ` (${env.files.prefix})` : ""}`);
  if (env.image === undefined && parts.length === 0) return null;
  return (
    <Text size="xs" c="dimmed" style={{ overflowWrap: "anywhere" }}>
      {env.image === undefined ? null : env.image === null ? "host system" : (
        <>
          image {env.image.name ? `${env.image.name} ` : ""}
          <span className="mono" title={env.image.digest}>
            {shortDigest(env.image.digest)}
          </span>
        </>
      )}
      {env.image !== undefined && parts.length ? " · " : ""}
      {parts.join(" · ")}
    </Text>
  );
}

function Row({ env, now, mine, onShare }: { env: Env; now: number; mine: boolean; onShare: (e: Env) => void }) {
  return (
    <Table.Tr>
      <Table.Td>
        <Text fw={600} size="sm">
          {env.app}
        </Text>
        <Text size="xs" c="dimmed" className="mono">
          {env.id}
        </Text>
        <EnvRuns env={env} />
      </Table.Td>
      <Table.Td>
        <EnvStateBadge state={env.state} reason={env.reason} showReason />
      </Table.Td>
      <Table.Td>{uptime(env, now)}</Table.Td>
      <Table.Td>{idle(env, now)}</Table.Td>
      <Table.Td>
        <Group gap={6} wrap="nowrap">
          {env.state === "READY" ? <OpenEnvButton env={env} size="xs" /> : null}
          {env.state === "READY" && mine ? (
            <Button size="xs" variant="default" onClick={() => onShare(env)} aria-label={`Share ${env.app} ${env.id}`}>
              Share
            </Button>
          ) : null}
          {isActive(env) && env.state !== "STOPPING" ? <StopButton env={env} /> : null}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

export function EnvTable({
  queryKey,
  path,
  live,
  emptyHint,
}: {
  queryKey: readonly unknown[];
  path: string; // the list's API path, without active=
  live: ReadonlyMap<string, Env>;
  emptyHint: React.ReactNode;
}) {
  const me = useMe();
  const now = useNow();
  const [show, setShow] = useState<"active" | "all">("active");
  const list = useCursorList<Env>([...queryKey, show], show === "active" ? `${path}?active=true` : path);
  const [sharing, setSharing] = useState<Env | null>(null);
  // Those that ended while this page watched stay, with their last state, until the list is reloaded.
  const items = mergeLive(list.items, live);
  return (
    <Stack gap="xs">
      <SegmentedControl
        aria-label="Which environments"
        value={show}
        onChange={(v) => setShow(v as "active" | "all")}
        data={[
          { value: "active", label: "Running" },
          { value: "all", label: "All" },
        ]}
        style={{ alignSelf: "flex-start" }}
      />
      {list.isPending ? <Loading label="Loading environments" /> : null}
      <ErrorAlert error={list.error} title="The environments could not be loaded" />
      {!list.isPending && !list.error && !items.length ? (
        <EmptyState title={show === "active" ? "No environment is running" : "No environments yet"}>{emptyHint}</EmptyState>
      ) : null}
      {items.length ? (
        <Table.ScrollContainer minWidth={640} type="native" tabIndex={0} role="region" aria-label="Environments table, scrolls sideways">
          <Table aria-label="Environments" verticalSpacing="xs">
            <TableHead columns={["App", "State", "Up", "Idle"]} />
            <Table.Tbody>
              {items.map((e) => (
                <Row key={e.id} env={e} now={now} mine={e.user_id === me.id} onShare={setSharing} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
      {sharing ? <ShareDialog env={sharing} opened onClose={() => setSharing(null)} /> : null}
    </Stack>
  );
}
