// Projects, their members and the caller's activity feed, as the API answers them, and the rules
// the project forms check as the user types (the server's own: src/projects/routes.cpp).
import { fetchJson } from "./client";

export const VISIBILITIES = ["private", "org", "instance"] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const VISIBILITY_TEXT: Record<Visibility, string> = {
  private: "Private: only the project's members",
  org: "Organisation: every member of the organisation may read it",
  instance: "Instance: every signed-in user may read it",
};

export const PROJECT_ROLES = ["owner", "maintainer", "member", "viewer"] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

// A project as GET /api/v1/orgs/{org}/projects/{project} and /api/v1/projects/{id} answer it.
export interface Project {
  id: string;
  org_id: string;
  org_slug: string | null;
  slug: string;
  name: string;
  description: string;
  visibility: Visibility;
  tags: string[];
  group_id: string | null;
  archived: boolean;
  created_by: string;
  my_role: ProjectRole | null;
  etag: string;
  created_at: string;
  updated_at: string;
  [k: string]: unknown; // fields other pages read and name themselves
}

export interface ProjectMember {
  user_id: string;
  username: string | null;
  role: ProjectRole;
  added_at?: string;
  etag: string;
}

// One row of GET /api/v1/me/activity (newest first).
export interface ActivityEvent {
  seq: number;
  id: string;
  time: string;
  actor_id: string | null;
  actor: string | null;
  org_id: string | null;
  org_slug: string | null;
  project_id: string | null;
  project: { id: string; slug: string; name: string; org_slug: string | null } | null;
  action: string;
  target_kind: string;
  target_id: string;
  summary: Record<string, unknown>;
}

export const SLUG_MAX = 64;

// The API's slug rule: 1-64 of a-z 0-9 - _ . starting with a letter or digit. Null when valid.
export function slugError(slug: string): string | null {
  if (slug === "") return "Choose a slug: it names the project in its URL";
  if (slug.length > SLUG_MAX) return `At most ${SLUG_MAX} characters (now ${slug.length})`;
  if (!/^[a-z0-9]/.test(slug)) return "Start with a lowercase letter or a digit";
  const bad = [...new Set(slug.replace(/[a-z0-9._-]/g, ""))];
  if (bad.length) return `Only a-z, 0-9, - _ and . are allowed (not ${bad.map((c) => `"${c}"`).join(" ")})`;
  return null;
}

// A slug suggested from a name: "Climate Model (v2)" -> "climate-model-v2".
export function slugFromName(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, SLUG_MAX);
}

// Tags: the same rule, at most 40 characters each, 20 in all; the server lowercases them.
export function tagError(tags: string[]): string | null {
  if (tags.length > 20) return "At most 20 tags";
  const bad = tags.find((t) => t.length > 40 || !/^[a-z0-9][a-z0-9._-]*$/.test(t.toLowerCase()));
  return bad !== undefined ? `Tag "${bad}": use a-z 0-9 - _ . (at most 40 characters)` : null;
}

// Where a project's pages are: /{org}/{project}. An org the caller cannot name (null slug) is
// addressed by its id, which the API accepts as well.
export function projectPath(p: { slug: string; org_slug: string | null; org_id?: string | null }): string {
  return `/${p.org_slug ?? p.org_id ?? ""}/${p.slug}`;
}

export function projectApi(id: string): string {
  return `/api/v1/projects/${encodeURIComponent(id)}`;
}

// What the caller may do in a project's settings (the server's project role templates; an org
// administrator or instance admin holds projects:*:org).
export interface ProjectAbilities {
  edit: boolean; // name, description, visibility, tags, archive
  members: boolean; // add, change roles, remove
  remove: boolean; // delete the project
}
export function projectAbilities(role: ProjectRole | null | undefined, orgAdmin: boolean): ProjectAbilities {
  const owner = orgAdmin || role === "owner";
  return { edit: owner || role === "maintainer", members: owner, remove: owner };
}

// Search highlights: the parts of `text` that a query's words begin (the server's full-text
// search matches word prefixes), as [text, matched] pieces in order.
export function highlight(text: string, query: string): [string, boolean][] {
  const words = query
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .sort((a, b) => b.length - a.length);
  if (!words.length || !text) return [[text, false]];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})`, "giu");
  const out: [string, boolean][] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) out.push([text.slice(last, at), false]);
    out.push([m[0], true]);
    last = at + m[0].length;
  }
  if (last < text.length) out.push([text.slice(last), false]);
  return out;
}

// An activity event in words: "renamed the project to Feed 2", "added a member (viewer)".
export function activityText(e: ActivityEvent): string {
  const s = e.summary ?? {};
  const str = (k: string) => (typeof s[k] === "string" ? (s[k] as string) : "");
  switch (e.action) {
    case "project.create":
      return "created the project";
    case "project.update": {
      const what = Object.keys(s).filter((k) => k !== "archived");
      return what.length ? `changed the project's ${what.join(", ").replace(/_/g, " ")}` : "updated the project";
    }
    case "project.archive":
      return "archived the project";
    case "project.unarchive":
      return "unarchived the project";
    case "project.delete":
      return `deleted the project ${str("slug")}`.trim();
    case "project.member.add":
      return `added a member (${str("role")})`;
    case "project.member.update":
      return `changed a member's role to ${str("role")}`;
    case "project.member.remove":
      return "removed a member";
    case "job.submit":
      return `submitted a job${str("name") ? ` (${str("name")})` : ""}`;
    case "env.launch":
      return `launched ${str("app") || "an environment"}`;
    case "repo.push":
      return `pushed to ${str("ref") || "the repository"}`;
    case "repo.file.write":
      return `edited ${str("path") || "a file"}`;
    case "file.create":
    case "file.replace":
      return `uploaded ${str("path") || "a file"}`;
    case "file.delete":
      return `deleted ${str("path") || "a file"}`;
    case "file.move":
      return `moved ${str("from")} to ${str("to")}`;
    case "dataset.create":
      return `created the dataset ${str("name")}`.trim();
    case "dataset.version":
      return "made a dataset version";
    case "token.create":
      return "created an API token";
    case "token.revoke":
      return "revoked an API token";
    default:
      return e.action.replace(/[._]/g, " ");
  }
}

// The form field a server error belongs to: the problem's `field`, or the one its type implies.
export function problemField(problem: { field?: unknown; type?: string } | undefined): string | null {
  if (!problem) return null;
  if (typeof problem.field === "string" && problem.field) return problem.field;
  const code = (problem.type ?? "").split(":").pop();
  if (code === "slug-taken") return "slug";
  if (code === "reserved-slug") return "slug";
  if (code === "not-org-member" || code === "already-member") return "username";
  return null;
}

// The query of a project by its URL's org and slug: ProjectShell's, and the route loader's that
// starts it while the page's chunks load (app/routes.tsx). One key, so they share the answer.
export function projectQuery(org: string, slug: string) {
  return {
    queryKey: ["project", org, slug] as const,
    queryFn: () => fetchJson<Project>(`/api/v1/orgs/${encodeURIComponent(org)}/projects/${encodeURIComponent(slug)}`),
  };
}
