// Environments and the app catalog, as /api/v1/apps, /api/v1/projects/{id}/envs and
// /api/v1/envs/... answer them (docs/envs.md).
import { fetchJson, type ListPage } from "./client";

export type EnvStateName = "QUEUED" | "STARTING" | "READY" | "STOPPING" | "STOPPED" | "FAILED";

export interface Env {
  id: string;
  project_id: string;
  org_id: string;
  user_id: string;
  app: string;
  kind: "jupyter" | "terminal" | "web" | string;
  job_id: string;
  state: EnvStateName | string;
  reason: string;
  url: string; // its own origin
  cpus: number;
  mem_mb: number;
  time_limit_s: number;
  idle_timeout_s: number;
  max_uptime_s: number;
  commit: string | null;
  created_at: string;
  ready_at: string | null;
  ended_at: string | null;
  last_activity: string;
  stop_requested: string | null;
  log_tail?: string;
  gpus?: number;
  image?: { name: string | null; digest: string } | null; // null: the host system
  secrets?: string[]; // names only
  datasets?: { name: string; version: number; dataset_id?: string; path?: string }[];
  files?: { prefix: string; path: string } | null; // the project's files, read-write (null: not mounted)
  partition?: string; // "local" or a SLURM partition
  etag: string;
}

export interface Resources {
  cpus: number;
  mem_mb: number;
  time_limit_s: number;
}

export interface App {
  name: string;
  kind: "jupyter" | "terminal" | "web" | string;
  title: string;
  defaults: Resources;
  max: Resources;
  idle_timeout_s: number;
  max_uptime_s: number;
  spawn_timeout_s: number;
  network: string;
  enabled: boolean;
  max_gpus?: number; // GPUs a launch may ask for (0 or absent: none)
  image?: string; // the image the app runs on when a launch names none ("" or absent: the project's default)
}

export interface GuestLink {
  id: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

// POST /envs/{id}/links: the secret and its URL are shown once.
export interface NewGuestLink {
  id: string;
  env_id: string;
  secret: string;
  url: string;
  expires_at: string;
}

export interface LaunchBody {
  app: string;
  cpus?: number;
  mem_mb?: number;
  time_limit_s?: number;
  ref?: string;
  gpus?: number;
  image?: string; // "name", "name@sha256:…", "none"; absent: the project's default
  datasets?: string[]; // name or name@N
  secrets?: string[]; // NAME or NAME:file
  files?: boolean; // the project's files read-write at /project, written back
  partition?: string; // absent: the org's default partition
}

export const listApps = () => fetchJson<ListPage<App>>("/api/v1/apps");

export const launchEnv = (projectId: string, body: LaunchBody) =>
  fetchJson<Env>(`/api/v1/projects/${encodeURIComponent(projectId)}/envs`, {
    method: "POST",
    body: JSON.stringify(body),
  });

export const getEnv = (id: string) => fetchJson<Env>(`/api/v1/envs/${encodeURIComponent(id)}`);

export const stopEnv = (id: string) =>
  fetchJson<Env>(`/api/v1/envs/${encodeURIComponent(id)}/stop`, { method: "POST" });

export const listLinks = (id: string) =>
  fetchJson<ListPage<GuestLink>>(`/api/v1/envs/${encodeURIComponent(id)}/links`);

export const createLink = (id: string, ttlSeconds: number) =>
  fetchJson<NewGuestLink>(`/api/v1/envs/${encodeURIComponent(id)}/links`, {
    method: "POST",
    body: JSON.stringify({ ttl_s: ttlSeconds }),
  });

export const revokeLink = (id: string, link: string) =>
  fetchJson<void>(`/api/v1/envs/${encodeURIComponent(id)}/links/${encodeURIComponent(link)}`, { method: "DELETE" });

// Where the browser opens an environment: the main origin's /env/{id}/ hands it a one-time
// ticket for the environment's own origin (never embedded here: CSP frame-src 'none').
export const openPath = (id: string) => `/env/${encodeURIComponent(id)}/`;

// The terminal page, served by Atrium on the environment's own origin (see Terminal.tsx).
export const terminalPath = (id: string) => `/env/${encodeURIComponent(id)}/_atrium/terminal`;

// The event streams: the caller's environments (or a project's), and one environment's changes.
export const envListEventsPath = (projectId?: string) =>
  projectId ? `/api/v1/envs/events?project=${encodeURIComponent(projectId)}` : "/api/v1/envs/events";
