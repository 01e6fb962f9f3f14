// An org's usage answer as what the Usage page shows: the chart's series (the largest keys, the
// rest summed as "Others") and the table of the same numbers per bucket, the totals per key, and
// the fair-share tree in sshare's order (org, then each group followed by its users).
import type { FairShareAccount, FairShareAnswer, FairShareUser, OrgUsageAnswer, UsageKey } from "../../api/orgUsage";
import type { Series } from "../me/usage";

export type Metric = "cpu_hours" | "gpu_hours";

export const TOP = 8;

export function keyLabel(k: UsageKey | undefined, id: string, by: string): string {
  if (by === "group" && id === "") return "(no group)";
  if (!k || !k.name) return `${id} (deleted)`;
  return k.slug && k.slug !== k.name ? `${k.name} (${k.slug})` : k.name;
}

export interface KeyTotal {
  id: string;
  label: string;
  cpu_hours: number;
  gpu_hours: number;
}

// Per key over the whole window, the most used (by `metric`) first.
export function totalsByKey(a: OrgUsageAnswer, metric: Metric): KeyTotal[] {
  const names = new Map(a.keys.map((k) => [k.id, k]));
  const rows = new Map<string, KeyTotal>();
  for (const it of a.items) {
    let r = rows.get(it.key);
    if (!r) rows.set(it.key, (r = { id: it.key, label: keyLabel(names.get(it.key), it.key, a.by), cpu_hours: 0, gpu_hours: 0 }));
    r.cpu_hours += it.cpu_hours;
    r.gpu_hours += it.gpu_hours;
  }
  return [...rows.values()].sort((x, y) => y[metric] - x[metric] || x.label.localeCompare(y.label));
}

// One series per key among the `top` largest, the rest summed as "Others"; values per bucket.
export function chartOf(a: OrgUsageAnswer, metric: Metric, top = TOP): { days: string[]; series: Series[] } {
  const days = a.buckets;
  const index = new Map(days.map((d, i) => [d, i]));
  const ranked = totalsByKey(a, metric).filter((t) => t[metric] > 0);
  const shown = new Map(ranked.slice(0, ranked.length > top ? top - 1 : top).map((t) => [t.id, t]));
  const series = new Map<string, Series>();
  for (const t of shown.values()) series.set(t.id, { id: t.id, label: t.label, values: days.map(() => 0) });
  const others: Series = { id: "\u0000others", label: "Others", values: days.map(() => 0) };
  for (const it of a.items) {
    const i = index.get(it.bucket);
    if (i === undefined || !it[metric]) continue;
    (series.get(it.key) ?? others).values[i] += it[metric];
  }
  const out = [...series.values()];
  if (ranked.length > shown.size) out.push(others);
  return { days, series: out };
}

export interface FairShareLine {
  level: 0 | 1 | 2; // org, group, user
  account: string; // the org's or group's label
  user: string; // the user's label (users only)
  row: FairShareAccount | FairShareUser;
}

export function fairShareLines(f: FairShareAnswer): FairShareLine[] {
  const label = (a: FairShareAccount) => (a.kind === "group" && a.id === "" ? "(no group)" : (a.name ?? a.slug ?? a.id));
  const out: FairShareLine[] = [];
  for (const a of f.accounts) {
    if (a.kind === "org") {
      out.push({ level: 0, account: label(a), user: "", row: a });
      continue;
    }
    out.push({ level: 1, account: label(a), user: "", row: a });
    for (const u of f.users.filter((x) => x.group_id === a.id).sort((x, y) => (x.username ?? "").localeCompare(y.username ?? "")))
      out.push({ level: 2, account: label(a), user: u.username ?? `${u.user_id} (deleted)`, row: u });
  }
  return out;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
