// /forgot-password: ask for a link to choose a new password. The answer is the same whether or not
// the account exists (the server says so too), so the page never tells which accounts exist.
import { Alert, Button, Stack, Text, TextInput } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { post } from "../../api/recovery";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Card } from "./Card";

export default function ForgotPassword() {
  const [who, setWho] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post("/api/v1/auth/password-reset", who.includes("@") ? { email: who } : { username: who });
      setSent(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Forgot your password?">
      {sent ? (
        <Alert color="blue" variant="light" role="status" title="Check your mail">
          If an account with a password matches, we have mailed it a link to choose a new password. The link works
          once and expires soon. Accounts that sign in through your institution have no password here.
        </Alert>
      ) : (
        <form onSubmit={submit}>
          <Stack>
            <Text size="sm">Give your username or email address: we mail you a link to choose a new password.</Text>
            <ErrorAlert error={error} title="Could not ask for a link" />
            <TextInput
              label="Username or email"
              autoComplete="username"
              required
              autoFocus
              value={who}
              onChange={(e) => setWho(e.currentTarget.value)}
            />
            <Button type="submit" loading={busy}>
              Mail me a link
            </Button>
          </Stack>
        </form>
      )}
    </Card>
  );
}
