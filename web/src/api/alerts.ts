// Alerts (docs/alerts.md): rules on the server's health figures, what stands now, the history of
// events with each delivery's outcome. Instance administrators only.
import { fetchJson, listAll } from "./client";

export const ALERTS = "/api/v1/admin/alerts";

export interface AlertRule {
  id: string;
  name: string;
  figure: string;
  op: "<" | ">";
  threshold: number;
  for_s: number;
  severity: "info" | "warning" | "critical";
  enabled: boolean;
  emails: string[];
  webhook_url: string;
  webhook_secret_set: boolean;
  updated_at: string;
  version: number;
  etag: string;
  webhook_secret?: string; // only in the answer that made it
}

export type RuleInput = Pick<AlertRule, "name" | "figure" | "op" | "threshold" | "for_s" | "severity" | "enabled" | "emails" | "webhook_url"> & {
  rotate_secret?: boolean;
};

export interface Figure {
  name: string;
  unit: string;
  help: string;
}

export interface CurrentAlert {
  rule_id: string;
  name: string;
  figure: string;
  op: string;
  threshold: number;
  for_s: number;
  severity: string;
  enabled: boolean;
  state: "ok" | "pending" | "firing";
  since: string | null;
  value: number | null;
}

export interface Delivery {
  channel: string;
  state: "queued" | "delivered" | "failed";
  attempts: number;
  error?: string;
}

export interface AlertEvent {
  id: string;
  rule_id: string;
  rule_name: string;
  kind: "firing" | "resolved" | "test";
  figure: string;
  op: string;
  threshold: number;
  value: number | null;
  severity: string;
  at: string;
  deliveries: Delivery[];
}

export const alertKeys = {
  all: ["alerts"] as const,
  rules: ["alerts", "rules"] as const,
  current: ["alerts", "current"] as const,
  figures: ["alerts", "figures"] as const,
  allEvents: ["alerts", "events"] as const,
  events: (kind: string) => ["alerts", "events", kind] as const,
};

export const listRules = () => listAll<AlertRule>(`${ALERTS}/rules`);
export const getFigures = () => fetchJson<{ items: Figure[] }>(`${ALERTS}/figures`).then((r) => r.items);
export const getCurrent = () => fetchJson<{ items: CurrentAlert[]; sampled_at: string | null }>(`${ALERTS}/current`);

export const createRule = (body: RuleInput) =>
  fetchJson<AlertRule>(`${ALERTS}/rules`, { method: "POST", body: JSON.stringify(body) });
export const updateRule = (r: AlertRule, body: Partial<RuleInput>) =>
  fetchJson<AlertRule>(`${ALERTS}/rules/${r.id}`, { method: "PATCH", body: JSON.stringify(body), headers: { "If-Match": r.etag } });
export const deleteRule = (r: AlertRule) =>
  fetchJson<void>(`${ALERTS}/rules/${r.id}`, { method: "DELETE", headers: { "If-Match": r.etag } });
export const testRule = (r: AlertRule) => fetchJson<AlertEvent>(`${ALERTS}/rules/${r.id}/test`, { method: "POST" });

// "disk_free_ratio < 0.1 for 60 s"
export function condition(a: { figure: string; op: string; threshold: number; for_s: number }): string {
  return `${a.figure} ${a.op} ${a.threshold}${a.for_s > 0 ? ` for ${a.for_s} s` : ""}`;
}

// Comma- or space-separated addresses as the API takes them.
export function parseEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
