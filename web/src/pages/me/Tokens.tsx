// /me/tokens: my API tokens (for git, the CLI and scripts): make one, list them, revoke one.
import { Button, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { TokenRow } from "../../api/me";
import { ErrorAlert } from "../../components/ErrorAlert";
import { when } from "./device";
import { NewToken } from "./NewToken";
import { OwnList, useEnd } from "./OwnList";
import { describeScopes } from "./scopes";

function TokenItem({ t, onRevoked }: { t: TokenRow; onRevoked: () => unknown }) {
  const [confirming, setConfirming] = useState(false);
  const { busy, error, end: revoke } = useEnd(`/api/v1/tokens/${encodeURIComponent(t.id)}`, t.etag, onRevoked);
  return (
    <Paper withBorder p="sm" component="li" aria-label={`Token ${t.name}`}>
      <Stack gap={4}>
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Text fw={600}>{t.name}</Text>
          {confirming ? (
            <Group gap="xs">
              <Text size="sm">Revoke “{t.name}”? Programs using it stop working.</Text>
              <Button size="xs" color="red" loading={busy} onClick={() => void revoke()}>
                Revoke now
              </Button>
              <Button size="xs" variant="default" onClick={() => setConfirming(false)} disabled={busy}>
                Keep it
              </Button>
            </Group>
          ) : (
            <Button size="xs" variant="default" color="red" onClick={() => setConfirming(true)}
                    aria-label={`Revoke token ${t.name}`}>
              Revoke
            </Button>
          )}
        </Group>
        <Text size="sm">May do: {describeScopes(t.scopes)}</Text>
        <Text size="sm" c="dimmed">
          Created {when(t.created_at)} · expires {t.expires_at ? when(t.expires_at) : "never"} · last used{" "}
          {when(t.last_used_at)}
        </Text>
        <ErrorAlert error={error} title="Could not revoke the token" />
      </Stack>
    </Paper>
  );
}

export default function Tokens() {
  const qc = useQueryClient();
  return (
    <Stack component="section" aria-labelledby="tokens-title">
      <Title order={2} size="h3" id="tokens-title">
        API tokens
      </Title>
      <Text size="sm" c="dimmed">
        Tokens let git, the <code>atrium</code> command and your scripts act as you, within the scopes you choose.
      </Text>
      <NewToken onCreated={() => qc.invalidateQueries({ queryKey: ["me", "tokens"] })} />
      <Title order={3} size="h4">
        Your tokens
      </Title>
      <OwnList<TokenRow>
        what="tokens"
        path="/api/v1/tokens"
        empty={{ title: "No tokens yet", hint: "Create one above to use git or the command line." }}
        item={(t, refetch) => <TokenItem key={t.id} t={t} onRevoked={refetch} />}
      />
    </Stack>
  );
}
