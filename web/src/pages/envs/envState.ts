// The client logic of the environment pages, kept free of React so that it is unit-tested:
// state words and colours, the queue reason in words, live updates merged into a listed page,
// durations, and the launch form's rules (the API's, within the app's maxima).
import type { App, Env, LaunchBody } from "../../api/envs";
import { DEFAULT_PARTITION, partitionField } from "../../api/compute";
import { DEFAULT_IMAGE, imageField } from "../../api/images";

export const ACTIVE_STATES = new Set(["QUEUED", "STARTING", "READY", "STOPPING"]);
export const isActive = (e: Pick<Env, "state">) => ACTIVE_STATES.has(e.state);

export function stateColor(state: string): string {
  switch (state) {
    case "READY":
      return "green";
    case "QUEUED":
      return "yellow";
    case "STARTING":
      return "blue";
    case "STOPPING":
      return "orange";
    case "FAILED":
      return "red";
    default:
      return "gray";
  }
}

export function stateWords(state: string): string {
  switch (state) {
    case "QUEUED":
      return "Queued";
    case "STARTING":
      return "Starting";
    case "READY":
      return "Ready";
    case "STOPPING":
      return "Stopping";
    case "STOPPED":
      return "Stopped";
    case "FAILED":
      return "Failed";
    default:
      return state;
  }
}

// The scheduler's pending reasons (SLURM's names) in words.
const REASONS: Record<string, string> = {
  Resources: "waiting for free CPUs or memory",
  Priority: "other work is ahead in the queue (fair share)",
  Dependency: "waiting for another job to finish",
  BeginTime: "waiting for its start time",
  JobHeldUser: "held",
  JobHeldAdmin: "held by an administrator",
  QOSMaxJobsPerUserLimit: "you already run as many jobs as your limit allows",
  QOSMaxCpuPerUserLimit: "you already use as many CPUs as your limit allows",
  AssocMaxJobsLimit: "the limit on running jobs is reached",
  AssocGrpJobsLimit: "the group's limit on running jobs is reached",
  AssocMaxCpuLimit: "the CPU limit is reached",
  AssocGrpCpuLimit: "the group's CPU limit is reached",
  JobArrayTaskLimit: "the array's limit on running tasks is reached",
};

// A QUEUED environment's reason ("Resources: needs 2 CPUs") in words.
export function reasonWords(reason: string): string {
  if (!reason) return "";
  const colon = reason.indexOf(":");
  const code = colon < 0 ? reason : reason.slice(0, colon);
  const words = REASONS[code.trim()];
  if (!words) return reason;
  const detail = colon < 0 ? "" : reason.slice(colon + 1).trim();
  return detail ? `${words} (${detail})` : words;
}

// A listed page with the stream's newer copies: each listed environment replaced by its live
// one, and live environments the page does not have yet first (newest first).
export function mergeLive(items: Env[], live: ReadonlyMap<string, Env>, include: (e: Env) => boolean = () => true): Env[] {
  const listed = new Set(items.map((e) => e.id));
  const extra = [...live.values()]
    .filter((e) => !listed.has(e.id) && include(e))
    .sort((a, b) => (a.id < b.id ? 1 : -1));
  return [...extra, ...items.map((e) => live.get(e.id) ?? e)];
}

// "3 h 05 min", "12 min", "40 s".
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

// How long it has been up (since READY, until it ended), and idle (since the last activity).
export function uptime(e: Env, now: number): string {
  if (!e.ready_at) return "—";
  const end = e.ended_at ? Date.parse(e.ended_at) : now;
  return duration(end - Date.parse(e.ready_at));
}

export function idle(e: Env, now: number): string {
  if (e.state !== "READY") return "—";
  return duration(now - Date.parse(e.last_activity));
}

// The launch form as typed: numbers in the units people think in.
export interface LaunchForm {
  cpus: number | string;
  memGb: number | string;
  hours: number | string;
  ref: string;
  gpus?: number | string;
  image?: string; // "@default", "none" or "name@sha256:…" (RunPickers' ImagePicker)
  datasets?: string[];
  secrets?: string[];
  files?: boolean;
  partition?: string; // "@default" (the org's) or a partition's name
}

export type LaunchErrors = Partial<Record<keyof LaunchForm, string>>;

export function defaultsFor(app: App): LaunchForm {
  return {
    cpus: app.defaults.cpus,
    memGb: Math.round((app.defaults.mem_mb / 1024) * 100) / 100,
    hours: Math.round((app.defaults.time_limit_s / 3600) * 100) / 100,
    ref: "",
    gpus: 0,
    image: DEFAULT_IMAGE,
    datasets: [],
    secrets: [],
    partition: DEFAULT_PARTITION,
  };
}

const num = (v: number | string) => (typeof v === "number" ? v : v.trim() === "" ? NaN : Number(v));

function fmtGb(mb: number): string {
  return `${Math.round((mb / 1024) * 100) / 100} GB`;
}

function fmtHours(s: number): string {
  return s >= 3600 ? `${Math.round((s / 3600) * 100) / 100} h` : `${Math.round(s / 60)} min`;
}

// The API's rules (cpus 1.., mem_mb 16.., time_limit_s 60..), within the app's maxima.
export function validateLaunch(f: LaunchForm, app: App): { errors: LaunchErrors; body?: LaunchBody } {
  const errors: LaunchErrors = {};
  const cpus = num(f.cpus);
  if (!Number.isInteger(cpus) || cpus < 1) errors.cpus = "A whole number of CPUs, at least 1";
  else if (cpus > app.max.cpus) errors.cpus = `At most ${app.max.cpus} CPUs for ${app.name}`;
  const gb = num(f.memGb);
  const mem = Math.round(gb * 1024);
  if (!Number.isFinite(gb) || mem < 16) errors.memGb = "Memory in GB, at least 0.02 (16 MB)";
  else if (mem > app.max.mem_mb) errors.memGb = `At most ${fmtGb(app.max.mem_mb)} for ${app.name}`;
  const hours = num(f.hours);
  const secs = Math.round(hours * 3600);
  if (!Number.isFinite(hours) || secs < 60) errors.hours = "A time limit in hours, at least one minute (0.02)";
  else if (secs > app.max.time_limit_s) errors.hours = `At most ${fmtHours(app.max.time_limit_s)} for ${app.name}`;
  const ref = f.ref.trim();
  if (ref.length > 255) errors.ref = "At most 255 characters";
  else if (/[\s~^:?*[\\]/.test(ref) || ref.includes("..")) errors.ref = "Not a branch, tag or commit name";
  const gpus = f.gpus === undefined ? 0 : num(f.gpus);
  const maxGpus = app.max_gpus ?? 0;
  if (!Number.isInteger(gpus) || gpus < 0) errors.gpus = "A whole number of GPUs";
  else if (gpus > maxGpus) errors.gpus = `At most ${maxGpus} GPUs for ${app.name}`;
  const datasets = f.datasets ?? [];
  const dsNames = datasets.map((d) => d.split("@")[0]);
  if (new Set(dsNames).size !== dsNames.length) errors.datasets = "A dataset is named twice";
  const secrets = f.secrets ?? [];
  const secretNames = secrets.map((x) => x.split(":")[0]);
  if (new Set(secretNames).size !== secretNames.length) errors.secrets = "A secret is named twice";
  if (Object.keys(errors).length) return { errors };
  const body: LaunchBody = { app: app.name, cpus, mem_mb: mem, time_limit_s: secs };
  if (ref) body.ref = ref;
  if (gpus > 0) body.gpus = gpus;
  const image = imageField(f.image);
  if (image) body.image = image;
  if (datasets.length) body.datasets = datasets;
  if (secrets.length) body.secrets = secrets;
  if (f.files) body.files = true;
  const partition = partitionField(f.partition);
  if (partition) body.partition = partition;
  return { errors, body };
}

// The launch form's field for a problem's `field` from the API.
export function formField(problemField: string | undefined): keyof LaunchForm | undefined {
  // exceeds-partition names "resources.<x>"
  const apiField = problemField?.startsWith("resources.") ? problemField.slice("resources.".length) : problemField;
  switch (apiField) {
    case "cpus":
      return "cpus";
    case "mem_mb":
      return "memGb";
    case "time_limit_s":
      return "hours";
    case "ref":
      return "ref";
    case "gpus":
    case "image":
    case "datasets":
    case "secrets":
    case "files":
    case "partition":
      return apiField;
    default:
      return undefined;
  }
}

export { fmtHours };
