// The launch form for one app of the catalog: resources within the app's maxima (GPUs when the
// app allows them), the image, datasets and secrets, checked as typed with the API's rules; the API's own answer (a field's problem) shown next to that field.
import { Button, Checkbox, Group, NumberInput, Paper, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../../api/client";
import { launchEnv, type App, type Env } from "../../api/envs";
import { DEFAULT_PARTITION } from "../../api/compute";
import { DEFAULT_IMAGE } from "../../api/images";
import { ErrorAlert } from "../../components/ErrorAlert";
import { PartitionPicker } from "../../components/PartitionPicker";
import { DatasetsPicker, ImagePicker, SecretsPicker } from "../../components/RunPickers";
import { defaultsFor, fmtHours, formField, validateLaunch, type LaunchForm as Form } from "./envState";

export function LaunchForm({
  app,
  projectId,
  orgId,
  onLaunched,
  onCancel,
}: {
  app: App;
  projectId: string;
  orgId?: string;
  onLaunched: (e: Env) => void;
  onCancel: () => void;
}) {
  const [form, setForm] = useState<Form>(() => defaultsFor(app));
  const { errors } = validateLaunch(form, app);
  const launch = useMutation({
    mutationFn: () => {
      const v = validateLaunch(form, app);
      if (!v.body) throw new Error("Correct the fields marked above");
      return launchEnv(projectId, v.body);
    },
    onSuccess: onLaunched,
  });
  const problemField = launch.error instanceof ApiError ? formField(launch.error.problem.field) : undefined;
  const err = (k: keyof Form) => errors[k] ?? (problemField === k ? launch.error?.message : undefined);
  const set = (k: keyof Form) => (v: string | number) => setForm((f) => ({ ...f, [k]: v }));
  const setList = (k: "datasets" | "secrets") => (v: string[]) => setForm((f) => ({ ...f, [k]: v }));
  return (
    <Paper withBorder p="md">
      <form
        onSubmit={(ev) => {
          ev.preventDefault();
          launch.mutate();
        }}
        aria-label={`Launch ${app.name}`}
      >
        <Stack gap="sm">
          <Title order={3} size="h4">
            Launch {app.title || app.name}
          </Title>
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <NumberInput
              label="CPUs"
              description={`1 to ${app.max.cpus}`}
              min={1}
              max={app.max.cpus}
              allowDecimal={false}
              value={form.cpus}
              onChange={set("cpus")}
              error={err("cpus")}
            />
            <NumberInput
              label="Memory (GB)"
              description={`up to ${Math.round((app.max.mem_mb / 1024) * 100) / 100} GB`}
              min={0}
              step={0.5}
              decimalScale={2}
              value={form.memGb}
              onChange={set("memGb")}
              error={err("memGb")}
            />
            <NumberInput
              label="Time limit (hours)"
              description={`up to ${fmtHours(app.max.time_limit_s)}`}
              min={0}
              step={1}
              decimalScale={2}
              value={form.hours}
              onChange={set("hours")}
              error={err("hours")}
            />
            {app.max_gpus ? (
              <NumberInput
                label="GPUs"
                description={`0 to ${app.max_gpus}`}
                min={0}
                max={app.max_gpus}
                allowDecimal={false}
                value={form.gpus}
                onChange={set("gpus")}
                error={err("gpus")}
              />
            ) : null}
          </SimpleGrid>
          <PartitionPicker orgId={orgId} value={form.partition ?? DEFAULT_PARTITION} onChange={set("partition")} error={err("partition")} />
          <ImagePicker projectId={projectId} value={form.image ?? DEFAULT_IMAGE} onChange={set("image")} error={err("image")} appImage={app.image || undefined} />
          <DatasetsPicker projectId={projectId} value={form.datasets ?? []} onChange={setList("datasets")} error={err("datasets")} />
          <SecretsPicker projectId={projectId} value={form.secrets ?? []} onChange={setList("secrets")} error={err("secrets")} />
          <Checkbox
            label="The project's files, read-write at /project"
            description="what the environment writes there is saved back as the project's files"
            checked={!!form.files}
            onChange={(e) => {
              const files = e.currentTarget.checked;
              setForm((f) => ({ ...f, files }));
            }}
            error={err("files")}
          />
          <TextInput
            label="Branch, tag or commit"
            description="The project's code in /workspace; empty: the default branch"
            value={form.ref}
            onChange={(e) => set("ref")(e.currentTarget.value)}
            error={err("ref")}
          />
          <Text size="xs" c="dimmed">
            Stops after {fmtHours(app.idle_timeout_s)} without use, and after {fmtHours(app.max_uptime_s)} at most.
            Network: {app.network === "outbound" ? "outbound internet" : "none"}.
          </Text>
          {launch.error && !problemField ? <ErrorAlert error={launch.error} title="The environment was not launched" /> : null}
          <Group>
            <Button type="submit" loading={launch.isPending} disabled={Object.keys(errors).length > 0}>
              Launch {app.name}
            </Button>
            <Button variant="default" onClick={onCancel}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}
