// Secrets (docs/secrets.md): the user's own (/me/secrets) and a project's. Values are written,
// never read back: the API answers names, descriptions and who changed them when.
import { fetchJson, listAll } from "./client";
import { projectApi } from "./data";

export interface Secret {
  name: string;
  scope: "user" | "project" | string;
  description: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
  version: number;
  project_id?: string;
  etag: string;
}

// Where a set of secrets lives: "/api/v1/me/secrets" or a project's.
export const mySecretsPath = "/api/v1/me/secrets";
export const projectSecretsPath = (projectId: string) => `${projectApi(projectId)}/secrets`;

export const secretKeys = {
  at: (path: string) => ["secrets", path] as const,
};

export const listAllSecrets = (path: string) => listAll<Secret>(path);

// PUT: a new one (no If-Match) or a replacement (If-Match: the etag it was listed at).
export function putSecret(path: string, name: string, body: { value: string; description?: string }, etag?: string) {
  return fetchJson<Secret>(`${path}/${encodeURIComponent(name)}`, {
    method: "PUT",
    body: JSON.stringify(body),
    headers: etag ? { "If-Match": etag } : {},
  });
}

export function deleteSecret(path: string, s: Secret) {
  return fetchJson<void>(`${path}/${encodeURIComponent(s.name)}`, { method: "DELETE", headers: { "If-Match": s.etag } });
}

// NAME: [A-Z_][A-Z0-9_]{0,63}, an environment variable's name; not PATH, HOME, LD_* or ATRIUM_*.
export function checkSecretName(name: string): string | undefined {
  if (!/^[A-Z_][A-Z0-9_]{0,63}$/.test(name)) return "A name of A-Z, 0-9 and _ (not starting with a digit), at most 64";
  if (name === "PATH" || name === "HOME" || name.startsWith("LD_") || name.startsWith("ATRIUM_"))
    return "PATH, HOME, LD_* and ATRIUM_* are the system's";
  return undefined;
}
