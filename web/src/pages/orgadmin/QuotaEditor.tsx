// A quota's limits in a dialog: empty = unlimited. Saved with If-Match on the version the dialog
// was opened with; a 412 (someone else saved meanwhile) says so and offers to reload.
import { Alert, Button, Group, Modal, NumberInput, Stack, Text } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError } from "../../api/client";
import { splitError } from "../../api/fields";
import {
  bytesToGib,
  getQuota,
  gibToBytes,
  LIMIT_KEYS,
  putQuota,
  type LimitKey,
  type Limits,
  type Quota,
} from "../../api/quotas";
import { ErrorAlert } from "../../components/ErrorAlert";

type Draft = Record<LimitKey, number | "">;

const draftOf = (l: Limits): Draft => ({
  storage_bytes: bytesToGib(l.storage_bytes) ?? "",
  cpu_hours: l.cpu_hours ?? "",
  cpu_period_days: l.cpu_period_days ?? "",
  concurrent_jobs: l.concurrent_jobs ?? "",
  concurrent_envs: l.concurrent_envs ?? "",
});

function limitsOf(d: Draft): Limits {
  const n = (v: number | "") => (v === "" ? null : Number(v));
  return {
    storage_bytes: gibToBytes(n(d.storage_bytes)),
    cpu_hours: n(d.cpu_hours),
    cpu_period_days: n(d.cpu_period_days),
    concurrent_jobs: n(d.concurrent_jobs),
    concurrent_envs: n(d.concurrent_envs),
  };
}

const FIELD_TEXT: Record<LimitKey, { label: string; hint: string; min: number; decimals: boolean }> = {
  storage_bytes: { label: "Storage (GiB)", hint: "files, images and environment homes", min: 0, decimals: true },
  cpu_hours: { label: "CPU-hours per period", hint: "CPUs x wall time of the jobs in the period", min: 0, decimals: false },
  cpu_period_days: { label: "Period (days)", hint: "how long the CPU-hours last", min: 1, decimals: false },
  concurrent_jobs: { label: "Concurrent jobs", hint: "jobs running at once", min: 0, decimals: false },
  concurrent_envs: { label: "Concurrent environments", hint: "environments running at once", min: 0, decimals: false },
};

export function QuotaEditor({
  org,
  quota,
  subject,
  onClose,
  onSaved,
}: {
  org: string;
  quota: Quota;
  subject: string; // the subject in words
  onClose: () => void;
  onSaved: (q: Quota) => void;
}) {
  const [base, setBase] = useState<Quota>(quota);
  const [draft, setDraft] = useState<Draft>(() => draftOf(quota.limits));
  const save = useMutation({
    mutationFn: (l: Limits) => putQuota(org, base.kind, base.subject_id, l, base.etag),
    onSuccess: (q) => {
      onSaved(q);
      onClose();
    },
  });
  const reload = useMutation({
    mutationFn: () => getQuota(org, base.kind, base.subject_id),
    onSuccess: (q) => {
      setBase(q);
      setDraft(draftOf(q.limits));
      save.reset();
    },
  });
  const conflict = save.error instanceof ApiError && save.error.status === 412;
  const { fields, general } = splitError(conflict ? null : save.error, LIMIT_KEYS);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate(limitsOf(draft));
  };
  return (
    <Modal opened onClose={onClose} title={`Limits of ${subject}`} closeButtonProps={{ "aria-label": "Close" }}>
      <form onSubmit={submit} noValidate aria-label={`Limits of ${subject}`}>
        <Stack gap="sm">
          <Text size="sm" c="dimmed">
            Leave a field empty for no limit. A limit below what is in use now refuses new work until usage falls.
          </Text>
          {LIMIT_KEYS.map((k) => (
            <NumberInput
              key={k}
              label={FIELD_TEXT[k].label}
              description={FIELD_TEXT[k].hint}
              placeholder="unlimited"
              min={FIELD_TEXT[k].min}
              allowDecimal={FIELD_TEXT[k].decimals}
              allowNegative={false}
              value={draft[k]}
              onChange={(v) => setDraft((d) => ({ ...d, [k]: v === "" ? "" : Number(v) }))}
              error={fields[k]}
            />
          ))}
          {conflict ? (
            <Alert color="orange" role="alert" title="Changed meanwhile">
              Someone else changed these limits since you opened them. Reload to see theirs, then make your change
              again.
              <Group mt="xs">
                <Button size="xs" variant="default" loading={reload.isPending} onClick={() => reload.mutate()}>
                  Reload
                </Button>
              </Group>
            </Alert>
          ) : null}
          <ErrorAlert error={general} title="Could not save the limits" />
          <ErrorAlert error={reload.error} title="Could not reload the limits" />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending} disabled={conflict}>
              Save limits
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
