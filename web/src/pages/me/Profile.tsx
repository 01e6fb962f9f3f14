// /me: my profile: display name and email. The update names the version it was made from
// (If-Match): a change made elsewhere meanwhile is shown, with a reload, instead of overwritten.
import { Button, Group, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import type { User } from "../../api/types";
import { ME_KEY, useMe, useSession } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { VerifyEmailPrompt } from "./VerifyEmailPrompt";
import { ChangedElsewhere, Saved, useSaveForm } from "./saveForm";

const FIELDS = ["display_name", "email"] as const;

export default function Profile() {
  const me = useMe();
  const { refresh } = useSession();
  const qc = useQueryClient();
  const [displayName, setDisplayName] = useState(me.display_name);
  const [email, setEmail] = useState(me.email);
  const { error, setError, busy, saved, conflict, submit } = useSaveForm(async () => {
    const u = await fetchJson<User>(`/api/v1/users/${encodeURIComponent(me.id)}`, {
      method: "PATCH",
      headers: { "If-Match": me.etag },
      body: JSON.stringify({ display_name: displayName, email }),
    });
    qc.setQueryData(ME_KEY, { ...me, ...u });
  });
  const split = splitError(conflict ? null : error, FIELDS);

  // Takes what the server has now (the form shows it), dropping this form's edits.
  const reload = async () => {
    const r = (await refresh()) as { data?: User | null };
    if (r.data) {
      setDisplayName(r.data.display_name);
      setEmail(r.data.email);
    }
    setError(null);
  };

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="profile-title">
      <form onSubmit={submit}>
        <Stack maw={480}>
          <Title order={2} size="h3" id="profile-title">
            Profile
          </Title>
          <Text size="sm" c="dimmed">
            Signed in as <strong>{me.username}</strong>
            {me.instance_admin ? " (instance administrator)" : ""}. The username cannot be changed.
          </Text>
          {conflict ? (
            <ChangedElsewhere
              text="Your profile was changed elsewhere since this page loaded. Reload it, then make your change again."
              reloadLabel="Reload profile"
              onReload={reload}
            />
          ) : (
            <ErrorAlert error={split.general} title="Could not save the profile" />
          )}
          {me.email && !me.email_verified && !saved ? <VerifyEmailPrompt email={me.email} /> : null}
          {saved ? <Saved what="Profile" /> : null}
          <TextInput
            label="Display name"
            autoComplete="name"
            value={displayName}
            onChange={(e) => setDisplayName(e.currentTarget.value)}
            error={split.fields.display_name}
          />
          <TextInput
            label="Email"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={split.fields.email}
          />
          <Group>
            <Button type="submit" loading={busy}>
              Save profile
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
