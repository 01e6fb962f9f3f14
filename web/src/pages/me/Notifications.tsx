// /me/notifications: which notifications come by mail (a job's end for jobs that ask for it, an
// environment about to be stopped, a quota nearly used up) and the language of the mails. Saved
// with the version it was loaded at (If-Match): a change made elsewhere is shown with a reload.
import { Alert, Button, Checkbox, Group, Loader, NativeSelect, Paper, Stack, Text, Title } from "@mantine/core";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { fetchJson } from "../../api/client";
import type { NotificationKind, NotificationPrefs } from "../../api/me";
import { ErrorAlert } from "../../components/ErrorAlert";
import { ChangedElsewhere, Saved, useSaveForm } from "./saveForm";

const KEY = ["me", "notifications"];
const URL = "/api/v1/me/notifications";

const KINDS: { kind: NotificationKind; label: string; hint: string }[] = [
  { kind: "job_end", label: "Jobs", hint: "When a job submitted with “notify” ends or fails." },
  { kind: "env_cull_warning", label: "Environments", hint: "Shortly before an idle environment, or one at its maximum uptime, is stopped." },
  { kind: "quota_near_limit", label: "Quotas", hint: "When a storage or CPU-hours quota is 90 % used (once per period)." },
];

const LANGUAGES: Record<string, string> = { en: "English", de: "Deutsch" };

export default function Notifications() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: KEY, queryFn: () => fetchJson<NotificationPrefs>(URL) });
  const [email, setEmail] = useState<Record<string, boolean>>({});
  const [locale, setLocale] = useState<string>("");
  const { error, setError, busy, saved, conflict, submit } = useSaveForm(async () => {
    if (!q.data) return;
    const kinds = Object.fromEntries(Object.entries(email).map(([k, v]) => [k, { email: v }]));
    const p = await fetchJson<NotificationPrefs>(URL, {
      method: "PUT",
      headers: { "If-Match": q.data.etag },
      body: JSON.stringify({ locale: locale || null, kinds }),
    });
    qc.setQueryData(KEY, p);
  });

  const take = (p: NotificationPrefs) => {
    setEmail(Object.fromEntries(Object.entries(p.kinds).map(([k, v]) => [k, v.email])));
    setLocale(p.locale ?? "");
  };
  useEffect(() => {
    if (q.data) take(q.data);
  }, [q.data]);

  if (q.isPending) return <Loader aria-label="Loading notification settings" />;
  if (q.isError) return <ErrorAlert error={q.error} title="Could not load the notification settings" />;
  const prefs = q.data;

  const reload = async () => {
    setError(null);
    await qc.invalidateQueries({ queryKey: KEY });
  };

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="notifications-title">
      <form onSubmit={submit}>
        <Stack maw={560}>
          <Title order={2} size="h3" id="notifications-title">
            Notifications
          </Title>
          {prefs.mail_enabled ? null : (
            <Alert color="gray" variant="light" title="Mail is not set up" role="note">
              This server sends no mail yet; your choices apply once an administrator sets it up.
            </Alert>
          )}
          <Text size="sm" c="dimmed">
            Mails go to the address in your profile. Invitations and password resets always come.
          </Text>
          {conflict ? (
            <ChangedElsewhere
              text="Your notification settings were changed elsewhere. Reload them, then make your change again."
              reloadLabel="Reload notification settings"
              onReload={reload}
            />
          ) : (
            <ErrorAlert error={error} title="Could not save the notification settings" />
          )}
          {saved ? <Saved what="Notification settings" /> : null}
          <Stack gap="sm" role="group" aria-label="Send me a mail about">
            {KINDS.map((k) => (
              <Checkbox
                key={k.kind}
                label={k.label}
                description={k.hint}
                checked={email[k.kind] ?? true}
                onChange={(e) => {
                  const on = e.currentTarget.checked;
                  setEmail((m) => ({ ...m, [k.kind]: on }));
                }}
              />
            ))}
          </Stack>
          <NativeSelect
            label="Language of mails"
            data={[
              { value: "", label: "Server default" },
              ...prefs.locales.map((l) => ({ value: l, label: LANGUAGES[l] ?? l })),
            ]}
            value={locale}
            onChange={(e) => setLocale(e.currentTarget.value)}
          />
          <Group>
            <Button type="submit" loading={busy}>
              Save notification settings
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
