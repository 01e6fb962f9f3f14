import { describe, expect, it } from "vitest";
import { codeUrl, normalizePath, resolveRepoLink, sortEntries, splitRefPath } from "./refs";

describe("splitRefPath", () => {
  const known = ["main", "feature", "feature/x", "v1.0"];
  it("takes the longest known ref", () => {
    expect(splitRefPath("feature/x/src/a.py", known)).toEqual({ ref: "feature/x", path: "src/a.py" });
    expect(splitRefPath("feature/y/a.py", known)).toEqual({ ref: "feature", path: "y/a.py" });
    expect(splitRefPath("main", known)).toEqual({ ref: "main", path: "" });
    expect(splitRefPath("main/", known)).toEqual({ ref: "main", path: "" });
  });
  it("falls back to the first segment", () => {
    expect(splitRefPath("0123abcd/docs/x.md", known)).toEqual({ ref: "0123abcd", path: "docs/x.md" });
    expect(splitRefPath("mainly/x", known)).toEqual({ ref: "mainly", path: "x" });
  });
});

describe("codeUrl", () => {
  it("encodes each segment and keeps the slashes", () => {
    expect(codeUrl("/o/p", "blob", "feature/x", "a dir/b#c.txt")).toBe("/o/p/blob/feature/x/a%20dir/b%23c.txt");
    expect(codeUrl("/o/p", "tree", "main")).toBe("/o/p/tree/main");
  });
});

describe("resolveRepoLink", () => {
  it("resolves relative links from the README's folder", () => {
    expect(resolveRepoLink("docs/guide.md", "")).toEqual({ path: "docs/guide.md", folder: false, hash: "" });
    expect(resolveRepoLink("../a.py#L3", "src/sub")).toEqual({ path: "src/a.py", folder: false, hash: "#L3" });
    expect(resolveRepoLink("./lib/", "src")).toEqual({ path: "src/lib", folder: true, hash: "" });
    expect(resolveRepoLink("/top.md", "src")).toEqual({ path: "top.md", folder: false, hash: "" });
    expect(resolveRepoLink("my%20file.txt", "")).toEqual({ path: "my file.txt", folder: false, hash: "" });
  });
  it("leaves other links alone and refuses to climb out", () => {
    expect(resolveRepoLink("https://example.org/x", "")).toEqual({ external: "https://example.org/x" });
    expect(resolveRepoLink("mailto:a@b", "")).toEqual({ external: "mailto:a@b" });
    expect(resolveRepoLink("#usage", "")).toEqual({ external: "#usage" });
    expect(resolveRepoLink("../../x", "a")).toBeNull();
  });
  it("normalises paths", () => {
    expect(normalizePath("a/./b/../c//d")).toBe("a/c/d");
    expect(normalizePath("..")).toBeNull();
  });
});

describe("sortEntries", () => {
  it("puts folders first, then names", () => {
    const e = [
      { type: "file", name: "b.py" },
      { type: "dir", name: "z" },
      { type: "file", name: "a.py" },
      { type: "dir", name: "c" },
    ];
    expect(sortEntries(e).map((x) => x.name)).toEqual(["c", "z", "a.py", "b.py"]);
  });
});
