// Quotas of an org, its groups and its users (GET/PUT /api/v1/orgs/{org}/quotas[/{kind}/{subject}]):
// limits (null = unlimited) beside the usage the counting modules report.
import { fetchJson, type ListPage } from "./client";

export type QuotaKind = "org" | "group" | "user";

export const LIMIT_KEYS = ["storage_bytes", "cpu_hours", "cpu_period_days", "concurrent_jobs", "concurrent_envs"] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];
export type Limits = Record<LimitKey, number | null>;

// The limits that have a usage to compare with (cpu_period_days is the CPU-hours' period).
export const COUNTED = ["storage_bytes", "cpu_hours", "concurrent_jobs", "concurrent_envs"] as const;
export type Counted = (typeof COUNTED)[number];

export const LIMIT_LABEL: Record<LimitKey, string> = {
  storage_bytes: "Storage",
  cpu_hours: "CPU-hours",
  cpu_period_days: "CPU-hours period (days)",
  concurrent_jobs: "Concurrent jobs",
  concurrent_envs: "Concurrent environments",
};

export interface Quota {
  org_id: string;
  kind: QuotaKind;
  subject_id: string;
  limits: Limits;
  usage: Partial<Record<Counted, number>> & Record<string, unknown>;
  etag: string;
}

export const quotasPath = (org: string) => `/api/v1/orgs/${encodeURIComponent(org)}/quotas`;
export const quotaPath = (org: string, kind: QuotaKind, subject: string) =>
  `${quotasPath(org)}/${kind}/${encodeURIComponent(subject)}`;

export const listQuotas = (org: string) => fetchJson<ListPage<Quota>>(quotasPath(org)).then((p) => p.items);
export const getQuota = (org: string, kind: QuotaKind, subject: string) =>
  fetchJson<Quota>(quotaPath(org, kind, subject));

// Sets every limit (null removes one) on the version `etag` names; 412 when it changed meanwhile.
export const putQuota = (org: string, kind: QuotaKind, subject: string, limits: Limits, etag: string) =>
  fetchJson<Quota>(quotaPath(org, kind, subject), {
    method: "PUT",
    headers: { "If-Match": etag },
    body: JSON.stringify(limits),
  });

const GIB = 1024 ** 3;

// Storage is edited in GiB (decimals allowed) and stored in bytes.
export const bytesToGib = (b: number | null) => (b === null ? null : Math.round((b / GIB) * 1000) / 1000);
export const gibToBytes = (g: number | null) => (g === null ? null : Math.round(g * GIB));

export function formatBytes(b: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}

export function formatAmount(key: Counted, n: number): string {
  if (key === "storage_bytes") return formatBytes(n);
  if (key === "cpu_hours") return n > 0 && n < 0.01 ? n.toPrecision(2) : String(Math.round(n * 100) / 100);
  return String(n);
}

// How full a quota is, in percent of its limit (over 100 when usage exceeds it); null = unlimited.
export function percentUsed(used: number, limit: number | null): number | null {
  if (limit === null) return null;
  if (limit === 0) return used > 0 ? Infinity : 100;
  return (used / limit) * 100;
}
