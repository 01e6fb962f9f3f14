// One upload queue per project for the life of the page: uploads go on while the user moves
// between folders and pages of the project.
import { csrfToken } from "../../../api/client";
import { ApiError } from "../../../api/problem";
import { Uploader } from "./engine";
import { UploadHttp } from "./http";
import { UploadQueue } from "./queue";
import { MemoryKeyValue, ResumeStore, type KeyValue } from "./resume";

function sessionKv(): KeyValue {
  try {
    return window.sessionStorage;
  } catch {
    return new MemoryKeyValue();
  }
}

let uploader: Uploader | null = null;
const queues = new Map<string, UploadQueue>();

export function getUploader(): Uploader {
  uploader ??= new Uploader(new UploadHttp((i, init) => fetch(i, init), csrfToken), new ResumeStore(sessionKv()));
  return uploader;
}

export function queueFor(projectId: string): UploadQueue {
  let q = queues.get(projectId);
  if (!q) {
    q = new UploadQueue(getUploader(), projectId);
    queues.set(projectId, q);
  }
  return q;
}

// Why an upload failed, in words, and what to do about it.
export function uploadErrorText(e: unknown): string {
  if (e instanceof ApiError) {
    const d = e.message;
    if (e.status === 507 || e.code === "quota-exceeded" || e.code === "insufficient-storage")
      return `Not enough storage: ${d}`;
    if (e.status === 413) return `Too large: ${d}`;
    if (e.code === "file-exists") return `${d}. Tick "Replace existing files" to overwrite it.`;
    if (e.status === 404) return `The upload is gone (expired or abandoned): ${d}. Upload the file again.`;
    return d;
  }
  if (e instanceof TypeError)
    return `The network failed (${e.message}). Drop or choose the file again to resume where the server stopped.`;
  return e instanceof Error ? e.message : String(e);
}
