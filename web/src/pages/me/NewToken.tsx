// The form that makes an API token: name, what it may do (scopes.ts), how long it lasts. The
// secret comes back once: it is shown with a copy button and a warning, never again.
import {
  Button,
  Checkbox,
  Code,
  Fieldset,
  Group,
  NativeSelect,
  Paper,
  SegmentedControl,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../../api/client";
import { splitError } from "../../api/fields";
import type { NewToken as NewTokenAnswer } from "../../api/me";
import { CopyButton } from "../../components/CopyButton";
import { ErrorAlert } from "../../components/ErrorAlert";
import { AREAS, initialChoice, scopesFor, type Level } from "./scopes";

const EXPIRY = [
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "", label: "Never" },
];

export function NewToken({ onCreated }: { onCreated: () => unknown }) {
  const [name, setName] = useState("");
  const [choice, setChoice] = useState(initialChoice);
  const [days, setDays] = useState("30");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<NewTokenAnswer | null>(null);
  const [noScope, setNoScope] = useState(false);
  const split = splitError(error, ["name", "scopes"]);

  const setLevel = (key: string, level: Level) =>
    setChoice((c) => ({ ...c, levels: { ...c.levels, [key]: level } }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const scopes = scopesFor(choice);
    setNoScope(scopes.length === 0);
    if (scopes.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      const t = await fetchJson<NewTokenAnswer>("/api/v1/tokens", {
        method: "POST",
        body: JSON.stringify({ name, scopes, ...(days ? { expires_in_days: Number(days) } : {}) }),
      });
      setCreated(t);
      setName("");
      await onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (created)
    return (
      <Paper withBorder p="lg" component="section" role="status" aria-labelledby="created-token-title">
        <Stack gap="xs">
          <Title order={3} size="h4" id="created-token-title">
            Token “{created.name}” created
          </Title>
          <Text size="sm" fw={600}>
            Copy it now: it is shown only this once. Atrium keeps only a hash of it; if you lose it, revoke it and make
            a new one.
          </Text>
          <Group gap="xs" wrap="nowrap" align="center">
            <Code data-testid="new-token" style={{ wordBreak: "break-all" }}>
              {created.token}
            </Code>
            <CopyButton value={created.token} label="Copy token" />
          </Group>
          <Button size="xs" variant="default" onClick={() => setCreated(null)} style={{ alignSelf: "flex-start" }}>
            I have copied it
          </Button>
        </Stack>
      </Paper>
    );

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="new-token-title">
      <form onSubmit={submit}>
        <Stack>
          <Title order={3} size="h4" id="new-token-title">
            New token
          </Title>
          <ErrorAlert error={split.general} title="Could not create the token" />
          <TextInput
            label="Name"
            description="What it is for, e.g. “laptop git” or “nightly pipeline”"
            required
            maw={420}
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={split.fields.name}
          />
          <Fieldset legend="What it may do">
            <Stack gap="sm">
              <Checkbox
                label="Everything I may do (all areas, read and change)"
                checked={choice.everything}
                onChange={(e) => setChoice((c) => ({ ...c, everything: e.currentTarget.checked }))}
              />
              {choice.everything
                ? null
                : AREAS.map((a) => (
                    <Group key={a.key} justify="space-between" wrap="wrap" gap="xs">
                      <div>
                        <Text size="sm" fw={500} id={`scope-${a.key}`}>
                          {a.label}
                        </Text>
                        <Text size="xs" c="dimmed">
                          {a.hint}
                        </Text>
                      </div>
                      <SegmentedControl
                        size="xs"
                        aria-labelledby={`scope-${a.key}`}
                        value={choice.levels[a.key]}
                        onChange={(v) => setLevel(a.key, v as Level)}
                        data={[
                          { value: "none", label: "None" },
                          { value: "read", label: "Read" },
                          { value: "write", label: "Read and change" },
                        ]}
                      />
                    </Group>
                  ))}
              {noScope || split.fields.scopes ? (
                <Text size="sm" c="var(--mantine-color-error)" role="alert">
                  {split.fields.scopes ?? "Choose at least one area, or everything."}
                </Text>
              ) : null}
            </Stack>
          </Fieldset>
          <NativeSelect label="Expires after" data={EXPIRY} value={days} onChange={(e) => setDays(e.currentTarget.value)} maw={200} />
          <Button type="submit" loading={busy} style={{ alignSelf: "flex-start" }}>
            Create token
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}
