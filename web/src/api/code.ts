// The project's git repository as the API serves it (/api/v1/projects/{id}/repo/...): the
// response shapes the OpenAPI document leaves open, the fetches and the query hooks the code pages
// share.
import { useQuery } from "@tanstack/react-query";
import { fetchJson, type ListPage } from "./client";
import { withQuery } from "../components/CursorList";

export interface RepoInfo {
  project_id: string;
  clone_path: string;
  clone_url: string;
  default_branch: string;
  head: string | null;
  empty: boolean;
}

export interface Branch {
  name: string;
  commit: string;
  time: number;
  subject: string;
  protected: boolean;
}

export interface Tag {
  name: string;
  commit: string;
  time: number;
  subject: string;
  tag_object?: string;
  message?: string;
}

export interface Person {
  name: string;
  email: string;
  time: number; // seconds since the epoch
}

export interface Commit {
  id: string;
  parents: string[];
  author: Person;
  committer: Person;
  subject: string;
  message: string;
}

export interface TreeEntry {
  name: string;
  path: string;
  type: "file" | "dir" | "symlink" | "submodule";
  mode: string;
  id: string;
  size?: number;
}

export interface Tree {
  commit: string;
  path: string;
  entries: TreeEntry[];
}

export interface RepoFile {
  path: string;
  commit: string;
  id: string;
  mode: string;
  size: number;
  binary: boolean;
  encoding: "utf-8" | "base64";
  content: string;
}

export interface CompareFile {
  path: string;
  old_path?: string;
  status: string;
  additions: number;
  deletions: number;
  binary: boolean;
}

export interface Compare {
  files: CompareFile[];
  patch: string;
  truncated: boolean;
}

export interface FileCommit {
  commit: string;
  parent: string | null;
  branch: string;
  path: string;
  changed: boolean;
}

// Each segment of a repository path encoded, the slashes kept.
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

export const repoBase = (projectId: string) => `/api/v1/projects/${encodeURIComponent(projectId)}/repo`;

export function fileUrl(projectId: string, path: string, ref: string, format?: "json" | "raw"): string {
  return withQuery(`${repoBase(projectId)}/files/${encodePath(path)}`, { ref, format });
}

export const codeKey = (projectId: string, ...rest: unknown[]) => ["repo", projectId, ...rest];

export function useRepo(projectId: string) {
  return useQuery({ queryKey: codeKey(projectId, "info"), queryFn: () => fetchJson<RepoInfo>(repoBase(projectId)) });
}

// The first 100 branches and tags: what the ref selector offers and how a URL's ref is found.
export function useRefs(projectId: string) {
  const branches = useQuery({
    queryKey: codeKey(projectId, "branches", 100),
    queryFn: () => fetchJson<ListPage<Branch>>(`${repoBase(projectId)}/branches?limit=100`),
  });
  const tags = useQuery({
    queryKey: codeKey(projectId, "tags", 100),
    queryFn: () => fetchJson<ListPage<Tag>>(`${repoBase(projectId)}/tags?limit=100`),
  });
  return { branches, tags };
}

export function useTree(projectId: string, ref: string, path: string, enabled = true) {
  return useQuery({
    queryKey: codeKey(projectId, "tree", ref, path),
    enabled,
    queryFn: () => fetchJson<Tree>(withQuery(`${repoBase(projectId)}/tree`, { ref, path })),
  });
}

export function useFile(projectId: string, ref: string, path: string, enabled = true) {
  return useQuery({
    queryKey: codeKey(projectId, "file", ref, path),
    enabled,
    retry: false,
    queryFn: () => fetchJson<RepoFile>(fileUrl(projectId, path, ref, "json")),
  });
}

export function useCommit(projectId: string, ref: string, enabled = true) {
  return useQuery({
    queryKey: codeKey(projectId, "commit", ref),
    enabled,
    retry: false,
    queryFn: () => fetchJson<Commit>(`${repoBase(projectId)}/commits/${encodeURIComponent(ref)}`),
  });
}

export function useCompare(projectId: string, from: string, to: string, enabled = true) {
  return useQuery({
    queryKey: codeKey(projectId, "compare", from, to),
    enabled,
    retry: false,
    queryFn: () => fetchJson<Compare>(withQuery(`${repoBase(projectId)}/compare`, { from, to })),
  });
}

// One commit's changes against its first parent (a root commit: everything added).
export function useCommitDiff(projectId: string, sha: string, enabled = true) {
  return useQuery({
    queryKey: codeKey(projectId, "commit-diff", sha),
    enabled,
    retry: false,
    queryFn: () => fetchJson<Compare>(`${repoBase(projectId)}/commits/${encodeURIComponent(sha)}/diff`),
  });
}

// Commits one file to a branch. `base`: the branch head the edit was made against (If-Match: a
// 412 `branch-moved` when the branch has moved since), or null to make the branch (If-None-Match).
export function putFile(
  projectId: string,
  path: string,
  body: { branch: string; content: string; message?: string },
  base: string | null,
): Promise<FileCommit> {
  const headers: Record<string, string> = base ? { "If-Match": `"${base}"` } : { "If-None-Match": "*" };
  return fetchJson<FileCommit>(`${repoBase(projectId)}/files/${encodePath(path)}`, {
    method: "PUT",
    headers,
    body: JSON.stringify(body),
  });
}

// A file's text as its content string gives it (base64 decoded as UTF-8).
export function fileText(f: RepoFile): string {
  if (f.encoding !== "base64") return f.content;
  const bin = atob(f.content);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function when(t: number): string {
  return new Date(t * 1000).toLocaleString();
}

export function formatSize(n: number | undefined): string {
  if (n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}
