// GET /api/v1/me/usage's sparse (day, project) items as what the chart and the table show: one
// series per project over every day of the window (days without use are 0), and totals.
import type { UsageAnswer, UsageProject } from "../../api/me";

export type Metric = "cpu_hours" | "gpu_hours";

const DAY_MS = 86_400_000;

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// The window of the last `n` UTC days, today included, as the API's from/to dates (to inclusive).
export function lastDays(n: number, now: Date): { from: string; to: string } {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { from: isoDay(today - (n - 1) * DAY_MS), to: isoDay(today) };
}

// Every UTC day in [from, to) of the answer.
export function daysOf(a: Pick<UsageAnswer, "from" | "to">): string[] {
  const out: string[] = [];
  const from = Date.parse(a.from);
  const to = Date.parse(a.to);
  for (let t = from - (from % DAY_MS); t < to && out.length < 400; t += DAY_MS) out.push(isoDay(t));
  return out;
}

export function projectLabel(p: UsageProject | undefined, id: string): string {
  if (!p || !p.name) return `${id} (no longer visible)`;
  return p.slug && p.slug !== p.name ? `${p.name} (${p.slug})` : p.name;
}

export interface Series {
  id: string;
  label: string;
  values: number[];
}

export function seriesOf(a: UsageAnswer, metric: Metric): { days: string[]; series: Series[] } {
  const days = daysOf(a);
  const index = new Map(days.map((d, i) => [d, i]));
  const byProject = new Map<string, number[]>();
  for (const it of a.items) {
    const i = index.get(it.day);
    if (i === undefined) continue;
    let v = byProject.get(it.project_id);
    if (!v) byProject.set(it.project_id, (v = days.map(() => 0)));
    v[i] += it[metric];
  }
  const names = new Map(a.projects.map((p) => [p.id, p]));
  const series = [...byProject.entries()]
    .map(([id, values]) => ({ id, label: projectLabel(names.get(id), id), values }))
    .sort((x, y) => x.label.localeCompare(y.label));
  return { days, series };
}

export interface TotalRow {
  id: string;
  label: string;
  cpu_hours: number;
  gpu_hours: number;
}

// Per project, the most used first.
export function totalsOf(a: UsageAnswer): TotalRow[] {
  const names = new Map(a.projects.map((p) => [p.id, p]));
  const rows = new Map<string, TotalRow>();
  for (const it of a.items) {
    let r = rows.get(it.project_id);
    if (!r)
      rows.set(
        it.project_id,
        (r = { id: it.project_id, label: projectLabel(names.get(it.project_id), it.project_id), cpu_hours: 0, gpu_hours: 0 }),
      );
    r.cpu_hours += it.cpu_hours;
    r.gpu_hours += it.gpu_hours;
  }
  return [...rows.values()].sort((x, y) => y.cpu_hours - x.cpu_hours || x.label.localeCompare(y.label));
}

// Hours with sensible precision: 0, 0.004, 1.25, 130.
export function hours(h: number): string {
  if (h === 0) return "0";
  if (h < 0.01) return h.toFixed(4);
  if (h < 10) return h.toFixed(2);
  return h.toFixed(1);
}
