// A project's data as the API answers it (src/data/store.cpp's json()): files, uploads, signed
// links, datasets and their versions, quotas. Paths are '/'-separated and relative.

export interface FileInfo {
  project_id: string;
  path: string;
  size: number;
  sha256: string;
  owner_id: string;
  created: string;
  updated: string;
  version: number;
  etag: string;
}

export interface UploadInfo {
  id: string;
  project_id: string;
  user_id: string;
  path: string;
  size: number;
  offset: number;
  sha256: string | null;
  overwrite: boolean;
  created: string;
  updated: string;
  expires: string;
}

export interface LinkInfo {
  id: string;
  project_id: string;
  path: string;
  size: number;
  sha256: string;
  created_by: string;
  created: string;
  expires: string;
  one_time: boolean;
  uses: number;
  revoked: boolean;
  dataset_id: string | null;
  dataset_version: number | null;
  etag: string;
  token?: string; // only in the answer that made it
  url?: string; // "/dl/<token>", only in the answer that made it
}

export interface Dataset {
  id: string;
  project_id: string;
  name: string;
  description: string;
  created_by: string;
  created: string;
  latest: number | null;
  etag: string;
}

export interface DatasetVersion {
  version: number;
  created_by: string;
  created: string;
  files: number;
  bytes: number;
  manifest_sha256: string;
  message: string;
  provenance: Record<string, unknown>;
  [k: string]: unknown;
}

export interface DatasetWithVersions extends Dataset {
  versions: DatasetVersion[];
}

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface DatasetDiff {
  dataset_id: string;
  from: number;
  to: number;
  added: ManifestEntry[];
  removed: ManifestEntry[];
  changed: { path: string; from: ManifestEntry; to: ManifestEntry }[];
  unchanged: number;
}

export interface Quota {
  org_id: string;
  kind: "org" | "group" | "user";
  subject_id: string;
  limits: Record<string, number | null>;
  usage: Record<string, number>;
  etag: string;
}

// Each segment percent-encoded, the slashes kept: the server decodes and normalises them.
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

export function projectApi(projectId: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}`;
}

export function fileUrl(projectId: string, path: string): string {
  return `${projectApi(projectId)}/files/${encodePath(path)}`;
}
