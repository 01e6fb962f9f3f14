import { describe, expect, it } from "vitest";
import { describeScopes, initialChoice, scopesFor } from "./scopes";

describe("scopesFor", () => {
  it("turns area levels into scopes", () => {
    const c = initialChoice();
    expect(scopesFor(c)).toEqual(["projects:read:*", "code:read:*"]);
    c.levels.code = "write";
    c.levels.jobs = "read";
    c.levels.projects = "none";
    expect(scopesFor(c)).toEqual(["code:*:*", "jobs:read:*"]);
  });
  it("sends one wildcard for everything, and nothing when nothing is chosen", () => {
    expect(scopesFor({ ...initialChoice(), everything: true })).toEqual(["*:*:*"]);
    const none = initialChoice();
    for (const k of Object.keys(none.levels) as (keyof typeof none.levels)[]) none.levels[k] = "none";
    expect(scopesFor(none)).toEqual([]);
  });
});

describe("describeScopes", () => {
  it("says what a token may do", () => {
    expect(describeScopes(["*:*:*"])).toBe("Everything");
    expect(describeScopes(["code:*:*", "jobs:read:*"])).toBe("Code (read and change), Jobs (read)");
    expect(describeScopes(["projects:read:org", "audit:read"])).toBe("Projects (read, org), audit (read)");
    expect(describeScopes([])).toBe("Nothing");
  });
});
