// Images (docs/images.md): a project's root filesystems for jobs and environments, pulled from a
// registry, imported from a project file, or built from a spec in the repository.
import { fetchJson, listAll } from "./client";
import { projectApi } from "./data";

export type ImageState = "pending" | "ready" | "failed";

export interface ImageSoftware {
  os?: Record<string, string>; // os-release fields: PRETTY_NAME, ID, VERSION_ID, ...
  python?: string;
  packages?: { deb?: number; python?: number };
  [k: string]: unknown;
}

export interface Image {
  id: string;
  org_id: string;
  project_id: string | null; // null: org-wide
  name: string;
  digest: string | null; // null until pulled, imported or built
  ref?: string; // "name@digest" (or the name while pending)
  source: string;
  state: ImageState | string;
  error: string | null;
  size_bytes: number;
  software: ImageSoftware;
  created_by: string;
  created_at: string;
  updated_at?: string;
  default?: boolean; // the project's default image (project lists only)
  job_id?: string | null; // a build's job, when the server names it
  build?: { id?: string; job_id?: string | null } | null;
  etag: string;
}

// POST .../images/build: the build (its job streams the log).
export interface Build {
  id: string;
  name?: string;
  state: "running" | "ready" | "failed" | string;
  error?: string | null;
  job_id: string | null; // null or "" when served from cache
  image_id?: string | null;
  digest?: string | null;
  cached?: boolean;
  spec_path?: string;
  commit?: string;
}

// The image pickers' values: DEFAULT_IMAGE = what runs when a request names none (the project's
// default, or an environment app's own image), "none" = the host system, else "name@sha256:…".
export const DEFAULT_IMAGE = "@default";

// The request's `image` for a picked value: undefined = left out (the default).
export function imageField(v: string | undefined): string | undefined {
  return v === undefined || v === DEFAULT_IMAGE || v === "" ? undefined : v;
}

export const imageKeys = {
  project: (projectId: string) => ["images", projectId] as const,
};

export const imagesPath = (projectId: string) => `${projectApi(projectId)}/images`;

// The project's images (its own and its org's), every page: the pickers need them all.
export const listAllImages = (projectId: string) => listAll<Image>(imagesPath(projectId));

const post = <T>(path: string, body: unknown) => fetchJson<T>(path, { method: "POST", body: JSON.stringify(body) });

export const pullImage = (projectId: string, body: { name: string; source: string; default?: boolean }) =>
  post<Image>(imagesPath(projectId), body);

export const importImage = (projectId: string, body: { name: string; file: string; format?: string; default?: boolean }) =>
  post<Image>(`${imagesPath(projectId)}/import`, body);

export const buildImage = (projectId: string, body: { spec: string; ref?: string }) =>
  post<Build>(`${imagesPath(projectId)}/build`, body);

export const getBuild = (projectId: string, buildId: string) =>
  fetchJson<Build>(`${imagesPath(projectId)}/builds/${encodeURIComponent(buildId)}`);

export const setDefaultImage = (projectId: string, image: string | null) =>
  fetchJson<unknown>(`${imagesPath(projectId)}/default`, { method: "PUT", body: JSON.stringify({ image }) });

export const deleteImage = (im: Image) =>
  fetchJson<void>(`/api/v1/images/${encodeURIComponent(im.id)}`, { method: "DELETE", headers: { "If-Match": im.etag } });

// "sha256:0123456789ab…" → "sha256:0123456789ab" (the first 12 hex digits, as docker shows).
export function shortDigest(d: string | null | undefined): string {
  if (!d) return "";
  const [algo, hex = ""] = d.split(":");
  return `${algo}:${hex.slice(0, 12)}`;
}

// What an image holds, in a few words: "Debian GNU/Linux 12 · Python 3.11.2".
export function softwareWords(s: ImageSoftware | null | undefined): string {
  if (!s) return "";
  const os = s.os?.PRETTY_NAME ?? s.os?.NAME ?? s.os?.ID ?? "";
  const parts = [os, s.python ? `Python ${s.python}` : ""].filter(Boolean);
  return parts.join(" · ");
}

// The job id of a build's image, when the server names it (the build's log is that job's).
export function buildJobOf(im: Image): string | null {
  return im.job_id || im.build?.job_id || null;
}
