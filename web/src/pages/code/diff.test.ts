import { describe, expect, it } from "vitest";
import { countChanges, lineDiff, parsePatch, unquotePath } from "./diff";

// `git diff -M` of a commit that changes a binary file, deletes one, adds one with a space in its
// name, appends to another and renames a fourth while editing it (real git output).
const PATCH = [
  "diff --git a/b.bin b/b.bin",
  "index 87ae6b6..22f6b3b 100644",
  "Binary files a/b.bin and b/b.bin differ",
  "diff --git a/gone.txt b/gone.txt",
  "deleted file mode 100644",
  "index 3367afd..0000000",
  "--- a/gone.txt",
  "+++ /dev/null",
  "@@ -1 +0,0 @@",
  "-old",
  "diff --git a/new file.py b/new file.py",
  "new file mode 100644",
  "index 0000000..3e75765",
  "--- /dev/null",
  "+++ b/new file.py\t",
  "@@ -0,0 +1 @@",
  "+new",
  "diff --git a/sp ace.txt b/sp ace.txt",
  "index 2fa992c..fe5841d 100644",
  "--- a/sp ace.txt\t",
  "+++ b/sp ace.txt\t",
  "@@ -1 +1,2 @@",
  " keep",
  "+more",
  "diff --git a/x.txt b/y.txt",
  "similarity index 82%",
  "rename from x.txt",
  "rename to y.txt",
  "index 71ac1b5..a957849 100644",
  "--- a/x.txt",
  "+++ b/y.txt",
  "@@ -1,8 +1,9 @@ def f():",
  " a",
  "-b",
  "+B",
  " c",
  " d",
  " e",
  " f",
  " g",
  " h",
  "+i",
  "\\ No newline at end of file",
  "",
].join("\n");

describe("parsePatch", () => {
  const files = parsePatch(PATCH);

  it("finds every file with its status and paths", () => {
    expect(files.map((f) => [f.path, f.status, f.oldPath, f.newPath])).toEqual([
      ["b.bin", "modified", "b.bin", "b.bin"],
      ["gone.txt", "deleted", "gone.txt", null],
      ["new file.py", "added", null, "new file.py"],
      ["sp ace.txt", "modified", "sp ace.txt", "sp ace.txt"],
      ["y.txt", "renamed", "x.txt", "y.txt"],
    ]);
  });

  it("marks binary files and counts additions and deletions", () => {
    expect(files.map((f) => [f.binary, f.additions, f.deletions])).toEqual([
      [true, 0, 0],
      [false, 0, 1],
      [false, 1, 0],
      [false, 1, 0],
      [false, 2, 1],
    ]);
  });

  it("numbers old and new lines through a hunk", () => {
    const h = files[4].hunks[0];
    expect([h.oldStart, h.oldLines, h.newStart, h.newLines, h.section]).toEqual([1, 8, 1, 9, "def f():"]);
    expect(h.lines.slice(0, 4)).toEqual([
      { kind: "context", text: "a", old: 1, new: 1 },
      { kind: "del", text: "b", old: 2, new: null },
      { kind: "add", text: "B", old: null, new: 2 },
      { kind: "context", text: "c", old: 3, new: 3 },
    ]);
    expect(h.lines[h.lines.length - 1]).toEqual({ kind: "add", text: "i", old: null, new: 9, noNewline: true });
  });

  it("reads a one-line hunk header without counts", () => {
    const h = files[1].hunks[0];
    expect([h.oldStart, h.oldLines, h.newStart, h.newLines]).toEqual([1, 1, 0, 0]);
    expect(h.lines).toEqual([{ kind: "del", text: "old", old: 1, new: null }]);
  });

  it("gives nothing for an empty patch and ignores text before the first file", () => {
    expect(parsePatch("")).toEqual([]);
    expect(parsePatch("warning: something\n")).toEqual([]);
  });

  it("keeps a hunk line that looks like a header", () => {
    const p = ["diff --git a/m b/m", "--- a/m", "+++ b/m", "@@ -1,2 +1,2 @@", "--- a/x", "+++ b/x", ""].join("\n");
    const [f] = parsePatch(p);
    expect(f.hunks[0].lines.map((l) => [l.kind, l.text])).toEqual([
      ["del", "-- a/x"],
      ["add", "++ b/x"],
    ]);
  });

  it("unquotes git's C-quoted paths", () => {
    expect(unquotePath('"t\\303\\251st \\"q\\".txt"')).toBe('tést "q".txt');
    expect(unquotePath("plain.txt")).toBe("plain.txt");
    const [f] = parsePatch('diff --git "a/t\\303\\251" "b/t\\303\\251"\n--- "a/t\\303\\251"\n+++ "b/t\\303\\251"\n');
    expect(f.path).toBe("té");
  });
});

describe("lineDiff", () => {
  it("gives no hunks for equal texts", () => {
    expect(lineDiff("a\nb\n", "a\nb\n")).toEqual([]);
  });

  it("shows one change with context and numbers both sides", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
    const b = "1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n";
    const h = lineDiff(a, b, 2);
    expect(h).toHaveLength(1);
    expect([h[0].oldStart, h[0].oldLines, h[0].newStart, h[0].newLines]).toEqual([4, 5, 4, 5]);
    expect(h[0].lines.map((l) => [l.kind, l.text, l.old, l.new])).toEqual([
      ["context", "4", 4, 4],
      ["context", "5", 5, 5],
      ["del", "6", 6, null],
      ["add", "six", null, 6],
      ["context", "7", 7, 7],
      ["context", "8", 8, 8],
    ]);
  });

  it("splits far-apart changes into hunks", () => {
    const a = Array.from({ length: 30 }, (_, i) => `l${i}`).join("\n");
    const b = a.replace("l2\n", "x2\n").replace("l25\n", "x25\n");
    const h = lineDiff(a, b, 3);
    expect(h).toHaveLength(2);
    expect(countChanges(h)).toEqual({ additions: 2, deletions: 2 });
  });

  it("handles insertions into and deletions from empty texts", () => {
    const add = lineDiff("", "x\ny\n");
    expect([add[0].oldStart, add[0].oldLines, add[0].newStart, add[0].newLines]).toEqual([0, 0, 1, 2]);
    const del = lineDiff("x\ny\n", "");
    expect(countChanges(del)).toEqual({ additions: 0, deletions: 2 });
  });

  it("finds the common lines between interleaved edits", () => {
    const h = lineDiff("a\nb\nc\nd\n", "a\nx\nc\ny\nd\n", 0);
    expect(h.flatMap((x) => x.lines.map((l) => `${l.kind[0]}${l.text}`))).toEqual(["db", "ax", "ay"]);
  });

  it("counts a huge middle as replaced instead of running long", () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join("\n");
    const b = Array.from({ length: 3000 }, (_, i) => `b${i}`).join("\n");
    expect(countChanges(lineDiff(a, b, 3, 1000))).toEqual({ additions: 3000, deletions: 3000 });
  });
});
