// Diffs as the code pages show them: git's unified diff (the `patch` of GET .../repo/compare)
// parsed into files, hunks and lines with their old and new line numbers, and a line diff of two
// texts in the same shape (the editor's conflict view: their version against mine).

export type LineKind = "context" | "add" | "del";

export interface DiffLine {
  kind: LineKind;
  text: string;
  old: number | null; // line number in the old file (null for an added line)
  new: number | null; // line number in the new file (null for a deleted line)
  noNewline?: boolean; // "\ No newline at end of file" follows this line
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  section: string; // the text after the second @@ (git's function context)
  lines: DiffLine[];
}

export type FileStatus = "added" | "deleted" | "modified" | "renamed" | "copied" | "type-changed";

export interface FileDiff {
  oldPath: string | null; // null for an added file
  newPath: string | null; // null for a deleted file
  path: string; // the path to show: the new one, else the old one
  status: FileStatus;
  binary: boolean;
  hunks: Hunk[];
  additions: number;
  deletions: number;
}

// git writes a path with unusual bytes as a C string: "a/t\303\251st".
export function unquotePath(p: string): string {
  if (!p.startsWith('"') || !p.endsWith('"')) return p;
  const body = p.slice(1, -1);
  const bytes: number[] = [];
  const esc: Record<string, number> = { n: 10, t: 9, r: 13, b: 8, f: 12, a: 7, v: 11, '"': 34, "\\": 92 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\") {
      for (const b of new TextEncoder().encode(c)) bytes.push(b);
      continue;
    }
    const n = body[i + 1];
    if (/[0-7]/.test(n ?? "")) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(esc[n] ?? n.charCodeAt(0));
      i += 1;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

// "a/x" -> "x", "/dev/null" -> null.
function stripPrefix(p: string): string | null {
  const u = unquotePath(p.replace(/\t$/, ""));
  if (u === "/dev/null") return null;
  return u.startsWith("a/") || u.startsWith("b/") ? u.slice(2) : u;
}

// The two paths of a "diff --git a/X b/Y" line; for X == Y with spaces, the halves.
function headerPaths(rest: string): [string, string] {
  if (rest.startsWith('"')) {
    const end = rest.indexOf('"', 1);
    const a = rest.slice(0, end + 1);
    return [stripPrefix(a) ?? "", stripPrefix(rest.slice(end + 2)) ?? ""];
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === " " && rest.slice(2, half) === rest.slice(half + 3))
    return [rest.slice(2, half), rest.slice(half + 3)];
  const sp = rest.indexOf(" b/");
  return sp < 0 ? [rest, rest] : [stripPrefix(rest.slice(0, sp)) ?? "", stripPrefix(rest.slice(sp + 1)) ?? ""];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;

function newFile(rest: string): FileDiff {
  const [a, b] = headerPaths(rest);
  return { oldPath: a, newPath: b, path: b || a, status: "modified", binary: false, hunks: [], additions: 0, deletions: 0 };
}

// Parses `git diff` output (one or many files). Lines outside any file are ignored.
export function parsePatch(text: string): FileDiff[] {
  const files: FileDiff[] = [];
  let f: FileDiff | null = null;
  let h: Hunk | null = null;
  let oldNo = 0;
  let newNo = 0;
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("diff --git ")) {
      f = newFile(line.slice("diff --git ".length));
      files.push(f);
      h = null;
      continue;
    }
    if (!f) continue;
    if (h) {
      const c = line[0];
      if (c === " " || c === "+" || c === "-" || line === "") {
        const kind: LineKind = c === "+" ? "add" : c === "-" ? "del" : "context";
        h.lines.push({
          kind,
          text: line.slice(1),
          old: kind === "add" ? null : oldNo++,
          new: kind === "del" ? null : newNo++,
        });
        if (kind === "add") f.additions++;
        if (kind === "del") f.deletions++;
        continue;
      }
      if (c === "\\") {
        const last = h.lines[h.lines.length - 1];
        if (last) last.noNewline = true;
        continue;
      }
    }
    const m = HUNK.exec(line);
    if (m) {
      h = {
        oldStart: Number(m[1]),
        oldLines: m[2] === undefined ? 1 : Number(m[2]),
        newStart: Number(m[3]),
        newLines: m[4] === undefined ? 1 : Number(m[4]),
        section: m[5] ?? "",
        lines: [],
      };
      oldNo = h.oldStart;
      newNo = h.newStart;
      f.hunks.push(h);
      continue;
    }
    h = null;
    if (line.startsWith("new file mode")) {
      f.status = "added";
      f.oldPath = null;
    } else if (line.startsWith("deleted file mode")) {
      f.status = "deleted";
      f.newPath = null;
      f.path = f.oldPath ?? f.path;
    } else if (line.startsWith("rename from ")) {
      f.status = "renamed";
      f.oldPath = unquotePath(line.slice(12));
    } else if (line.startsWith("rename to ")) {
      f.newPath = unquotePath(line.slice(10));
      f.path = f.newPath;
    } else if (line.startsWith("copy from ")) {
      f.status = "copied";
      f.oldPath = unquotePath(line.slice(10));
    } else if (line.startsWith("copy to ")) {
      f.newPath = unquotePath(line.slice(8));
      f.path = f.newPath;
    } else if (line.startsWith("Binary files ") || line === "GIT binary patch") {
      f.binary = true;
    } else if (line.startsWith("--- ")) {
      const p = stripPrefix(line.slice(4));
      if (p === null) f.status = "added";
      f.oldPath = p;
    } else if (line.startsWith("+++ ")) {
      const p = stripPrefix(line.slice(4));
      if (p === null) f.status = "deleted";
      f.newPath = p;
      f.path = p ?? f.oldPath ?? f.path;
    }
  }
  return files;
}

// The longest common subsequence of two line arrays as pairs of indices. Quadratic: above
// `limit` cells the middle counts as all changed (a conflict view of a huge file stays usable).
function commonLines(a: string[], b: string[], limit: number): Array<[number, number]> {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < pre; i++) pairs.push([i, i]);
  const n = a.length - pre - suf;
  const m = b.length - pre - suf;
  if (n > 0 && m > 0 && n * m <= limit) {
    // dp[i][j]: LCS length of a[pre+i..] and b[pre+j..].
    const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        dp[i][j] = a[pre + i] === b[pre + j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[pre + i] === b[pre + j]) {
        pairs.push([pre + i, pre + j]);
        i++;
        j++;
      } else if (dp[i + 1][j] >= dp[i][j + 1]) i++;
      else j++;
    }
  }
  for (let k = 0; k < suf; k++) pairs.push([a.length - suf + k, b.length - suf + k]);
  return pairs;
}

function splitLines(s: string): string[] {
  if (s === "") return [];
  const l = s.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}

// The line diff from `a` (old) to `b` (new) as hunks with `context` lines around each change,
// like `git diff -U<context>`. Equal texts give no hunks.
export function lineDiff(a: string, b: string, context = 3, limit = 4_000_000): Hunk[] {
  const A = splitLines(a);
  const B = splitLines(b);
  const all: DiffLine[] = [];
  let i = 0;
  let j = 0;
  const flush = (ei: number, ej: number) => {
    for (; i < ei; i++) all.push({ kind: "del", text: A[i], old: i + 1, new: null });
    for (; j < ej; j++) all.push({ kind: "add", text: B[j], old: null, new: j + 1 });
  };
  for (const [pi, pj] of commonLines(A, B, limit)) {
    flush(pi, pj);
    all.push({ kind: "context", text: A[i], old: i + 1, new: j + 1 });
    i++;
    j++;
  }
  flush(A.length, B.length);
  // Keep the changed lines and `context` lines either side; group what stays into hunks.
  const keep = all.map(() => false);
  all.forEach((l, k) => {
    if (l.kind === "context") return;
    for (let d = Math.max(0, k - context); d <= Math.min(all.length - 1, k + context); d++) keep[d] = true;
  });
  const hunks: Hunk[] = [];
  let cur: Hunk | null = null;
  all.forEach((l, k) => {
    if (!keep[k]) {
      cur = null;
      return;
    }
    if (!cur) {
      cur = {
        oldStart: l.old ?? firstNumber(all, k, "old"),
        newStart: l.new ?? firstNumber(all, k, "new"),
        oldLines: 0,
        newLines: 0,
        section: "",
        lines: [],
      };
      hunks.push(cur);
    }
    cur.lines.push(l);
    if (l.kind !== "add") cur.oldLines++;
    if (l.kind !== "del") cur.newLines++;
  });
  return hunks;
}

// Where a hunk that begins with an added (or deleted) line starts on the other side: the line
// after the last one before it, as git counts (0 for an empty side).
function firstNumber(all: DiffLine[], k: number, side: "old" | "new"): number {
  for (let x = k; x < all.length; x++) {
    const n = all[x][side];
    if (n !== null) return n;
  }
  for (let x = k - 1; x >= 0; x--) {
    const n = all[x][side];
    if (n !== null) return n + 1;
  }
  return 0;
}

// Counts for a list of hunks (the conflict view's summary).
export function countChanges(hunks: Hunk[]): { additions: number; deletions: number } {
  let additions = 0;
  let deletions = 0;
  for (const h of hunks)
    for (const l of h.lines) {
      if (l.kind === "add") additions++;
      if (l.kind === "del") deletions++;
    }
  return { additions, deletions };
}
