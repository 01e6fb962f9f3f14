// /invite#<token>: accept an invitation (choose a username, a display name and a password), then
// sign in with them and land on the home page. The token stays in the fragment: it is never
// sent to the server in a URL, only in the accept request's body.
import { Alert, Anchor, Button, Center, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import { loginErrorText } from "../../auth/loginError";
import { ME_KEY } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { NewPasswordInput } from "../../components/NewPasswordInput";

const FIELDS = ["username", "display_name", "password"] as const;

interface Accepted {
  user: { username: string };
  org: { name: string; slug: string };
}

function generalText(e: unknown): string | null {
  if (!e) return null;
  if (e instanceof ApiError && e.code === "invitation-invalid")
    return "This invitation link is used, expired or revoked. Ask whoever invited you for a new one.";
  if (e instanceof ApiError && e.status === 429) return loginErrorText(e);
  return null;
}

export default function Invite() {
  const [token] = useState(() => window.location.hash.slice(1));
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const split = splitError(error, FIELDS);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    let accepted: Accepted;
    try {
      accepted = await fetchJson<Accepted>("/api/v1/invitations/accept", {
        method: "POST",
        body: JSON.stringify({ token, username, password, display_name: displayName }),
      });
    } catch (err) {
      setError(err);
      setBusy(false);
      return;
    }
    // Accepting makes the account; signing in is a second step (with what was just typed).
    try {
      await fetchJson("/api/v1/auth/login", { method: "POST", body: JSON.stringify({ username, password }) });
      await qc.invalidateQueries({ queryKey: ME_KEY });
      navigate("/", { replace: true });
    } catch {
      navigate("/login", {
        replace: true,
        state: { notice: `Your account ${accepted.user.username} in ${accepted.org.name} is ready: sign in.` },
      });
    }
  };

  const general = generalText(split.general);
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w={420} maw="100%" component="main">
        <Stack>
          <Title order={1} size="h2">
            Join Atrium
          </Title>
          {!token ? (
            <Alert color="red" variant="light" role="alert">
              This page needs the whole invitation link, including the part after “#”. Open the link you were sent
              again.
            </Alert>
          ) : (
            <form onSubmit={submit}>
              <Stack>
                <Text size="sm">You were invited to an organisation. Choose how you sign in.</Text>
                {general ? (
                  <Alert color="red" variant="light" role="alert">
                    {general}
                  </Alert>
                ) : (
                  <ErrorAlert error={split.general} title="Could not accept the invitation" />
                )}
                <TextInput
                  label="Username"
                  description="Letters, digits, - _ . ; used in sign-in and in your projects' addresses"
                  autoComplete="username"
                  required
                  autoFocus
                  value={username}
                  onChange={(e) => setUsername(e.currentTarget.value.toLowerCase())}
                  error={split.fields.username}
                />
                <TextInput
                  label="Display name"
                  autoComplete="name"
                  value={displayName}
                  onChange={(e) => setDisplayName(e.currentTarget.value)}
                  error={split.fields.display_name}
                />
                <NewPasswordInput label="Password" value={password} onChange={setPassword} error={split.fields.password} />
                <Button type="submit" loading={busy}>
                  Create my account
                </Button>
                <Anchor component={Link} to="/login" size="sm" underline="always">
                  I already have an account: sign in
                </Anchor>
              </Stack>
            </form>
          )}
          {token ? null : (
            <Anchor component={Link} to="/login" size="sm" underline="always">
              I already have an account: sign in
            </Anchor>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}
