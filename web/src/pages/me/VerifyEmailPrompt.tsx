// In the profile: "verify your email" while the address is not proven, with a button that mails a
// link (only where the server sends mail).
import { Alert, Button, Stack, Text } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { fetchJson } from "../../api/client";
import { loadRecovery, RECOVERY_KEY } from "../../api/recovery";
import { ErrorAlert } from "../../components/ErrorAlert";

export function VerifyEmailPrompt({ email }: { email: string }) {
  const recovery = useQuery({ queryKey: RECOVERY_KEY, queryFn: loadRecovery, staleTime: 300_000, retry: false });
  const send = useMutation({
    mutationFn: () => fetchJson<{ sent_to: string }>("/api/v1/me/email/verify", { method: "POST" }),
  });
  if (!recovery.data?.email_verification) return null;
  return (
    <Alert color="blue" variant="light" title="Verify your email address">
      <Stack gap="xs" align="flex-start">
        {send.isSuccess ? (
          <Text size="sm" role="status">
            We mailed a link to {send.data.sent_to}. Open it to verify the address.
          </Text>
        ) : (
          <>
            <Text size="sm">
              {email} is not verified yet. A verified address lets you recover your account and sign in through your
              institution.
            </Text>
            <Button size="xs" variant="default" loading={send.isPending} onClick={() => send.mutate()}>
              Mail me a verification link
            </Button>
          </>
        )}
        <ErrorAlert error={send.error} title="Could not send the link" />
      </Stack>
    </Alert>
  );
}
