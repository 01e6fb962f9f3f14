// Where jobs and environments run: GET /api/v1/compute/partitions (docs/slurm.md). "local" is this
// server; the others are partitions of SLURM clusters. Only the partitions the caller's orgs may
// use are listed.
import { fetchJson } from "./client";

export interface PartitionLimits {
  max_cpus: number; // 0: none known
  max_mem_mb: number;
  max_gpus: number;
  max_time_s: number;
}

export interface Partition {
  name: string;
  kind: "local" | "slurm";
  cluster: string | null;
  slurm_partition: string | null;
  limits: PartitionLimits | null;
  default: boolean;
}

// A SLURM job's side, as the job JSON shows it for a remote partition.
export interface SlurmInfo {
  cluster: string;
  job_id: number | null; // null until handed over
  array_job_id: number | null;
  array_task_id: number | null;
  nodes: string;
  state: string; // SLURM's own name
  reason: string;
  unknown_since: string | null; // SLURM unreachable since (RFC 3339): the state shown is the last known
  handed_over: boolean;
}

export const computeKeys = { partitions: (orgId?: string) => ["compute", "partitions", orgId ?? ""] as const };

// orgId: the partitions that org may use, its default marked (else: all of mine, the server's default).
export const listPartitions = (orgId?: string) =>
  fetchJson<{ items: Partition[] }>(`/api/v1/compute/partitions${orgId ? `?org=${encodeURIComponent(orgId)}` : ""}`);

// A picker is worth showing only when there is a choice beyond this server.
export function offersChoice(items: Partition[] | undefined): boolean {
  return (items ?? []).some((p) => p.kind !== "local");
}

function timeWords(s: number): string {
  const r = (x: number) => Math.round(x * 10) / 10;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${r(s / 3600)} h`;
  return `${r(s / 86400)} days`;
}

function limitWords(l: PartitionLimits | null): string {
  if (!l) return "";
  const out: string[] = [];
  if (l.max_cpus > 0) out.push(`${l.max_cpus} CPUs`);
  if (l.max_mem_mb > 0) out.push(`${Math.round((l.max_mem_mb / 1024) * 10) / 10} GB`);
  if (l.max_gpus > 0) out.push(`${l.max_gpus} GPUs`);
  if (l.max_time_s > 0) out.push(timeWords(l.max_time_s));
  return out.length ? `up to ${out.join(", ")}` : "";
}

export function partitionLabel(p: Partition): string {
  const where = p.kind === "local" ? "this server" : `SLURM ${p.cluster ?? ""}${p.slurm_partition ? `/${p.slurm_partition}` : ""}`;
  const lim = limitWords(p.limits);
  return `${p.name} (${where}${lim ? `; ${lim}` : ""})`;
}

// The picker's value for "no partition named": the org's default (else the server's) applies.
export const DEFAULT_PARTITION = "@default";

// The body's `partition` for a picker value (undefined: name none).
export const partitionField = (v: string | undefined): string | undefined => (v && v !== DEFAULT_PARTITION ? v : undefined);

export function partitionOptions(items: Partition[]): { value: string; label: string }[] {
  const def = items.find((p) => p.default);
  const out = [{ value: DEFAULT_PARTITION, label: def ? `Default: ${def.name}` : "Default" }];
  for (const p of items) out.push({ value: p.name, label: partitionLabel(p) });
  return out;
}

// SLURM's job id as SLURM writes it: "1230_4" for an array task, else the id.
export function slurmJobId(s: SlurmInfo): string {
  if (s.array_job_id !== null && s.array_task_id !== null) return `${s.array_job_id}_${s.array_task_id}`;
  return s.job_id !== null ? String(s.job_id) : "";
}
