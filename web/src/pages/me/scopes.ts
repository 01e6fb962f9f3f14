// What an API token may do, chosen per area (read, or read and change) or as "everything I may
// do". A token never exceeds its user's own permissions; its scopes only narrow them.

export const AREAS = [
  { key: "projects", label: "Projects", hint: "settings, members, search" },
  { key: "code", label: "Code", hint: "git clone and push, files in the browser" },
  { key: "files", label: "Data", hint: "uploads, downloads, datasets" },
  { key: "jobs", label: "Jobs", hint: "submit, cancel, logs" },
  { key: "envs", label: "Environments", hint: "launch, open, stop" },
] as const;

export type Area = (typeof AREAS)[number]["key"];
export type Level = "none" | "read" | "write";

export interface ScopeChoice {
  everything: boolean;
  levels: Record<Area, Level>;
}

export function initialChoice(): ScopeChoice {
  return { everything: false, levels: { projects: "read", code: "read", files: "none", jobs: "none", envs: "none" } };
}

// The scopes to send; an empty list means nothing was chosen (the form says so).
export function scopesFor(c: ScopeChoice): string[] {
  if (c.everything) return ["*:*:*"];
  const out: string[] = [];
  for (const { key } of AREAS) {
    const level = c.levels[key];
    if (level === "read") out.push(`${key}:read:*`);
    else if (level === "write") out.push(`${key}:*:*`);
  }
  return out;
}

const LABEL = Object.fromEntries(AREAS.map((a) => [a.key, a.label])) as Record<string, string>;

// A token's scopes in words: "Everything", "Code (read and change), Jobs (read)".
export function describeScopes(scopes: string[]): string {
  if (scopes.length === 0) return "Nothing";
  if (scopes.some((s) => s === "*:*:*" || s === "*:*" || s === "*:*:all")) return "Everything";
  return scopes
    .map((s) => {
      const [resource, verb = "*", scope = "*"] = s.split(":");
      const what = LABEL[resource] ?? resource;
      const how = verb === "*" ? "read and change" : verb;
      return scope === "*" || scope === "all" ? `${what} (${how})` : `${what} (${how}, ${scope})`;
    })
    .join(", ");
}
