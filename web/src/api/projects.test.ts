import { describe, expect, it } from "vitest";
import { etagVersion } from "./conventions";
import { activityText, highlight, projectAbilities, slugError, slugFromName, tagError, type ActivityEvent } from "./projects";

describe("slugError (the API's slug rule)", () => {
  it("accepts 1-64 of a-z 0-9 - _ . starting with a letter or digit", () => {
    for (const s of ["a", "9", "climate-model_v2.1", "x".repeat(64)]) expect(slugError(s)).toBeNull();
  });
  it("says what is wrong", () => {
    expect(slugError("")).toMatch(/Choose a slug/);
    expect(slugError("x".repeat(65))).toMatch(/At most 64/);
    expect(slugError("-a")).toMatch(/Start with/);
    expect(slugError("Abc")).toMatch(/Start with/);
    expect(slugError("ab C/d")).toBe('Only a-z, 0-9, - _ and . are allowed (not " " "C" "/")');
  });
});

describe("slugFromName", () => {
  it("makes a valid slug of a name", () => {
    expect(slugFromName("Climate Model (v2)")).toBe("climate-model-v2");
    expect(slugFromName("  Émile's data ")).toBe("emile-s-data");
    expect(slugError(slugFromName("--Über__große Daten!"))).toBeNull();
  });
});

describe("tagError", () => {
  it("checks each tag and the count", () => {
    expect(tagError(["hpc", "Genomics", "a.b-c_d"])).toBeNull();
    expect(tagError(["ok", "no space"])).toMatch(/"no space"/);
    expect(tagError(Array.from({ length: 21 }, (_, i) => `t${i}`))).toMatch(/20/);
  });
});

describe("highlight", () => {
  it("marks the words a query's terms begin, case-insensitively", () => {
    expect(highlight("Climate model of the sea", "mod CLIM")).toEqual([
      ["Clim", true],
      ["ate ", false],
      ["mod", true],
      ["el of the sea", false],
    ]);
  });
  it("does not mark the middle of a word, and leaves text without a query alone", () => {
    expect(highlight("remodel", "mod")).toEqual([["remodel", false]]);
    expect(highlight("abc", "  ")).toEqual([["abc", false]]);
    expect(highlight("a+b (c)", "(c")).toEqual([
      ["a+b (", false],
      ["c", true],
      [")", false],
    ]);
  });
});

describe("activityText", () => {
  const ev = (action: string, summary: Record<string, unknown> = {}): ActivityEvent => ({
    seq: 1, id: "e", time: "", actor_id: null, actor: null, org_id: null, org_slug: null, project_id: null,
    project: null, action, target_kind: "", target_id: "", summary,
  });
  it("says what happened in words", () => {
    expect(activityText(ev("project.update", { name: "x", group_id: "g" }))).toBe("changed the project's name, group id");
    expect(activityText(ev("project.member.add", { role: "viewer" }))).toBe("added a member (viewer)");
    expect(activityText(ev("job.submit", { name: "train" }))).toBe("submitted a job (train)");
    expect(activityText(ev("something.else_new"))).toBe("something else new");
  });
});

describe("projectAbilities", () => {
  it("follows the project role templates", () => {
    expect(projectAbilities("owner", false)).toEqual({ edit: true, members: true, remove: true });
    expect(projectAbilities("maintainer", false)).toEqual({ edit: true, members: false, remove: false });
    expect(projectAbilities("viewer", false)).toEqual({ edit: false, members: false, remove: false });
    expect(projectAbilities(null, true)).toEqual({ edit: true, members: true, remove: true });
  });
});

describe("etagVersion", () => {
  it("reads the version an ETag names", () => {
    expect(etagVersion('"v12"')).toBe(12);
    expect(etagVersion('"v2"') > etagVersion('"v1"')).toBe(true);
    expect(etagVersion("*")).toBe(0);
  });
});
