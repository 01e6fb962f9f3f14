// The audit trail (GET /api/v1/audit/events, /export, /verify): an org's administrators read their
// org's events (?org=<id>); the whole chain's verification is the instance administrators'.
import { fetchJson } from "./client";

export interface AuditEvent {
  seq: number;
  id: string;
  time: string;
  actor_id: string | null;
  actor: string | null;
  token_id: string | null;
  org_id: string | null;
  action: string;
  target_kind: string;
  target_id: string;
  request_id: string;
  client_ip: string;
  summary: unknown;
  prev_hash: string;
  hash: string;
}

export interface AuditFilters {
  actor: string; // a user id or username
  action: string; // exact, or a prefix ending with *
  target: string;
  since: string; // datetime-local input value (local time), "" = none
  until: string;
}

export const NO_FILTERS: AuditFilters = { actor: "", action: "", target: "", since: "", until: "" };
export const FILTER_KEYS = ["actor", "action", "target", "since", "until"] as const;

// A datetime-local value ("2026-12-07T13:05") as the RFC 3339 UTC time the API takes.
export function toRfc3339(local: string): string {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// The query of a list or an export: the org and the filters that are set, newest first.
export function auditQuery(orgId: string, f: AuditFilters): Record<string, string> {
  const q: Record<string, string> = { org: orgId, order: "desc" };
  if (f.actor.trim()) q.actor = f.actor.trim();
  if (f.action.trim()) q.action = f.action.trim();
  if (f.target.trim()) q.target = f.target.trim();
  if (toRfc3339(f.since)) q.since = toRfc3339(f.since);
  if (toRfc3339(f.until)) q.until = toRfc3339(f.until);
  return q;
}

export const exportUrl = (orgId: string, f: AuditFilters) =>
  `/api/v1/audit/export?${new URLSearchParams(auditQuery(orgId, f))}`;

export interface Verification {
  ok: boolean;
  checked: number;
  first_broken: { seq: number; reason: string } | null;
  scope: "instance" | "org";
}

// The whole chain (instance administrators), or the org's events and their links.
export const verifyChain = (orgId: string | null) =>
  fetchJson<Verification>(orgId ? `/api/v1/audit/verify?org=${encodeURIComponent(orgId)}` : "/api/v1/audit/verify");

// What an event's summary says, on one line.
export function summaryText(s: unknown): string {
  if (s === null || s === undefined) return "";
  if (typeof s === "string") return s;
  if (typeof s === "object" && Object.keys(s as object).length === 0) return "";
  return JSON.stringify(s);
}
