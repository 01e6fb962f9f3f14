// /me/sessions: where I am signed in. This session is marked; any other can be ended (with the
// version it was listed at: If-Match).
import { Badge, Button, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import type { SessionRow } from "../../api/me";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { Loading } from "../../components/Loading";
import { deviceName, when } from "./device";

function SessionItem({ s, onRevoked }: { s: SessionRow; onRevoked: () => unknown }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const name = deviceName(s.user_agent);
  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      await fetchJson<void>(`/api/v1/auth/sessions/${encodeURIComponent(s.id)}`, {
        method: "DELETE",
        headers: { "If-Match": s.etag },
      });
      await onRevoked();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Paper withBorder p="sm" component="li" aria-label={`${name}${s.current ? " (this session)" : ""}`}>
      <Stack gap={4}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Group gap="xs">
            <Text fw={600}>{name}</Text>
            {s.current ? <Badge variant="light">This session</Badge> : null}
          </Group>
          {s.current ? null : (
            <Button size="xs" variant="default" color="red" loading={busy} onClick={() => void revoke()}
                    aria-label={`Sign out ${name} from ${s.client_ip}`}>
              Sign out this session
            </Button>
          )}
        </Group>
        <Text size="sm" c="dimmed">
          From {s.client_ip} · signed in {when(s.created_at)} · last active {when(s.last_seen_at)} · ends{" "}
          {when(s.expires_at)}
        </Text>
        <ErrorAlert error={error} title="Could not end the session" />
      </Stack>
    </Paper>
  );
}

export default function Sessions() {
  const list = useCursorList<SessionRow>(["me", "sessions"], "/api/v1/auth/sessions");
  return (
    <Stack component="section" aria-labelledby="sessions-title">
      <Title order={2} size="h3" id="sessions-title">
        Where you are signed in
      </Title>
      <Text size="sm" c="dimmed">
        End a session you do not recognise; to end all of them at once, use “Sign out everywhere” in the account
        menu. API tokens are not affected.
      </Text>
      {list.isPending ? <Loading label="Loading sessions" /> : null}
      <ErrorAlert error={list.error} title="Could not list your sessions" />
      {list.isSuccess && list.items.length === 0 ? (
        <EmptyState title="No sessions">Sign in from a browser and it is listed here.</EmptyState>
      ) : null}
      <Stack component="ul" gap="xs" p={0} m={0} style={{ listStyle: "none" }}>
        {list.items.map((s) => (
          <SessionItem key={s.id} s={s} onRevoked={() => list.refetch()} />
        ))}
      </Stack>
      <LoadMore {...list} />
    </Stack>
  );
}
