// The submit form's checks, as the server makes them (src/jobs/routes.cpp parse_submit, the
// OpenAPI schema's limits, compute/array_spec.cpp and compute/job.cpp parse_dependency), so the
// form says what is wrong while the user types. The server stays the judge: its errors are shown
// at their field too.
import { DEFAULT_PARTITION, partitionField } from "../../api/compute";
import { DEFAULT_IMAGE, imageField } from "../../api/images";

export interface JobForm {
  name: string;
  mode: "command" | "script";
  command: string; // one line, split like a shell would for plain words and quotes
  script: string;
  cpus: string;
  mem_mb: string;
  gpus: string;
  time_limit_s: string;
  array: string;
  dependency: string;
  datasets: string[]; // name or name@N
  outputs_dataset: string;
  outputs_paths: string; // globs, one per line
  ref: string;
  image: string; // "@default" (the project's), "none" (the host system) or "name@sha256:…"
  secrets: string[]; // NAME or NAME:file
  partition: string; // "@default" (the org's) or a partition's name
}

// A new form: the server's defaults filled in.
export const EMPTY_FORM: JobForm = {
  name: "",
  mode: "command",
  command: "",
  script: "#!/bin/sh\n",
  cpus: "1",
  mem_mb: "1024",
  gpus: "0",
  time_limit_s: "3600",
  array: "",
  dependency: "",
  datasets: [],
  outputs_dataset: "",
  outputs_paths: "",
  ref: "",
  image: DEFAULT_IMAGE,
  secrets: [],
  partition: DEFAULT_PARTITION,
};

export type FieldErrors = Partial<Record<keyof JobForm | "outputs", string>>;

export const LIMITS = {
  cpus: [1, 4096],
  mem_mb: [1, 2 ** 32],
  gpus: [0, 64],
  time_limit_s: [1, 365 * 86400],
  script: 256 * 1024,
  name: 128,
  ref: 255,
  array: 1024,
  dependency: 4096,
  array_max_index: 1000,
  array_max_tasks: 1001,
  dep_id: 64,
  datasets: 32,
  globs: 32,
  glob: 256,
} as const;

// "python train.py --lr '0.1 0.2'" -> argv. Single and double quotes group; a backslash escapes.
export function splitCommand(text: string): string[] | string {
  const out: string[] = [];
  let cur = "";
  let have = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      have = true;
    } else if (c === "\\" && i + 1 < text.length) {
      cur += text[++i];
      have = true;
    } else if (/\s/.test(c)) {
      if (have) out.push(cur);
      cur = "";
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (quote) return `an unclosed ${quote} quote`;
  if (have) out.push(cur);
  return out;
}

function integer(text: string, [lo, hi]: readonly [number, number], what: string): string | undefined {
  if (text.trim() === "") return undefined; // the server's default
  if (!/^\d+$/.test(text.trim())) return `${what} must be a whole number`;
  const n = Number(text);
  if (n < lo || n > hi) return `${what} must be between ${lo} and ${hi}`;
  return undefined;
}

// sbatch --array: items := item (',' item)* ['%' N]; item := N | N '-' M [':' S].
export function checkArray(text: string): string | undefined {
  if (text === "") return undefined;
  if (text.length > LIMITS.array) return `is longer than ${LIMITS.array} bytes`;
  let items = text;
  const pct = text.indexOf("%");
  if (pct >= 0) {
    items = text.slice(0, pct);
    const lim = text.slice(pct + 1);
    if (!/^\d+$/.test(lim)) return "'%' must be followed by the number of tasks that may run at once";
    if (Number(lim) === 0) return "'%0': at least one task must be allowed to run";
  }
  if (items === "") return "names no indices";
  if (items.endsWith(",")) return "ends with ','";
  const seen = new Set<number>();
  const parts = items.split(",");
  for (let k = 0; k < parts.length; k++) {
    const item = parts[k];
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(item);
    const where = `item ${k + 1} "${item.slice(0, 40)}"`;
    if (!m) {
      if (/^\d+:/.test(item)) return `${where}: a step (':') needs a range (N-M:S)`;
      return `${where}: expected N, N-M or N-M:S`;
    }
    const first = Number(m[1]);
    const last = m[2] !== undefined ? Number(m[2]) : first;
    const step = m[3] !== undefined ? Number(m[3]) : 1;
    if (first > LIMITS.array_max_index || last > LIMITS.array_max_index)
      return `${where}: index exceeds the maximum ${LIMITS.array_max_index}`;
    if (last < first) return `${where}: range start ${first} is greater than its end ${last}`;
    if (step === 0) return `${where}: the step must be at least 1`;
    for (let i = first; i <= last; i += step) seen.add(i);
    if (seen.size > LIMITS.array_max_tasks) return `has more than ${LIMITS.array_max_tasks} tasks`;
  }
  return undefined;
}

const DEP_TYPES = new Set(["after", "afterany", "afterok", "afternotok"]);

// sbatch --dependency: afterok:ID[:ID], joined by ',' (all of) or '?' (any of); singleton.
export function checkDependency(text: string): string | undefined {
  if (text === "") return undefined;
  if (text.length > LIMITS.dependency) return `is longer than ${LIMITS.dependency} bytes`;
  const comma = text.includes(",");
  const any = text.includes("?");
  if (comma && any) return "mixes ',' (all of) and '?' (any of)";
  for (const item of text.split(any ? "?" : ",")) {
    if (item === "") return "has an empty item";
    if (item === "singleton") continue;
    const [type, ...ids] = item.split(":");
    if (!DEP_TYPES.has(type))
      return `unknown type "${type.slice(0, 32)}" (after, afterany, afterok, afternotok, singleton)`;
    if (ids.length === 0) return `"${type}" names no job`;
    for (const id of ids) {
      if (id === "") return `"${type}" has an empty job id`;
      if (id.length > LIMITS.dep_id) return `job id longer than ${LIMITS.dep_id} characters`;
      if (id.includes("+")) return "'+time' delays are not supported";
      if (!/^[A-Za-z0-9_.-]+$/.test(id)) return `job id "${id}" has an invalid character`;
    }
  }
  return undefined;
}

// A glob of the workspace: relative, no '..' component, at most 256 bytes.
export function checkGlob(g: string): string | undefined {
  if (g === "" || g.length > LIMITS.glob || g.startsWith("/") || g.includes("\0")) return `'${g.slice(0, 100)}' must be a relative glob within the workspace`;
  if (g === ".." || g.startsWith("../") || g.includes("/../") || g.endsWith("/..")) return `'${g.slice(0, 100)}' must be a relative glob within the workspace`;
  return undefined;
}

export function globsOf(text: string): string[] {
  return text
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function validate(f: JobForm): FieldErrors {
  const e: FieldErrors = {};
  if (f.name.length > LIMITS.name) e.name = `name must be at most ${LIMITS.name} characters`;
  if (f.mode === "command") {
    const argv = splitCommand(f.command);
    if (typeof argv === "string") e.command = `command has ${argv}`;
    else if (argv.length === 0 || argv[0] === "") e.command = "command must name a program";
  } else if (f.script.trim() === "") e.script = "script must be non-empty text";
  else if (new TextEncoder().encode(f.script).length > LIMITS.script) e.script = "script must be at most 256 KiB";
  const cpus = integer(f.cpus, LIMITS.cpus, "CPUs");
  if (cpus) e.cpus = cpus;
  const mem = integer(f.mem_mb, LIMITS.mem_mb, "memory (MB)");
  if (mem) e.mem_mb = mem;
  const gpus = integer(f.gpus, LIMITS.gpus, "GPUs");
  if (gpus) e.gpus = gpus;
  const t = integer(f.time_limit_s, LIMITS.time_limit_s, "the time limit (seconds)");
  if (t) e.time_limit_s = t;
  const a = checkArray(f.array.trim());
  if (a) e.array = `array ${a}`;
  const d = checkDependency(f.dependency.trim());
  if (d) e.dependency = `dependency ${d}`;
  if (f.datasets.length > LIMITS.datasets) e.datasets = `at most ${LIMITS.datasets} datasets`;
  const names = f.datasets.map((s) => s.split("@")[0]);
  if (new Set(names).size !== names.length) e.datasets = "a dataset is named twice";
  const secretNames = f.secrets.map((s) => s.split(":")[0]);
  if (new Set(secretNames).size !== secretNames.length) e.secrets = "a secret is named twice";
  if (f.secrets.length > LIMITS.datasets) e.secrets = `at most ${LIMITS.datasets} secrets`;
  if (f.ref.length > LIMITS.ref) e.ref = `ref must be at most ${LIMITS.ref} characters`;
  const globs = globsOf(f.outputs_paths);
  const ds = f.outputs_dataset.trim();
  if (ds !== "" || globs.length > 0) {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(ds)) e.outputs_dataset = "the output dataset must be a name (a-z 0-9 - _ .)";
    if (globs.length === 0 || globs.length > LIMITS.globs) e.outputs_paths = `give 1 to ${LIMITS.globs} globs, one per line`;
    for (const g of globs) {
      const ge = checkGlob(g);
      if (ge) e.outputs_paths = ge;
    }
  }
  return e;
}

// The request body for a valid form; empty fields are left to the server's defaults.
export function toBody(f: JobForm): import("../../api/jobs").SubmitBody {
  const body: import("../../api/jobs").SubmitBody = {};
  if (f.name.trim()) body.name = f.name.trim();
  if (f.mode === "command") body.command = splitCommand(f.command) as string[];
  else body.script = f.script;
  const num = (s: string) => (s.trim() === "" ? undefined : Number(s));
  body.cpus = num(f.cpus);
  body.mem_mb = num(f.mem_mb);
  body.gpus = num(f.gpus);
  body.time_limit_s = num(f.time_limit_s);
  if (f.array.trim()) body.array = f.array.trim();
  if (f.dependency.trim()) body.dependency = f.dependency.trim();
  if (f.datasets.length) body.datasets = f.datasets;
  if (f.outputs_dataset.trim()) body.outputs = { dataset: f.outputs_dataset.trim(), paths: globsOf(f.outputs_paths) };
  if (f.ref.trim()) body.ref = f.ref.trim();
  body.image = imageField(f.image);
  if (f.secrets.length) body.secrets = f.secrets;
  body.partition = partitionField(f.partition);
  for (const k of Object.keys(body) as (keyof typeof body)[]) if (body[k] === undefined) delete body[k];
  return body;
}

// The form field a server problem's `field` names.
export function fieldOf(problemField: string | undefined): keyof JobForm | "form" {
  // exceeds-partition names "resources.<x>"
  const f = problemField?.startsWith("resources.") ? problemField.slice("resources.".length) : problemField;
  switch (f) {
    case "command":
    case "script":
    case "cpus":
    case "mem_mb":
    case "gpus":
    case "time_limit_s":
    case "array":
    case "dependency":
    case "datasets":
    case "ref":
    case "name":
    case "image":
    case "secrets":
    case "partition":
      return f;
    case "outputs":
      return "outputs_paths";
    default:
      return "form";
  }
}
