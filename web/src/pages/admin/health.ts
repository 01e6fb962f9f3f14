// The Health page's data: the samples of the last hour merged from polls (each asks for what is
// newer than the last it has), the figures grouped into charts, and values in display units.
import type { HealthAnswer, HealthFigure, HealthSample } from "../../api/health";

export const HOUR_MS = 3_600_000;

// Appends a poll's samples to those kept and drops what is older than an hour before `now`.
export function mergeSamples(kept: HealthSample[], next: HealthSample[], now: number): HealthSample[] {
  const last = kept.length ? kept[kept.length - 1].t : -Infinity;
  return [...kept, ...next.filter((s) => s.t > last)].filter((s) => s.t > now - HOUR_MS);
}

export function mergeAnswer(prev: HealthAnswer | undefined, next: HealthAnswer): HealthAnswer {
  return { ...next, samples: mergeSamples(prev?.samples ?? [], next.samples, next.now) };
}

// How a chart shows its numbers: the API's unit times `scale`, labelled `label`.
export interface Scale {
  scale: number;
  label: string;
  digits: number;
}

export interface ChartGroup {
  id: string;
  title: string;
  figures: HealthFigure[];
  scale: Scale;
}

const GROUPS: { id: string; title: string; names: string[] }[] = [
  { id: "requests", title: "Requests per second", names: ["requests_per_s"] },
  { id: "latency", title: "Latency", names: ["latency_p50_s", "latency_p95_s", "latency_p99_s"] },
  { id: "errors", title: "Error rate", names: ["error_rate"] },
  { id: "db", title: "Database time", names: ["db_time_s"] },
  { id: "connections", title: "Open connections", names: ["open_connections"] },
  { id: "memory", title: "Memory (resident)", names: ["rss_bytes"] },
  { id: "disk", title: "Disk free", names: ["disk_free_ratio"] },
  { id: "disk_bytes", title: "Disk free (bytes)", names: ["disk_free_bytes"] },
];

const LABELS: Record<string, string> = {
  latency_p50_s: "p50",
  latency_p95_s: "p95",
  latency_p99_s: "p99",
};

export function seriesLabel(f: HealthFigure): string {
  return LABELS[f.name] ?? f.name.replaceAll("_", " ");
}

// The display unit of a figure's unit; bytes by the size of the largest value seen.
export function scaleOf(unit: string, largest: number): Scale {
  switch (unit) {
    case "s":
      return { scale: 1000, label: "ms", digits: 1 };
    case "ratio":
      return { scale: 100, label: "%", digits: 1 };
    case "1/s":
      return { scale: 1, label: "/s", digits: 2 };
    case "bytes":
      return largest >= 2 ** 30 ? { scale: 2 ** -30, label: "GiB", digits: 2 } : { scale: 2 ** -20, label: "MiB", digits: 1 };
    case "count":
      return { scale: 1, label: "", digits: 0 };
    default:
      return { scale: 1, label: unit, digits: 2 };
  }
}

function largest(samples: HealthSample[], names: string[]): number {
  let m = 0;
  for (const s of samples) for (const n of names) m = Math.max(m, s.values[n] ?? 0);
  return m;
}

// The built-in charts in a fixed order (those the server has), then one chart per other figure
// (gauges other modules add: jobs pending, nodes down ...).
export function groupsOf(figures: HealthFigure[], samples: HealthSample[]): ChartGroup[] {
  const byName = new Map(figures.map((f) => [f.name, f]));
  const used = new Set<string>();
  const out: ChartGroup[] = [];
  const add = (id: string, title: string, names: string[]) => {
    const fs = names.map((n) => byName.get(n)).filter((f): f is HealthFigure => !!f);
    if (!fs.length) return;
    for (const f of fs) used.add(f.name);
    out.push({ id, title, figures: fs, scale: scaleOf(fs[0].unit, largest(samples, names)) });
  };
  for (const g of GROUPS) add(g.id, g.title, g.names);
  for (const f of figures) if (!used.has(f.name)) add(f.name, f.help || f.name, [f.name]);
  return out;
}

export function display(v: number | undefined, s: Scale): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  const n = (v * s.scale).toFixed(s.digits);
  return s.label ? `${n} ${s.label}` : n;
}

// A sample's time as the table shows it (UTC; milliseconds when samples come more often than 1 s).
export function timeLabel(t: number, millis = false): string {
  return new Date(t).toISOString().slice(11, millis ? 23 : 19);
}

// The group's numbers in display units, newest first: [time, value per figure].
export function tableOf(g: ChartGroup, samples: HealthSample[]): { header: string[]; rows: (string | number | null)[][] } {
  const unit = g.scale.label ? ` (${g.scale.label.trim()})` : "";
  const header = ["time (UTC)", ...g.figures.map((f) => `${seriesLabel(f)}${unit}`)];
  const rows = [...samples].reverse().map((s) => [
    new Date(s.t).toISOString(),
    ...g.figures.map((f) => {
      const v = s.values[f.name];
      return v === undefined ? null : Number((v * g.scale.scale).toFixed(Math.max(g.scale.digits, 3)));
    }),
  ]);
  return { header, rows };
}
