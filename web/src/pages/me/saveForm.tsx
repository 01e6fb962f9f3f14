// A form that saves one versioned object (If-Match): its busy, error and saved state, and the
// alerts it shows (a change made elsewhere meanwhile, with a reload; saved).
import { Alert, Button, Stack, Text } from "@mantine/core";
import { useState, type FormEvent } from "react";
import { ApiError } from "../../api/client";

export function useSaveForm(save: () => Promise<void>) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const conflict = error instanceof ApiError && error.status === 412;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await save();
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { error, setError, busy, saved, conflict, submit };
}

export function ChangedElsewhere({ text, reloadLabel, onReload }: { text: string; reloadLabel: string; onReload: () => unknown }) {
  return (
    <Alert color="blue" variant="light" role="alert" title="Changed elsewhere">
      <Stack gap="xs" align="flex-start">
        <Text size="sm">{text}</Text>
        <Button size="xs" variant="default" onClick={() => void onReload()}>
          {reloadLabel}
        </Button>
      </Stack>
    </Alert>
  );
}

export function Saved({ what }: { what: string }) {
  return (
    <Alert color="green" variant="light" role="status">
      {what} saved.
    </Alert>
  );
}
