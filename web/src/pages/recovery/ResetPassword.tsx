// /reset-password#<token>: choose a new password with a one-time link. The token stays in the
// fragment (the page load never sends it); the page checks it first, so an expired or used link
// says so before anything is typed. Using it signs the account out everywhere.
import { Alert, Button, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError } from "../../api/client";
import { splitError } from "../../api/fields";
import { fragmentToken, post } from "../../api/recovery";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { NewPasswordInput } from "../../components/NewPasswordInput";
import { Card, MissingToken } from "./Card";

const INVALID = "This link is invalid, has expired or was used already. Ask for a new one from the sign-in page.";

export default function ResetPassword() {
  const [token] = useState(fragmentToken);
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const check = useQuery({
    queryKey: ["auth", "reset-check", token],
    queryFn: () => post<{ username: string }>("/api/v1/auth/password-reset/check", { token }),
    enabled: token !== "",
    retry: false,
    staleTime: Infinity,
  });
  const split = splitError(error, ["new_password"] as const);
  const used = error instanceof ApiError && error.code === "invalid-link";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post("/api/v1/auth/password-reset/confirm", { token, new_password: password });
      navigate("/login", {
        replace: true,
        state: { notice: "Your password was changed and you were signed out everywhere: sign in with the new one." },
      });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  let body;
  if (!token) body = <MissingToken what="password-reset" />;
  else if (check.isPending) body = <Loading label="Checking the link" />;
  else if (check.isError || used)
    body = (
      <Alert color="red" variant="light" role="alert">
        {INVALID}
      </Alert>
    );
  else
    body = (
      <form onSubmit={submit}>
        <Stack>
          <Text size="sm">
            Choose a new password for <strong>{check.data.username}</strong>. You will be signed out everywhere.
          </Text>
          <ErrorAlert error={split.general} title="Could not change the password" />
          <NewPasswordInput label="New password" value={password} onChange={setPassword} error={split.fields.new_password} />
          <Button type="submit" loading={busy}>
            Change password
          </Button>
        </Stack>
      </form>
    );
  return <Card title="Choose a new password">{body}</Card>;
}
