// A folder view over the API's flat file list. GET /projects/{id}/files?prefix=dir answers every
// file below dir in path order; a folder shows its files and its sub-folders once each. Each page
// of the API becomes a page of entries, and when a page ends inside a sub-folder the next request
// starts after that whole sub-folder (the cursor is the last path, base64url), so a folder with
// many files deep below it still lists in a few requests.
import type { FileInfo } from "../../api/data";

export type Entry = { kind: "folder"; name: string; path: string } | { kind: "file"; name: string; path: string; file: FileInfo };

// After every path below `folder/` ('\u{10FFFF}' sorts after any character a path may hold).
const LAST = "\u{10FFFF}";

export function base64url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The entries directly in `prefix` ("" = the top) from one page of files below it, and the
// cursor for the next page (null when `next` was null).
export function folderPage(
  prefix: string,
  files: FileInfo[],
  next: string | null,
): { entries: Entry[]; next: string | null } {
  const base = prefix ? `${prefix}/` : "";
  const entries: Entry[] = [];
  let lastFolder = "";
  for (const f of files) {
    if (!f.path.startsWith(base)) continue;
    const rest = f.path.slice(base.length);
    const slash = rest.indexOf("/");
    if (slash < 0) {
      entries.push({ kind: "file", name: rest, path: f.path, file: f });
      continue;
    }
    const name = rest.slice(0, slash);
    if (name !== lastFolder) entries.push({ kind: "folder", name, path: base + name });
    lastFolder = name;
  }
  if (next === null) return { entries, next: null };
  const last = files.at(-1);
  const inFolder = last ? last.path.slice(base.length).indexOf("/") : -1;
  if (!last || inFolder < 0) return { entries, next };
  // Skip the rest of the folder the page ended in; the server caps cursors at 256 bytes.
  const skip = base64url(`${base}${last.path.slice(base.length, base.length + inFolder)}/${LAST}`);
  return { entries, next: skip.length * 0.75 <= 256 ? skip : next };
}

// Pages may repeat a folder when the skip could not be used; show it once.
export function mergeEntries(pages: Entry[][]): Entry[] {
  const seen = new Set<string>();
  const out: Entry[] = [];
  for (const e of pages.flat()) {
    const k = `${e.kind}:${e.path}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}

// "a/b/c" -> [{name: "a", path: "a"}, {name: "b", path: "a/b"}, {name: "c", path: "a/b/c"}]
export function crumbs(path: string): { name: string; path: string }[] {
  const parts = path.split("/").filter(Boolean);
  return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join("/") }));
}
