// Jobs as GET /api/v1/jobs/{id} and the job lists answer them, and the calls the job pages make.
import type { SlurmInfo } from "./compute";
import { ApiError, fetchJson, type ListPage } from "./client";

export type JobState = "PENDING" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL";

export const JOB_STATES: JobState[] = [
  "PENDING",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "OUT_OF_MEMORY",
  "NODE_FAIL",
];

export interface JobEvent {
  seq: number;
  at: string;
  from: string | null;
  to: string;
  event: string;
  reason: string;
  cause: string;
  exit_code: number | null;
}

export interface Job {
  id: string;
  name: string;
  project_id: string;
  org_id: string;
  user_id: string;
  state: JobState;
  held: boolean;
  reason: string | null;
  reason_detail: string;
  submit_time: string;
  begin_time: string | null;
  start_time: string | null;
  end_time: string | null;
  exit_code: number | null;
  qos: string;
  nice: number;
  dependency: string | null;
  resources: { cpus: number; mem_mb: number; gpus: number; time_limit_s: number };
  requeue_count: number;
  stop_requested: string | null;
  etag: string;
  priority?: number;
  estimated_start?: string | null;
  allocation: { cpus: number; mem_mb: number; gpus: number[] } | null;
  array: { array_id: string; index: number; max_concurrent: number; spec: string } | null;
  command?: string[];
  script?: string;
  env: Record<string, string>;
  usage: { wall_seconds?: number; cpu_seconds?: number; peak_mem_mb?: number } | null;
  enforced: unknown;
  // GET /jobs/{id} and the event stream only:
  events?: JobEvent[];
  datasets?: { name: string; dataset_id: string; version: number; path: string }[];
  commit?: { id: string; ref: string | null } | null;
  outputs?: { dataset: string; dataset_id: string; paths: string[]; version: number | null };
  image?: { name: string | null; digest: string } | null; // null: the host system
  secrets?: string[]; // the names it was given (never values)
  partition?: string; // "local" or a SLURM partition (servers before SLURM: absent)
  slurm?: SlurmInfo | null; // a SLURM partition's job only
}

// The body of POST /api/v1/projects/{id}/jobs.
export interface SubmitBody {
  name?: string;
  command?: string[];
  script?: string;
  cpus?: number;
  mem_mb?: number;
  gpus?: number;
  time_limit_s?: number;
  array?: string;
  dependency?: string;
  datasets?: string[];
  outputs?: { dataset: string; paths: string[] };
  ref?: string;
  image?: string; // "name", "name@sha256:…", "sha256:…", "none"; absent: the project's default
  secrets?: string[]; // NAME or NAME:file
  partition?: string; // absent: the org's default partition
  account?: string; // a SLURM account of the org
}

// A single job answers with the job; an array with its tasks' ids.
export type Submitted = Job | { array_id: string; array: string; tasks: number; job_ids: string[] };

export const TERMINAL: ReadonlySet<string> = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"]);

export const jobKeys = {
  all: ["jobs"] as const,
  lists: () => ["jobs", "list"] as const,
  list: (scope: string, state: string) => ["jobs", "list", scope, state] as const,
  one: (id: string) => ["jobs", "one", id] as const,
};

export function jobPath(id: string): string {
  return `/api/v1/jobs/${encodeURIComponent(id)}`;
}

export function getJob(id: string): Promise<Job> {
  return fetchJson<Job>(jobPath(id));
}

export type JobAction = "cancel" | "hold" | "release" | "requeue";

export function actOn(id: string, action: JobAction): Promise<Job> {
  return fetchJson<Job>(`${jobPath(id)}/${action}`, { method: "POST", body: "{}" });
}

export function submitJob(projectId: string, body: SubmitBody, idempotencyKey: string): Promise<Submitted> {
  return fetchJson<Submitted>(`/api/v1/projects/${encodeURIComponent(projectId)}/jobs`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

export interface Dataset {
  id: string;
  name: string;
  latest: number;
  [k: string]: unknown;
}

export function listDatasets(projectId: string): Promise<ListPage<Dataset>> {
  return fetchJson<ListPage<Dataset>>(`/api/v1/projects/${encodeURIComponent(projectId)}/datasets?limit=200`);
}

// Which actions the server accepts for a job in its state (others answer 409).
export function validActions(j: Job): JobAction[] {
  const out: JobAction[] = [];
  if (j.state === "PENDING" || j.state === "RUNNING") {
    if (!(j.state === "RUNNING" && j.stop_requested)) out.push("cancel");
  }
  if (j.state === "PENDING") out.push(j.held ? "release" : "hold");
  if (j.state === "RUNNING" && !j.stop_requested) out.push("requeue");
  if (TERMINAL.has(j.state)) out.push("requeue");
  return out;
}

// The whole of a job's stdout or stderr, fetched in pieces by offset, saved as a file.
export async function downloadLog(id: string, stream: "stdout" | "stderr"): Promise<void> {
  const parts: ArrayBuffer[] = [];
  let offset = 0;
  for (;;) {
    const r = await fetch(`${jobPath(id)}/logs?stream=${stream}&offset=${offset}&limit=4194304`, { credentials: "same-origin" });
    if (!r.ok) throw ApiError.from(r, await r.json().catch(() => undefined));
    parts.push(await r.arrayBuffer());
    offset = Number(r.headers.get("X-Next-Offset") ?? offset);
    const size = Number(r.headers.get("X-Log-Size") ?? 0);
    if (offset >= size || parts[parts.length - 1].byteLength === 0) break;
  }
  const url = URL.createObjectURL(new Blob(parts, { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `${id}.${stream}.log`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
