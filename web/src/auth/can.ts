// What the signed-in user may do, from /me: a page offers a control only when this says yes; the
// server decides on its own (a hidden button is a courtesy, never the wall).
// (With its extension: the e2e tests, type-checked as Node modules, import this file too.)
import type { Me } from "../api/types.ts";

const SCOPE_RANK: Record<string, number> = { own: 0, group: 0, org: 1, all: 2, "*": 3 };

// Whether grant "r:v:s" covers resource:verb at org scope (what an org admin page needs).
function covers(grant: string, resource: string, verb: string): boolean {
  const [r, v, s = "*"] = grant.split(":");
  return (r === "*" || r === resource) && (v === "*" || v === verb) && (SCOPE_RANK[s] ?? -1) >= SCOPE_RANK.org;
}

// The caller holds resource:verb over the whole org `slug` (or is an instance administrator).
export function canInOrg(me: Me, slug: string, perm: string): boolean {
  if (me.instance_admin) return true;
  const [resource, verb] = perm.split(":");
  const m = me.orgs.find((o) => o.slug === slug);
  return !!m && (m.permissions ?? []).some((g) => covers(g, resource, verb));
}

// Org administration pages: each needs one permission over the whole org (a member reads the
// directory elsewhere; these pages are for those who change it).
export const ORG_ADMIN_PAGES = [
  { path: "members", label: "Members", perm: "members:write" },
  { path: "groups", label: "Groups", perm: "groups:write" },
  { path: "roles", label: "Roles", perm: "roles:write" },
  { path: "quotas", label: "Quotas", perm: "quotas:read" },
  { path: "usage", label: "Usage", perm: "quotas:read" },
  { path: "audit", label: "Audit", perm: "audit:read" },
] as const;

// Orgs whose administration the caller may open: those where at least one page is theirs.
export function adminOrgs(me: Me): { slug: string; name: string }[] {
  return me.orgs
    .filter((o) => o.slug && ORG_ADMIN_PAGES.some((p) => canInOrg(me, o.slug ?? "", p.perm)))
    .map((o) => ({ slug: o.slug ?? "", name: o.name ?? o.slug ?? "" }));
}

// Instance administration pages (instance administrators only).
export const ADMIN_PAGES = [
  { path: "orgs", label: "Orgs" },
  { path: "users", label: "Users" },
  { path: "compute", label: "Compute" },
  { path: "apps", label: "App catalog" },
  { path: "health", label: "Health" },
  { path: "alerts", label: "Alerts" },
] as const;
