// Where a code page is: the ref and path in its URL (/tree/<ref>/<path>, where a branch name may
// hold slashes too), the URLs of the other code views, and README links resolved in the repository.

// Splits "<ref>/<path>" with the refs the repository has: the longest known ref that the text
// starts with, else its first segment (a commit id, or a ref not among those loaded).
export function splitRefPath(splat: string, known: readonly string[]): { ref: string; path: string } {
  const s = splat.replace(/^\/+|\/+$/g, "");
  let best = "";
  for (const r of known) if (r.length > best.length && (s === r || s.startsWith(r + "/"))) best = r;
  if (!best) best = s.split("/")[0];
  return { ref: best, path: s.slice(best.length + 1) };
}

export type CodeView = "tree" | "blob" | "edit" | "new" | "commits";

function encodeSegments(p: string): string {
  return p
    .split("/")
    .filter((x) => x !== "")
    .map(encodeURIComponent)
    .join("/");
}

// base: "/{org}/{project}".
export function codeUrl(base: string, view: CodeView, ref: string, path = ""): string {
  const p = encodeSegments(path);
  return `${base}/${view}/${encodeSegments(ref)}${p ? "/" + p : ""}`;
}

export function parentDir(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

// Normalises "a/./b/../c" to "a/c"; null when it climbs above the root.
export function normalizePath(p: string): string | null {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!out.length) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}

// A link in a README at `dir` of the repository: links to elsewhere (a scheme, //host, mailto:,
// #anchor) stay as they are; a relative one becomes the repository path it names, with its
// kind (a trailing slash: a folder). Null when it leaves the repository.
export function resolveRepoLink(
  href: string,
  dir: string,
): { external: string } | { path: string; folder: boolean; hash: string } | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("#")) return { external: href };
  const hashAt = href.search(/[?#]/);
  const hash = hashAt < 0 ? "" : href.slice(hashAt);
  let raw = hashAt < 0 ? href : href.slice(0, hashAt);
  try {
    raw = decodeURIComponent(raw);
  } catch {
    // keep the text as written
  }
  const folder = raw.endsWith("/") || raw === "";
  const path = normalizePath(raw.startsWith("/") ? raw : `${dir}/${raw}`);
  if (path === null) return null;
  return { path, folder: folder || path === "", hash: hash.startsWith("#") ? hash : "" };
}

const ORDER: Record<string, number> = { dir: 0, submodule: 1, symlink: 2, file: 2 };

// A folder's entries as the tree shows them: folders first, then by name.
export function sortEntries<T extends { type: string; name: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => (ORDER[a.type] ?? 3) - (ORDER[b.type] ?? 3) || a.name.localeCompare(b.name));
}

// Whether to offer editing: a project viewer may not write (the server decides in the end, and
// its refusal is shown in words).
export function canWrite(role: unknown): boolean {
  return role !== "viewer";
}
