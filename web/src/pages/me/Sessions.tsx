// /me/sessions: where I am signed in. This session is marked; any other can be ended (with the
// version it was listed at: If-Match).
import { Badge, Button, Group, Paper, Stack, Text, Title } from "@mantine/core";
import type { SessionRow } from "../../api/me";
import { ErrorAlert } from "../../components/ErrorAlert";
import { deviceName, when } from "./device";
import { OwnList, useEnd } from "./OwnList";

function SessionItem({ s, onRevoked }: { s: SessionRow; onRevoked: () => unknown }) {
  const { busy, error, end } = useEnd(`/api/v1/auth/sessions/${encodeURIComponent(s.id)}`, s.etag, onRevoked);
  const name = deviceName(s.user_agent);
  return (
    <Paper withBorder p="sm" component="li" aria-label={`${name}${s.current ? " (this session)" : ""}`}>
      <Stack gap={4}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Group gap="xs">
            <Text fw={600}>{name}</Text>
            {s.current ? <Badge variant="light">This session</Badge> : null}
          </Group>
          {s.current ? null : (
            <Button size="xs" variant="default" color="red" loading={busy} onClick={() => void end()}
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
  return (
    <Stack component="section" aria-labelledby="sessions-title">
      <Title order={2} size="h3" id="sessions-title">
        Where you are signed in
      </Title>
      <Text size="sm" c="dimmed">
        End a session you do not recognise; to end all of them at once, use “Sign out everywhere” in the account
        menu. API tokens are not affected.
      </Text>
      <OwnList<SessionRow>
        what="sessions"
        path="/api/v1/auth/sessions"
        empty={{ title: "No sessions", hint: "Sign in from a browser and it is listed here." }}
        item={(s, refetch) => <SessionItem key={s.id} s={s} onRevoked={refetch} />}
      />
    </Stack>
  );
}
