import { describe, expect, it } from "vitest";
import type { FileInfo } from "../../api/data";
import { base64url, crumbs, folderPage, mergeEntries } from "./listing";

const f = (path: string): FileInfo =>
  ({ path, size: 1, sha256: "", etag: "", project_id: "p", owner_id: "u", created: "", updated: "", version: 1 }) as FileInfo;

describe("folderPage", () => {
  it("shows the files of a folder and each sub-folder once", () => {
    const r = folderPage("", [f("a.txt"), f("d/1"), f("d/2"), f("d/e/3"), f("z")], null);
    expect(r.entries.map((e) => `${e.kind}:${e.path}`)).toEqual(["file:a.txt", "folder:d", "file:z"]);
    expect(r.next).toBeNull();
  });

  it("lists below a prefix", () => {
    const r = folderPage("d", [f("d/1"), f("d/e/3"), f("d/e/4")], null);
    expect(r.entries.map((e) => e.name)).toEqual(["1", "e"]);
  });

  it("skips the rest of the folder a page ended in", () => {
    const r = folderPage("top", [f("top/a"), f("top/big/1"), f("top/big/2")], "cursor");
    const decoded = new TextDecoder().decode(
      Uint8Array.from(atob(r.next!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
    );
    expect(decoded).toBe("top/big/\u{10FFFF}");
    expect("top/big/zzz" < decoded && decoded < "top/big0" && decoded < "top/bigger").toBe(true);
  });

  it("keeps the server's cursor when the page ended on a file", () => {
    expect(folderPage("", [f("a"), f("b")], "Yg").next).toBe("Yg");
  });

  it("merges pages without repeating a folder", () => {
    const a = folderPage("", [f("x/1")], null).entries;
    const b = folderPage("", [f("x/2"), f("y")], null).entries;
    expect(mergeEntries([a, b]).map((e) => e.path)).toEqual(["x", "y"]);
  });
});

describe("helpers", () => {
  it("base64url without padding, over UTF-8", () => {
    expect(base64url("é?")).toBe("w6k_");
  });
  it("breadcrumbs", () => {
    expect(crumbs("a/b")).toEqual([
      { name: "a", path: "a" },
      { name: "b", path: "a/b" },
    ]);
    expect(crumbs("")).toEqual([]);
  });
});
