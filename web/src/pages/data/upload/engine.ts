// One file's resumable upload: find or start the server's upload, send the file's bytes in
// chunks at the server's offset, recover from network errors and restarts by asking the server
// where it stands (with backoff), and complete. The server takes one chunk at a time per upload
// (409 upload-busy otherwise), so the chunks of one file go in order; several files go at once
// (queue.ts).
import { ApiError } from "../../../api/problem";
import type { FileInfo } from "../../../api/data";
import type { UploadHttp } from "./http";
import type { FileIdentity, ResumeStore } from "./resume";

export interface FileLike extends FileIdentity {
  slice(start: number, end: number): Blob;
}

export interface UploadJob {
  projectId: string;
  path: string; // used when no earlier upload of this file is found
  file: FileLike;
  overwrite?: boolean;
}

export interface UploadHooks {
  signal?: AbortSignal;
  // The upload's id and where it starts (> 0 when it resumes), once known.
  onStart?(info: { uploadId: string; path: string; offset: number; resumed: boolean }): void;
  // Bytes the server holds, after each chunk.
  onProgress?(offset: number): void;
}

export interface EngineOptions {
  chunkSize?: number; // bytes per PATCH, at most the server's Upload-Chunk-Max
  maxRetries?: number; // failures in a row before giving up
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export const DEFAULT_CHUNK = 16 << 20;
const MAX_AUTO_CHUNK = 64 << 20;

// Bytes per PATCH: about 1/32 of the file, from `base` (16 MiB) up to 64 MiB and the server's
// Upload-Chunk-Max. Each chunk costs a request and an fsync on the server, so a 1 GiB file in
// 32 MiB chunks went faster than in 16 MiB ones (bench/web/upload.sh), while a small file still
// shows its progress in steps.
export function chunkFor(size: number, base: number, serverMax: number | null): number {
  const share = size / 32;
  const want = share > base ? Math.max(base, Math.min(MAX_AUTO_CHUNK, Math.ceil(share / (1 << 20)) * (1 << 20))) : base;
  return serverMax ? Math.min(want, serverMax) : want;
}

export class CancelledError extends Error {
  constructor() {
    super("the upload was cancelled");
    this.name = "CancelledError";
  }
}

// Failures worth retrying after asking the server for its offset: the network (fetch throws a
// TypeError), the server restarting or shedding load, a chunk that raced another or was sent at
// an offset the server no longer has.
export function retryable(e: unknown): boolean {
  if (e instanceof ApiError) {
    if (e.code === "offset-mismatch" || e.code === "upload-busy") return true;
    return e.status === 502 || e.status === 503 || e.status === 504 || e.status === 429 || e.status === 408;
  }
  return e instanceof TypeError;
}

export function backoffMs(attempt: number): number {
  return Math.min(8000, 250 * 2 ** Math.min(attempt, 5));
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new CancelledError());
    });
  });
}

function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (e instanceof Error && e.name === "AbortError");
}

export class Uploader {
  readonly http: UploadHttp;
  readonly store: ResumeStore;
  private readonly chunkSize: number;
  private readonly maxRetries: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;

  constructor(http: UploadHttp, store: ResumeStore, opts: EngineOptions = {}) {
    this.http = http;
    this.store = store;
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
    this.maxRetries = opts.maxRetries ?? 8;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
  }

  // The upload this file continues (its id, path and the server's offset), or null to start anew.
  // An upload the server no longer knows (expired, completed, abandoned) is forgotten.
  private async resumable(job: UploadJob): Promise<{ id: string; path: string; offset: number } | null> {
    const rec = this.store.find(job.projectId, job.file);
    if (!rec) return null;
    try {
      const u = await this.http.status(rec.uploadId);
      if (u.size === job.file.size) return { id: u.id, path: u.path, offset: u.offset };
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
    this.store.remove(rec.uploadId);
    return null;
  }

  async upload(job: UploadJob, hooks: UploadHooks = {}): Promise<FileInfo> {
    const { file, projectId } = job;
    const signal = hooks.signal;
    let chunk = this.chunkSize;
    let found = await this.resumable(job);
    const resumed = !!found;
    if (!found) {
      const c = await this.http.create(projectId, job.path, file.size, !!job.overwrite);
      chunk = chunkFor(file.size, this.chunkSize, c.chunkMax);
      found = { id: c.upload.id, path: c.upload.path, offset: c.upload.offset };
    } else {
      chunk = chunkFor(file.size, this.chunkSize, null); // at most 64 MiB, the server's default maximum
    }
    const { id, path } = found;
    let offset = found.offset;
    const remember = () =>
      this.store.put({
        uploadId: id,
        projectId,
        path,
        name: file.name,
        size: file.size,
        lastModified: file.lastModified,
        offset,
        updated: this.now(),
      });
    remember();
    hooks.onStart?.({ uploadId: id, path, offset, resumed });
    hooks.onProgress?.(offset);

    let failures = 0;
    while (offset < file.size) {
      if (signal?.aborted) throw new CancelledError();
      const end = Math.min(file.size, offset + chunk);
      try {
        const u = await this.http.send(id, offset, file.slice(offset, end), signal);
        offset = u.offset;
        failures = 0;
      } catch (e) {
        if (isAbort(e, signal)) throw new CancelledError();
        if (!retryable(e) || ++failures > this.maxRetries) throw e;
        await this.sleep(backoffMs(failures - 1), signal);
        offset = await this.serverOffset(id, offset, signal);
      }
      remember();
      hooks.onProgress?.(offset);
    }
    const done = await this.completeWithRetry(id, projectId, path, file.size, signal);
    this.store.remove(id);
    return done;
  }

  // Where the server stands after a failure; the last known offset while it cannot be reached
  // (the next chunk's answer says the rest).
  private async serverOffset(id: string, fallback: number, signal?: AbortSignal): Promise<number> {
    try {
      return (await this.http.status(id)).offset;
    } catch (e) {
      if (isAbort(e, signal)) throw new CancelledError();
      if (e instanceof ApiError && e.status === 404) throw e; // expired or gone: nothing to resume
      return fallback;
    }
  }

  // A retried /complete that finds no upload may follow one whose answer was lost: the file is
  // there if its size says so.
  private async completeWithRetry(
    id: string,
    projectId: string,
    path: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<FileInfo> {
    for (let failures = 0; ; ) {
      try {
        return await this.http.complete(id);
      } catch (e) {
        if (failures > 0 && e instanceof ApiError && e.status === 404) {
          const f = await this.http.stat(projectId, path).catch(() => null);
          if (f && f.size === size) return f;
        }
        if (!retryable(e) || ++failures > this.maxRetries) throw e;
        await this.sleep(backoffMs(failures - 1), signal);
      }
    }
  }

  // Abandons an upload on the server and forgets it here.
  // A chunk the server is still writing when the user cancels holds the upload (409 upload-busy):
  // ask again shortly.
  async discard(uploadId: string): Promise<void> {
    this.store.remove(uploadId);
    for (let failures = 0; ; ) {
      try {
        return await this.http.remove(uploadId);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return;
        if (!retryable(e) || ++failures > 4) throw e;
        await this.sleep(backoffMs(failures - 1));
      }
    }
  }
}
