// /login?next=: sign in, then go where the user was going (a page of this UI, or an
// environment behind the proxy, which needs a full page load).
import { Alert, Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import { errorText } from "../../api/problem";
import { ME_KEY, safeNext } from "../../auth/session";

interface LoginAnswer {
  user: { must_change_password?: boolean };
}

// Words for the login refusals the API gives (the detail stays the API's own).
function loginError(e: unknown): string {
  if (e instanceof ApiError && e.code === "invalid-credentials") return "Wrong username or password.";
  return errorText(e);
}

export default function Login() {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const a = await fetchJson<LoginAnswer>("/api/v1/auth/login", {
        method: "POST",
        body: JSON.stringify({ username, password }),
      });
      if (a.user.must_change_password) {
        await qc.invalidateQueries({ queryKey: ME_KEY });
        navigate(`/me/password?next=${encodeURIComponent(next)}`, { replace: true });
      } else if (next.startsWith("/env/")) {
        window.location.assign(next); // served by the proxy, not by this app
      } else {
        await qc.invalidateQueries({ queryKey: ME_KEY });
        navigate(next, { replace: true });
      }
    } catch (err) {
      setError(loginError(err));
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w={380} maw="100%" component="main">
        <form onSubmit={submit}>
          <Stack>
            <Title order={1} size="h2">
              Sign in to Atrium
            </Title>
            {error ? (
              <Alert color="red" role="alert" variant="light">
                {error}
              </Alert>
            ) : null}
            <TextInput
              label="Username"
              autoComplete="username"
              required
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
            />
            <Button type="submit" loading={busy}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
