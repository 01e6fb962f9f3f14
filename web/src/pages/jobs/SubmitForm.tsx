// "New job": command or script, resources, array, dependencies, image, datasets, secrets, outputs and ref. Checked
// as the user types with the API's rules (validate.ts); the server's errors are shown at their
// field. The submit carries an Idempotency-Key, so a retry after a lost answer stores one job.
import { Alert, Button, Group, SegmentedControl, SimpleGrid, Stack, Text, TextInput, Textarea } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link } from "react-router";
import { ApiError } from "../../api/client";
import { jobKeys, submitJob, type Submitted } from "../../api/jobs";
import { DatasetsPicker, ImagePicker, SecretsPicker } from "../../components/RunPickers";
import { ErrorAlert } from "../../components/ErrorAlert";
import { PartitionPicker } from "../../components/PartitionPicker";
import { EMPTY_FORM as EMPTY, fieldOf, toBody, validate, type FieldErrors, type JobForm } from "./validate";
import { newIdempotencyKey } from "../../api/conventions";


export function SubmitForm({ projectId, orgId, onDone }: { projectId: string; orgId?: string; onDone: () => void }) {
  const qc = useQueryClient();
  const [f, setF] = useState<JobForm>(EMPTY);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [server, setServer] = useState<FieldErrors & { form?: string }>({});
  const [done, setDone] = useState<Submitted | null>(null);
  const key = useRef<string>(newIdempotencyKey());
  const errors = validate(f);
  const submit = useMutation({
    mutationFn: () => submitJob(projectId, toBody(f), key.current),
    onSuccess: (out) => {
      key.current = newIdempotencyKey();
      setDone(out);
      void qc.invalidateQueries({ queryKey: jobKeys.lists() });
    },
    onError: (e) => {
      if (e instanceof ApiError) {
        const at = fieldOf(e.problem.field);
        setServer({ [at]: e.message });
      }
    },
  });
  const set = <K extends keyof JobForm>(k: K, v: JobForm[K]) => {
    setF((old) => ({ ...old, [k]: v }));
    setTouched((t) => new Set(t).add(k === "outputs_dataset" ? "outputs_paths" : k).add(k));
    setServer((s) => ({ ...s, [k]: undefined, form: undefined }));
    key.current = newIdempotencyKey(); // another request: another key
    setDone(null);
  };
  const err = (k: keyof JobForm) => server[k] ?? (touched.has(k) ? errors[k] : undefined);
  const text = (k: keyof JobForm, label: string, description?: string, placeholder?: string) => (
    <TextInput
      label={label}
      description={description}
      placeholder={placeholder}
      value={f[k] as string}
      onChange={(e) => set(k, e.currentTarget.value)}
      error={err(k)}
    />
  );
  const onSubmit = (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(new Set(Object.keys(f)));
    if (Object.keys(errors).length === 0) submit.mutate();
  };
  const id = done && "id" in done ? done.id : null;
  return (
    <form onSubmit={onSubmit} aria-label="New job" noValidate>
      <Stack gap="sm">
        {text("name", "Name", "optional; defaults to the program's name")}
        <SegmentedControl
          aria-label="What to run"
          value={f.mode}
          onChange={(v) => set("mode", v as JobForm["mode"])}
          data={[
            { value: "command", label: "Command" },
            { value: "script", label: "Script" },
          ]}
        />
        {f.mode === "command" ? (
          text("command", "Command", "a program and its arguments; quote arguments with spaces", "python train.py --epochs 3")
        ) : (
          <Textarea
            label="Script"
            description="run with /bin/sh unless it starts with #!"
            autosize
            minRows={4}
            styles={{ input: { fontFamily: "monospace" } }}
            value={f.script}
            onChange={(e) => set("script", e.currentTarget.value)}
            error={err("script")}
          />
        )}
        <SimpleGrid cols={{ base: 2, sm: 4 }}>
          {text("cpus", "CPUs")}
          {text("mem_mb", "Memory (MB)")}
          {text("gpus", "GPUs")}
          {text("time_limit_s", "Time limit (seconds)")}
        </SimpleGrid>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {text("array", "Array", "sbatch syntax: 0-9, 1,3,5-7, 0-15:4, 0-99%10")}
          {text("dependency", "Dependencies", "afterok:JOB[:JOB], afterany:…, singleton")}
        </SimpleGrid>
        <PartitionPicker orgId={orgId} value={f.partition} onChange={(v) => set("partition", v)} error={err("partition")} />
        <ImagePicker projectId={projectId} value={f.image} onChange={(v) => set("image", v)} error={err("image")} />
        <DatasetsPicker projectId={projectId} value={f.datasets} onChange={(v) => set("datasets", v)} error={err("datasets")} />
        <SecretsPicker projectId={projectId} value={f.secrets} onChange={(v) => set("secrets", v)} error={err("secrets")} />
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          {text("outputs_dataset", "Output dataset", "the job's matching files become its next version")}
          <Textarea
            label="Output files (globs)"
            description="relative to the workspace, one per line, e.g. results/*.csv"
            autosize
            minRows={1}
            value={f.outputs_paths}
            onChange={(e) => set("outputs_paths", e.currentTarget.value)}
            error={err("outputs_paths")}
          />
        </SimpleGrid>
        {text("ref", "Code ref", "branch, tag or commit to check out (default: the default branch)")}
        {server.form ? (
          <Alert color="red" role="alert" title="The job was not submitted">
            {server.form}
          </Alert>
        ) : null}
        {submit.isError && !(submit.error instanceof ApiError) ? <ErrorAlert error={submit.error} /> : null}
        {done ? (
          <Alert color="green" role="status" title="Submitted">
            {id ? (
              <Text size="sm">
                Job <Link to={`/jobs/${id}`}>{id}</Link> is in the queue below.
              </Text>
            ) : (
              <Text size="sm">
                Array {"array_id" in done ? done.array_id : ""} with {"tasks" in done ? done.tasks : 0} tasks is in the queue below.
              </Text>
            )}
          </Alert>
        ) : null}
        <Group>
          <Button type="submit" loading={submit.isPending}>
            Submit job
          </Button>
          <Button variant="default" onClick={onDone}>
            Close
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
