// /me/security: two-factor authentication. Set it up (QR code, confirm with a code, recovery codes
// shown once), replace the recovery codes, or turn it off. A user whom a policy requires to use
// it is sent here after signing in (the session may do nothing else) and then on to `next`.
import { Alert, Button, Group, Image, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import { MFA_KEY, type MfaStatus, type RecoveryCodes as Codes, type TotpEnrolment } from "../../api/mfa";
import { goNext } from "../../auth/go";
import { ME_KEY } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { RecoveryCodes } from "./RecoveryCodes";

function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

// One form's request: busy while it runs, its error kept for the form to show.
function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = (f: () => Promise<void>) => async (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

function CodeInput(props: { label?: string; value: string; onChange: (v: string) => void; error?: string }) {
  return (
    <TextInput
      label={props.label ?? "Code from the app"}
      autoComplete="one-time-code"
      required
      value={props.value}
      onChange={(e) => props.onChange(e.currentTarget.value)}
      error={props.error}
    />
  );
}

function CurrentPassword(props: { label: string; value: string; onChange: (v: string) => void; error?: string }) {
  return (
    <PasswordInput
      label={props.label}
      autoComplete="current-password"
      required
      value={props.value}
      onChange={(e) => props.onChange(e.currentTarget.value)}
      error={props.error}
    />
  );
}

const post = <T,>(path: string, body: unknown) => fetchJson<T>(path, { method: "POST", body: JSON.stringify(body) });

function Enrol({ onDone }: { onDone: (codes: string[]) => void }) {
  const [pending, setPending] = useState<TotpEnrolment | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, run } = useSubmit();
  const split = splitError(error, ["code", "password"]);
  // The current password first: a session left open elsewhere must not enrol an app of its own.
  const begin = run(async () => {
    setPending(await post<TotpEnrolment>("/api/v1/me/mfa/totp", { password }));
    setPassword("");
  });
  const confirm = run(async () => {
    onDone((await post<Codes>("/api/v1/me/mfa/totp/confirm", { code: code.trim() })).recovery_codes);
  });
  if (!pending)
    return (
      <form onSubmit={begin}>
        <Stack gap="sm" maw={480}>
          <Text size="sm">
            Sign-ins will ask for a code from an authenticator app (such as Aegis, Google Authenticator or 1Password)
            after your password.
          </Text>
          <ErrorAlert error={split.general} title="Could not start" />
          <CurrentPassword
            label="Your current password"
            value={password}
            onChange={setPassword}
            error={split.fields.password}
          />
          <Button type="submit" loading={busy} style={{ alignSelf: "flex-start" }}>
            Set up an authenticator app
          </Button>
        </Stack>
      </form>
    );
  return (
    <form onSubmit={confirm}>
      <Stack gap="sm" maw={480}>
        <Text size="sm">Scan this QR code with the app, or type the key into it; then enter the code it shows.</Text>
        <Image src={svgDataUrl(pending.qr_svg)} alt="QR code of the authenticator key" w={216} h={216} />
        <TextInput label="Key" readOnly value={pending.secret} ff="monospace" />
        <ErrorAlert error={split.general} title="Could not turn it on" />
        <CodeInput value={code} onChange={setCode} error={split.fields.code} />
        <Button type="submit" loading={busy} style={{ alignSelf: "flex-start" }}>
          Turn on two-factor authentication
        </Button>
      </Stack>
    </form>
  );
}

function Manage({ status, onCodes }: { status: MfaStatus; onCodes: (codes: string[]) => void }) {
  const qc = useQueryClient();
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [offCode, setOffCode] = useState("");
  const replacing = useSubmit();
  const off = useSubmit();
  const split = splitError(replacing.error, ["code"]);
  const offSplit = splitError(off.error, ["password", "code", "recovery_code"]);
  const replace = replacing.run(async () => {
    const r = await post<Codes>("/api/v1/me/mfa/recovery-codes", { code: code.trim() });
    setCode("");
    onCodes(r.recovery_codes);
  });
  const turnOff = off.run(async () => {
    const c = offCode.trim();
    const proof = /^\d{6}$/.test(c) ? { code: c } : { recovery_code: c };
    await fetchJson<void>("/api/v1/me/mfa", { method: "DELETE", body: JSON.stringify({ password, ...proof }) });
    setPassword("");
    setOffCode("");
    await qc.invalidateQueries({ queryKey: MFA_KEY });
  });
  return (
    <Stack gap="lg">
      <Alert color="green" variant="light" role="status">
        Two-factor authentication is on{status.enabled_at ? ` since ${new Date(status.enabled_at).toLocaleString()}` : ""}
        . Recovery codes left: {status.recovery_codes_left}.
      </Alert>
      <form onSubmit={replace}>
        <Stack gap="sm" maw={480}>
          <Title order={3} size="h4">
            New recovery codes
          </Title>
          <Text size="sm" c="dimmed">
            The old codes stop working.
          </Text>
          <ErrorAlert error={split.general} title="Could not make new codes" />
          <CodeInput value={code} onChange={setCode} error={split.fields.code} />
          <Button type="submit" variant="default" loading={replacing.busy} style={{ alignSelf: "flex-start" }}>
            Make new recovery codes
          </Button>
        </Stack>
      </form>
      {status.required ? (
        <Text size="sm" c="dimmed">
          Two-factor authentication is required for your account and cannot be turned off.
        </Text>
      ) : (
        <form onSubmit={turnOff}>
          <Stack gap="sm" maw={480}>
            <Title order={3} size="h4">
              Turn off
            </Title>
            <ErrorAlert error={offSplit.general} title="Could not turn it off" />
            <CurrentPassword label="Password" value={password} onChange={setPassword} error={offSplit.fields.password} />
            <CodeInput
              label="Code from the app, or a recovery code"
              value={offCode}
              onChange={setOffCode}
              error={offSplit.fields.code ?? offSplit.fields.recovery_code}
            />
            <Button type="submit" color="red" variant="light" loading={off.busy} style={{ alignSelf: "flex-start" }}>
              Turn off two-factor authentication
            </Button>
          </Stack>
        </form>
      )}
    </Stack>
  );
}

export default function Security() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const q = useQuery({ queryKey: MFA_KEY, queryFn: () => fetchJson<MfaStatus>("/api/v1/me/mfa") });
  const [codes, setCodes] = useState<string[] | null>(null);
  const [forced, setForced] = useState(false);
  const shown = async (c: string[]) => {
    if (q.data?.enrollment_required) setForced(true);
    setCodes(c);
    await qc.invalidateQueries({ queryKey: MFA_KEY });
    await qc.invalidateQueries({ queryKey: ME_KEY });
  };
  let body;
  if (q.isPending) body = <Loading />;
  else if (q.error) body = <ErrorAlert error={q.error} title="Could not load two-factor settings" />;
  else if (codes)
    body = (
      <Stack gap="sm">
        <RecoveryCodes codes={codes} />
        <Button
          style={{ alignSelf: "flex-start" }}
          onClick={() => (forced ? goNext(navigate, params.get("next")) : setCodes(null))}
        >
          {forced ? "Continue" : "Done"}
        </Button>
      </Stack>
    );
  else if (q.data.enabled) body = <Manage status={q.data} onCodes={shown} />;
  else body = <Enrol onDone={shown} />;
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="security-title">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h3" id="security-title">
            Two-factor authentication
          </Title>
        </Group>
        {q.data?.enrollment_required && !codes ? (
          <Alert color="blue" variant="light" role="status" title="Two-factor authentication is required">
            Your account must use two-factor authentication. Set it up to go on; until then Atrium does nothing else
            for this account.
          </Alert>
        ) : null}
        {body}
      </Stack>
    </Paper>
  );
}
