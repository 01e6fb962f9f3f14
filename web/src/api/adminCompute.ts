// The instance administrator's compute and catalog API: GET /api/v1/admin/compute/queue (every org's
// jobs with their priority factors, as sprio shows them), GET /api/v1/admin/envs, GET /api/v1/compute
// (this node), and the app catalog (GET/PUT/DELETE /api/v1/apps/{name}).
import { fetchJson, type ListPage } from "./client";
import type { Env } from "./envs";
import type { Job } from "./jobs";

export interface Named {
  id: string;
  username?: string | null;
  slug?: string | null;
  name?: string | null;
}

// Each in [0, 1] but nice; priority = the weighted sum minus nice; rank 0 starts next.
export interface Factors {
  age: number;
  fair_share: number;
  job_size: number;
  qos: number;
  nice: number;
  priority: number;
  rank: number;
}
export type Weights = Record<"age" | "fair_share" | "job_size" | "qos", number>;

export interface AdminJob extends Job {
  factors: Factors | null; // null: running, or a SLURM partition's (SLURM ranks it)
  user: Named;
  org: Named | null;
}
export interface QueuePage extends ListPage<AdminJob> {
  weights: Weights;
  pending_total: number;
}

export interface AdminEnv extends Env {
  owner: Named;
  org: Named | null;
  uptime_s: number | null;
  idle_s: number | null;
}

export interface Node {
  resources: { cpus: number; mem_mb: number; gpus: number };
  allocated: { cpus: number; mem_mb: number; gpus: number };
  jobs: { pending: number; running: number };
}

export const adminKeys = {
  node: ["admin", "node"] as const,
  queue: (state: string, org: string) => ["admin", "queue", state, org] as const,
  envs: (active: boolean) => ["admin", "envs", active] as const,
  apps: ["admin", "apps"] as const,
  orgs: ["admin", "orgs"] as const,
};

export const getNode = () => fetchJson<Node>("/api/v1/compute");

export const queuePath = "/api/v1/admin/compute/queue";
export const envsPath = "/api/v1/admin/envs";

export const stopEnvAsAdmin = (id: string) =>
  fetchJson<Env>(`/api/v1/envs/${encodeURIComponent(id)}/stop`, { method: "POST", body: "{}" });

// ---- the app catalog

export interface Limits {
  cpus: number;
  mem_mb: number;
  time_limit_s: number;
}

export interface CatalogApp {
  name: string;
  kind: "jupyter" | "terminal" | "web" | string;
  title: string;
  defaults: Limits;
  max: Limits;
  max_gpus: number;
  idle_timeout_s: number;
  max_uptime_s: number;
  spawn_timeout_s: number;
  network: "none" | "outbound" | string;
  rootfs: string;
  image: string;
  enabled: boolean;
  orgs: string[] | null; // null: every org
  per_org: Record<string, { idle_timeout_s?: number; max_uptime_s?: number }>;
  builtin: boolean;
  health_path: string;
  command?: string[];
  listen?: "unix" | "port";
  port?: number;
  etag: string;
}

export type AppBody = Partial<Omit<CatalogApp, "name" | "builtin" | "etag">>;

export interface Org {
  id: string;
  slug: string;
  name: string;
}

const appPath = (name: string) => `/api/v1/apps/${encodeURIComponent(name)}`;

export const listCatalog = () => fetchJson<ListPage<CatalogApp>>("/api/v1/apps");

// etag: the app's as read (If-Match: a change made meanwhile answers 412); undefined: a new app
// (If-None-Match: *, so that adding never overwrites an app of that name: 409 app-exists).
export const putApp = (name: string, body: AppBody, etag?: string) =>
  fetchJson<CatalogApp>(appPath(name), {
    method: "PUT",
    body: JSON.stringify(body),
    headers: etag ? { "If-Match": etag } : { "If-None-Match": "*" },
  });

export const deleteApp = (name: string) => fetchJson<void>(appPath(name), { method: "DELETE" });
