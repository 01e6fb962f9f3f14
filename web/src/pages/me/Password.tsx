// /me/password: change my password (current + new). After a sign-in with a password the server
// generated (the first admin's), the app sends the user here first and then on to `next`.
import { Alert, Button, Paper, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import { goNext } from "../../auth/go";
import { ME_KEY, useMe } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { NewPasswordInput } from "../../components/NewPasswordInput";

const FIELDS = ["current", "next", "confirm"] as const;
const ALIASES = { current_password: "current", new_password: "next" };

export default function Password() {
  const me = useMe();
  const forced = !!me.must_change_password;
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [mismatch, setMismatch] = useState(false);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const split = splitError(error, FIELDS, ALIASES);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    if (next !== confirm) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    setBusy(true);
    try {
      await fetchJson<void>("/api/v1/auth/password", {
        method: "POST",
        body: JSON.stringify({ current_password: current, new_password: next }),
      });
      await qc.invalidateQueries({ queryKey: ME_KEY });
      setCurrent("");
      setNext("");
      setConfirm("");
      if (forced) goNext(navigate, params.get("next"));
      else setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="password-title">
      <form onSubmit={submit}>
        <Stack maw={480}>
          <Title order={2} size="h3" id="password-title">
            Change your password
          </Title>
          {forced ? (
            <Alert color="blue" variant="light" role="status" title="Choose your own password">
              You signed in with a one-time password the server generated. Choose your own password to go on; until
              then Atrium does nothing else for this account.
            </Alert>
          ) : (
            <Text size="sm" c="dimmed">
              Your other sessions end when the password changes; this one stays signed in.
            </Text>
          )}
          {done ? (
            <Alert color="green" variant="light" role="status">
              Password changed. Your other sessions were signed out.
            </Alert>
          ) : null}
          <ErrorAlert error={split.general} title="Could not change the password" />
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={split.fields.current}
          />
          <NewPasswordInput label="New password" value={next} onChange={setNext} error={split.fields.next} />
          <PasswordInput
            label="Repeat the new password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.currentTarget.value)}
            error={mismatch ? "The two new passwords differ" : undefined}
          />
          <Button type="submit" loading={busy} style={{ alignSelf: "flex-start" }}>
            Change password
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}
