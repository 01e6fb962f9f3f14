// Response shapes and calls of the instance administration pages (orgs, users).
import { ApiError, fetchJson } from "./client";
import { orgPath } from "./orgadmin";
import type { User } from "./types";

export interface AdminOrg {
  id: string;
  slug: string;
  name: string;
  disabled: boolean;
  members?: number; // in lists
  created_at: string;
  etag: string;
}

// GET /api/v1/users/{id}/orgs: the orgs a user belongs to, their role in each.
export interface UserOrg {
  id: string;
  slug: string;
  name: string;
  disabled: boolean;
  role: string;
  role_id: string;
}

// POST /api/v1/users/{id}/password-reset: the one-time link, shown once.
export interface ResetLink {
  user_id: string;
  link_id: string;
  url: string;
  expires_at: string;
  mailed: boolean;
}

export const ORGS_KEY = ["admin", "orgs"] as const;
export const USERS_KEY = ["admin", "users"] as const;
export const userKey = (id: string) => ["admin", "user", id] as const;

export function userPath(id: string): string {
  return `/api/v1/users/${encodeURIComponent(id)}`;
}

// An If-Match PATCH; a 412 (changed by someone else since the page loaded) becomes words that say
// what to do, after `reload` fetched the object again.
export async function patchVersioned<T>(
  path: string,
  etag: string,
  body: unknown,
  what: string,
  reload: () => unknown,
): Promise<T> {
  try {
    return await fetchJson<T>(path, { method: "PATCH", headers: { "If-Match": etag }, body: JSON.stringify(body) });
  } catch (e) {
    if (e instanceof ApiError && e.status === 412) {
      await reload();
      throw new Error(`${what} changed meanwhile and has been reloaded: check it and try again.`);
    }
    throw e;
  }
}

export function setOrgDisabled(o: AdminOrg, disabled: boolean, reload: () => unknown) {
  return patchVersioned<AdminOrg>(orgPath(o.id), o.etag, { disabled }, `The organisation ${o.slug}`, reload);
}

export function setUserDisabled(u: User, disabled: boolean, reload: () => unknown) {
  return patchVersioned<User>(userPath(u.id), u.etag, { disabled }, `The account ${u.username}`, reload);
}
