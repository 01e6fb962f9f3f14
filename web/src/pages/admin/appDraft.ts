// The app catalog's edit form, as typed (hours, minutes, one argument per line), and the PUT body
// it makes (seconds, argv). Pure: tested in appDraft.test.ts.
import type { AppBody, CatalogApp } from "../../api/adminCompute";

export interface OrgLimitRow {
  org: string;
  idle_min: number | "";
  uptime_h: number | "";
}

export interface AppDraft {
  name: string;
  kind: string;
  title: string;
  command: string; // a web app's argv, one argument per line
  listen: "unix" | "port";
  port: number | "";
  health_path: string;
  def_cpus: number | "";
  def_mem_mb: number | "";
  def_time_h: number | "";
  max_cpus: number | "";
  max_mem_mb: number | "";
  max_time_h: number | "";
  max_gpus: number | "";
  idle_min: number | ""; // 0: never culled for idleness
  uptime_h: number | ""; // 0: no limit beyond the time limit
  network: string;
  enabled: boolean;
  all_orgs: boolean;
  orgs: string[];
  per_org: OrgLimitRow[];
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export function newWebApp(): AppDraft {
  return {
    name: "",
    kind: "web",
    title: "",
    command: "",
    listen: "unix",
    port: 8000,
    health_path: "",
    def_cpus: 1,
    def_mem_mb: 2048,
    def_time_h: 8,
    max_cpus: 8,
    max_mem_mb: 32768,
    max_time_h: 168,
    max_gpus: 0,
    idle_min: 60,
    uptime_h: 24,
    network: "none",
    enabled: true,
    all_orgs: true,
    orgs: [],
    per_org: [],
  };
}

export function draftOf(a: CatalogApp): AppDraft {
  return {
    name: a.name,
    kind: a.kind,
    title: a.title,
    command: (a.command ?? []).join("\n"),
    listen: a.listen ?? "unix",
    port: a.port ?? 8000,
    health_path: a.health_path,
    def_cpus: a.defaults.cpus,
    def_mem_mb: a.defaults.mem_mb,
    def_time_h: r3(a.defaults.time_limit_s / 3600),
    max_cpus: a.max.cpus,
    max_mem_mb: a.max.mem_mb,
    max_time_h: r3(a.max.time_limit_s / 3600),
    max_gpus: a.max_gpus,
    idle_min: r3(a.idle_timeout_s / 60),
    uptime_h: r3(a.max_uptime_s / 3600),
    network: a.network,
    enabled: a.enabled,
    all_orgs: a.orgs === null,
    orgs: a.orgs ?? [],
    per_org: Object.entries(a.per_org).map(([org, l]) => ({
      org,
      idle_min: l.idle_timeout_s === undefined ? "" : r3(l.idle_timeout_s / 60),
      uptime_h: l.max_uptime_s === undefined ? "" : r3(l.max_uptime_s / 3600),
    })),
  };
}

const num = (v: number | "", scale = 1) => Math.round(Number(v === "" ? 0 : v) * scale);

export function bodyOf(d: AppDraft): AppBody {
  const body: AppBody = {
    title: d.title,
    defaults: { cpus: num(d.def_cpus), mem_mb: num(d.def_mem_mb), time_limit_s: num(d.def_time_h, 3600) },
    max: { cpus: num(d.max_cpus), mem_mb: num(d.max_mem_mb), time_limit_s: num(d.max_time_h, 3600) },
    max_gpus: num(d.max_gpus),
    idle_timeout_s: num(d.idle_min, 60),
    max_uptime_s: num(d.uptime_h, 3600),
    network: d.network,
    enabled: d.enabled,
    orgs: d.all_orgs ? null : d.orgs,
    per_org: {},
  };
  for (const row of d.per_org) {
    if (!row.org) continue;
    const l: { idle_timeout_s?: number; max_uptime_s?: number } = {};
    if (row.idle_min !== "") l.idle_timeout_s = num(row.idle_min, 60);
    if (row.uptime_h !== "") l.max_uptime_s = num(row.uptime_h, 3600);
    body.per_org![row.org] = l;
  }
  if (d.kind === "web") {
    body.kind = "web";
    body.command = d.command.split("\n").map((s) => s.trim()).filter((s) => s !== "");
    body.listen = d.listen;
    if (d.listen === "port") body.port = num(d.port);
    body.health_path = d.health_path;
  }
  return body;
}

// Client-side checks before asking the server (which checks everything again): field -> words.
export function checkDraft(d: AppDraft, isNew: boolean): Record<string, string> {
  const e: Record<string, string> = {};
  if (isNew && !/^[a-z0-9][a-z0-9-]{0,39}$/.test(d.name)) e.name = "1 to 40 of a-z, 0-9 and -, not starting with -";
  if (d.kind === "web" && d.command.trim() === "") e.command = "A web app needs a command";
  if (!d.all_orgs && d.orgs.length === 0) e.orgs = "Pick the organisations that may use it, or allow all";
  return e;
}

// The form field that shows an API problem's `field`.
export function formFieldOf(apiField: string | undefined): string | undefined {
  if (!apiField) return undefined;
  const map: Record<string, string> = {
    idle_timeout_s: "idle_min",
    max_uptime_s: "uptime_h",
    defaults: "defaults",
    max: "max",
  };
  return map[apiField] ?? apiField;
}
