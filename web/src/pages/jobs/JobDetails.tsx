// A job's timings, resources, usage, what it runs, and its events as a timeline.
import { Alert, Code, SimpleGrid, Stack, Text, Timeline } from "@mantine/core";
import type { ReactNode } from "react";
import { slurmJobId, type SlurmInfo } from "../../api/compute";
import { shortDigest } from "../../api/images";
import type { Job } from "../../api/jobs";
import { CopyButton } from "../../components/CopyButton";

// The image a job or an environment runs on: its name and digest (null: the host system).
export function ImageWords({ image }: { image: { name: string | null; digest: string } | null | undefined }) {
  if (image === undefined) return null;
  if (image === null) return <>host system</>;
  return (
    <>
      {image.name ? `${image.name} ` : ""}
      <span className="mono" title={image.digest}>
        {shortDigest(image.digest)}
      </span>{" "}
      <CopyButton value={image.digest} label="Copy digest" />
    </>
  );
}

function when(t: string | null | undefined): string {
  return t ? new Date(t).toLocaleString() : "—";
}

export function duration(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function Item({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" style={{ overflowWrap: "anywhere" }}>
        {children}
      </Text>
    </div>
  );
}

// While the tracker cannot reach SLURM the job keeps its last known state: say so, visibly.
export function SlurmUnknown({ slurm }: { slurm: SlurmInfo | null | undefined }) {
  if (!slurm?.unknown_since) return null;
  return (
    <Alert color="yellow" role="status" title="SLURM cannot be reached">
      Since {when(slurm.unknown_since)}: the state shown is the last one SLURM reported.
    </Alert>
  );
}

function SlurmItems({ slurm }: { slurm: SlurmInfo }) {
  const id = slurmJobId(slurm);
  const state = [slurm.state, slurm.reason].filter(Boolean).join(" · ");
  return (
    <>
      <Item label="SLURM cluster">{slurm.cluster}</Item>
      <Item label="SLURM job">{id || (slurm.handed_over ? "—" : "queued in Atrium, not handed over yet")}</Item>
      <Item label="Nodes">{slurm.nodes || "—"}</Item>
      <Item label="SLURM state">{state || "—"}</Item>
    </>
  );
}

export function JobDetails({ job }: { job: Job }) {
  const r = job.resources;
  return (
    <Stack gap="sm">
      <SlurmUnknown slurm={job.slurm} />
      <SimpleGrid cols={{ base: 2, sm: 4 }} spacing="sm">
        {job.partition !== undefined ? <Item label="Partition">{job.partition}</Item> : null}
        {job.slurm ? <SlurmItems slurm={job.slurm} /> : null}
        <Item label="Submitted">{when(job.submit_time)}</Item>
        <Item label="Started">{when(job.start_time)}</Item>
        <Item label="Ended">{when(job.end_time)}</Item>
        <Item label="Run time">{job.usage?.wall_seconds !== undefined ? duration(job.usage.wall_seconds) : "—"}</Item>
        <Item label="CPUs">{r.cpus}</Item>
        <Item label="Memory">{r.mem_mb} MB</Item>
        <Item label="GPUs">{r.gpus}</Item>
        <Item label="Time limit">{duration(r.time_limit_s)}</Item>
        <Item label="Exit code">{job.exit_code ?? "—"}</Item>
        <Item label="CPU time">{job.usage?.cpu_seconds !== undefined ? duration(job.usage.cpu_seconds) : "—"}</Item>
        <Item label="Peak memory">{job.usage?.peak_mem_mb !== undefined ? `${job.usage.peak_mem_mb} MB` : "—"}</Item>
        <Item label="QoS · priority">
          {job.qos}
          {job.priority !== undefined ? ` · ${job.priority}` : ""}
        </Item>
        {job.dependency ? <Item label="Dependencies">{job.dependency}</Item> : null}
        {job.requeue_count ? <Item label="Requeued">{job.requeue_count} times</Item> : null}
        {job.image !== undefined ? (
          <Item label="Image">
            <ImageWords image={job.image} />
          </Item>
        ) : null}
        {job.secrets?.length ? <Item label="Secrets">{job.secrets.join(", ")}</Item> : null}
      </SimpleGrid>
      <div>
        <Text size="xs" c="dimmed">
          {job.script !== undefined ? "Script" : "Command"}
        </Text>
        <Code block style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere" }}>
          {job.script ?? (job.command ?? []).map((a) => (/[\s'"]/.test(a) || a === "" ? `'${a.replace(/'/g, "'\\''")}'` : a)).join(" ")}
        </Code>
      </div>
    </Stack>
  );
}

export function JobTimeline({ job }: { job: Job }) {
  const events = job.events ?? [];
  if (events.length === 0) return null;
  return (
    <section aria-label="Events">
      <Text fw={600} mb={4}>
        Events
      </Text>
      <Timeline active={events.length - 1} bulletSize={14} lineWidth={2}>
        {events.map((e) => (
          <Timeline.Item key={e.seq} title={`${e.from ? `${e.from} → ` : ""}${e.to}`}>
            <Text size="xs" c="dimmed">
              {new Date(e.at).toLocaleString()} · {e.event}
              {e.exit_code !== null ? ` · exit ${e.exit_code}` : ""}
            </Text>
            {e.cause ? <Text size="sm">{e.cause}</Text> : null}
          </Timeline.Item>
        ))}
      </Timeline>
    </section>
  );
}
