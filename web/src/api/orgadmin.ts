// An organisation's people: members, invitations, groups and roles (/api/v1/orgs/{org}/...,
// /api/v1/groups/{id}, /api/v1/roles/{id}, /api/v1/invitations/{id}), and which grants the caller
// may hand out (a role editor offers only those; the API refuses the rest on its own).
import { useQuery } from "@tanstack/react-query";
import { fetchJson } from "./client";
import type { Me } from "./types";

export interface OrgMember {
  user_id: string;
  username: string;
  display_name?: string;
  role: string;
  role_id: string;
  // The org's only org-admin: the API refuses to demote or remove it.
  last_admin?: boolean;
  etag: string;
}

export interface Invitation {
  id: string;
  role: string;
  role_id: string;
  email: string;
  created_at: string;
  expires_at: string;
  state: "open" | "used" | "expired" | "revoked";
  etag: string;
}

// POST /invitations answers the link once (never again: only a hash of its secret is kept).
export interface NewInvitation extends Invitation {
  url: string;
  mailed: boolean;
}

export interface OrgGroup {
  id: string;
  slug: string;
  name: string;
  created_at: string;
  etag: string;
}

export interface GroupMember {
  user_id: string;
  username: string;
  etag: string;
}

export interface OrgRole {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
  etag: string;
}

export const orgPath = (org: string) => `/api/v1/orgs/${encodeURIComponent(org)}`;
export const groupPath = (id: string) => `/api/v1/groups/${encodeURIComponent(id)}`;
export const rolePath = (id: string) => `/api/v1/roles/${encodeURIComponent(id)}`;

export const membersKey = (org: string) => ["orgadmin", org, "members"] as const;
export const invitationsKey = (org: string) => ["orgadmin", org, "invitations"] as const;
export const groupsKey = (org: string) => ["orgadmin", org, "groups"] as const;
export const rolesKey = (org: string) => ["orgadmin", org, "roles"] as const;
export const orgKey = (org: string) => ["orgadmin", org, "org"] as const;

// The org itself, by the slug in the page's address: its id (the audit API filters by it) and name
// (the heading, for an instance admin who is no member). One query for the layout and its pages.
export function useOrg(org: string, enabled = true) {
  return useQuery({ queryKey: orgKey(org), queryFn: () => fetchJson<{ id: string; name: string }>(orgPath(org)), enabled });
}

// identity/policy.hpp kResources and kVerbs; an org's role reaches at most scope "org".
export const RESOURCES = [
  "orgs",
  "members",
  "groups",
  "roles",
  "invitations",
  "quotas",
  "projects",
  "users",
  "tokens",
  "sessions",
  "audit",
  "jobs",
  "files",
  "code",
  "envs",
  "apps",
  "tasks",
  "secrets",
] as const;
export const VERBS = ["read", "create", "write", "delete", "admin", "use"] as const;
export const ROLE_SCOPES = ["own", "group", "org"] as const;

interface Grant {
  resource: string;
  verb: string;
  scope: string;
}

export function parseGrant(text: string): Grant | null {
  const parts = text.split(":");
  if (parts.length !== 3) return null;
  return { resource: parts[0], verb: parts[1], scope: parts[2] };
}

// policy.cpp grant_covers: each part equal or wider (* > all > org > group, own).
export function grantCovers(outer: Grant, inner: Grant): boolean {
  const part = (o: string, i: string) => o === "*" || o === i;
  const scope = (o: string, i: string) =>
    o === "*" || o === i || (o === "all" && i !== "*") || (o === "org" && (i === "group" || i === "own"));
  return part(outer.resource, inner.resource) && part(outer.verb, inner.verb) && scope(outer.scope, inner.scope);
}

// Whether the caller may hand out `perm` in org `slug` (what the API checks as "cannot-grant").
export function mayGrant(me: Me, slug: string, perm: string): boolean {
  if (me.instance_admin) return true;
  const inner = parseGrant(perm);
  if (!inner) return false;
  const mine = me.orgs.find((o) => o.slug === slug)?.permissions ?? [];
  return mine.some((g) => {
    const outer = parseGrant(g);
    return !!outer && grantCovers(outer, inner);
  });
}

export function mayGrantAll(me: Me, slug: string, perms: string[]): boolean {
  return perms.every((p) => mayGrant(me, slug, p));
}

export type Cells = Record<string, string>; // "resource:verb" -> scope

const MATRIX = new Set(RESOURCES.flatMap((r) => VERBS.map((v) => `${r}:${v}`)));

// The role editor's matrix: a role's permissions as cells, and those the matrix cannot show.
export function toCells(perms: string[]): { cells: Cells; other: string[] } {
  const cells: Cells = {};
  const other: string[] = [];
  for (const p of perms) {
    const i = p.lastIndexOf(":");
    const key = p.slice(0, i);
    const scope = p.slice(i + 1);
    if (MATRIX.has(key) && (ROLE_SCOPES as readonly string[]).includes(scope) && !cells[key]) cells[key] = scope;
    else other.push(p);
  }
  return { cells, other };
}

export function fromCells(cells: Cells, other: string[]): string[] {
  const out: string[] = [];
  for (const r of RESOURCES) for (const v of VERBS) if (cells[`${r}:${v}`]) out.push(`${r}:${v}:${cells[`${r}:${v}`]}`);
  return [...out, ...other];
}
