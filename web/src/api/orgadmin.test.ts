import { describe, expect, it } from "vitest";
import { fromCells, grantCovers, mayGrant, parseGrant, toCells } from "./orgadmin";
import type { Me } from "./types";

const g = (s: string) => parseGrant(s)!;

function me(perms: string[], instance_admin = false): Me {
  return { instance_admin, orgs: [{ org_id: "org_1", slug: "lab", permissions: perms }] } as unknown as Me;
}

describe("grantCovers (policy.cpp's rule)", () => {
  it("takes equal or wider parts", () => {
    expect(grantCovers(g("members:*:org"), g("members:write:group"))).toBe(true);
    expect(grantCovers(g("*:*:all"), g("audit:read:org"))).toBe(true);
    expect(grantCovers(g("groups:read:org"), g("groups:write:org"))).toBe(false);
    expect(grantCovers(g("quotas:read:own"), g("quotas:read:org"))).toBe(false);
    expect(grantCovers(g("files:read:group"), g("files:read:own"))).toBe(false);
    expect(grantCovers(g("files:read:all"), g("files:read:*"))).toBe(false);
  });
});

describe("mayGrant: only what the editor holds in that org", () => {
  const admin = me(["orgs:read:org", "orgs:write:org", "groups:*:org", "quotas:read:own"]);
  it("offers what a grant covers", () => {
    expect(mayGrant(admin, "lab", "groups:delete:org")).toBe(true);
    expect(mayGrant(admin, "lab", "orgs:read:own")).toBe(true);
    expect(mayGrant(admin, "lab", "orgs:delete:org")).toBe(false);
    expect(mayGrant(admin, "lab", "quotas:read:group")).toBe(false);
    expect(mayGrant(admin, "other", "orgs:read:org")).toBe(false);
    expect(mayGrant(admin, "lab", "nonsense")).toBe(false);
  });
  it("lets the instance admin offer everything", () => {
    expect(mayGrant(me([], true), "any", "orgs:delete:org")).toBe(true);
  });
});

describe("toCells / fromCells", () => {
  it("round-trips the matrix and keeps what it cannot show", () => {
    const perms = ["groups:read:org", "orgs:read:org", "members:*:org", "audit:read:group", "projects:read:all"];
    const { cells, other } = toCells(perms);
    expect(cells).toEqual({ "groups:read": "org", "orgs:read": "org", "audit:read": "group" });
    expect(other).toEqual(["members:*:org", "projects:read:all"]);
    // In the matrix's order (resources, then verbs), the others after.
    expect(fromCells(cells, other)).toEqual(["orgs:read:org", "groups:read:org", "audit:read:group", "members:*:org", "projects:read:all"]);
    expect(fromCells({ ...cells, "groups:read": "" }, [])).toEqual(["orgs:read:org", "audit:read:group"]);
  });
});
