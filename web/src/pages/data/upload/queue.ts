// The uploads of a page: many files at once (a few in flight, the rest queued), each with its
// progress, speed and time left; cancel; what to tell the user when one fails. React reads it
// with useSyncExternalStore (subscribe + snapshot).
import type { FileInfo } from "../../../api/data";
import { CancelledError, type FileLike, type Uploader } from "./engine";
import { RateMeter } from "./rate";
import { sameFile } from "./resume";

export type UploadState = "queued" | "uploading" | "done" | "error" | "cancelled";

export interface UploadItem {
  key: string;
  name: string;
  path: string;
  size: number;
  sent: number;
  state: UploadState;
  speed: number; // bytes/s
  eta: number | null; // seconds
  resumedFrom: number | null; // the server's offset when an earlier upload was continued
  error: unknown;
}

interface Entry {
  item: UploadItem;
  file: FileLike;
  overwrite: boolean;
  abort: AbortController;
  meter: RateMeter;
  uploadId: string | null;
}

export interface QueueOptions {
  concurrency?: number;
  now?: () => number;
  onFileDone?: (f: FileInfo) => void;
}

let seq = 0;

export class UploadQueue {
  private readonly uploader: Uploader;
  private readonly projectId: string;
  private readonly concurrency: number;
  private readonly now: () => number;
  private entries: Entry[] = [];
  private snapshot: UploadItem[] = [];
  private listeners = new Set<() => void>();
  onFileDone?: (f: FileInfo) => void;

  constructor(uploader: Uploader, projectId: string, opts: QueueOptions = {}) {
    this.uploader = uploader;
    this.projectId = projectId;
    this.concurrency = opts.concurrency ?? 3;
    this.now = opts.now ?? (() => performance.now());
    this.onFileDone = opts.onFileDone;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  items = (): UploadItem[] => this.snapshot;

  private changed(): void {
    this.snapshot = this.entries.map((e) => e.item);
    for (const fn of this.listeners) fn();
  }

  private update(e: Entry, patch: Partial<UploadItem>): void {
    e.item = { ...e.item, ...patch };
    this.changed();
  }

  // Queues files for `folder` ("" = the top); a file the page was uploading before a reload goes
  // on from the server's offset to the path it was going to.
  add(files: FileLike[], folder: string, overwrite = false): void {
    for (const file of files) {
      const busy = (e: Entry) => e.item.state === "uploading" || e.item.state === "queued";
      if (this.entries.some((e) => busy(e) && sameFile(e.file, file))) continue; // already on its way
      seq += 1;
      const path = folder ? `${folder}/${file.name}` : file.name;
      this.entries.push({
        item: {
          key: `u${seq}`,
          name: file.name,
          path,
          size: file.size,
          sent: 0,
          state: "queued",
          speed: 0,
          eta: null,
          resumedFrom: null,
          error: null,
        },
        file,
        overwrite,
        abort: new AbortController(),
        meter: new RateMeter(),
        uploadId: null,
      });
    }
    this.changed();
    this.pump();
  }

  private pump(): void {
    let running = this.entries.filter((e) => e.item.state === "uploading").length;
    for (const e of this.entries) {
      if (running >= this.concurrency) break;
      if (e.item.state !== "queued") continue;
      running += 1;
      void this.run(e);
    }
  }

  private async run(e: Entry): Promise<void> {
    this.update(e, { state: "uploading" });
    try {
      const f = await this.uploader.upload(
        { projectId: this.projectId, path: e.item.path, file: e.file, overwrite: e.overwrite },
        {
          signal: e.abort.signal,
          onStart: ({ uploadId, path, offset, resumed }) => {
            e.uploadId = uploadId;
            e.meter.add(this.now(), offset);
            this.update(e, { path, sent: offset, resumedFrom: resumed ? offset : null });
          },
          onProgress: (offset) => {
            e.meter.add(this.now(), offset);
            this.update(e, { sent: offset, speed: e.meter.speed(), eta: e.meter.eta(e.item.size) });
          },
        },
      );
      this.update(e, { state: "done", sent: e.item.size, eta: 0 });
      this.onFileDone?.(f);
    } catch (err) {
      if (err instanceof CancelledError || e.abort.signal.aborted) this.update(e, { state: "cancelled", eta: null });
      else this.update(e, { state: "error", error: err, eta: null, speed: 0 });
    }
    this.pump();
  }

  // Stops an upload and abandons it on the server (its staged bytes are removed).
  async cancel(key: string): Promise<void> {
    const e = this.entries.find((x) => x.item.key === key);
    if (!e || e.item.state === "done") return;
    e.abort.abort();
    if (e.item.state === "queued") this.update(e, { state: "cancelled" });
    if (e.uploadId) await this.uploader.discard(e.uploadId).catch(() => undefined);
  }

  // Tries a failed upload again; it resumes from the server's offset.
  retry(key: string): void {
    const e = this.entries.find((x) => x.item.key === key);
    if (!e || e.item.state !== "error") return;
    e.abort = new AbortController();
    e.meter = new RateMeter();
    this.update(e, { state: "queued", error: null });
    this.pump();
  }

  // Forgets the finished, failed and cancelled ones.
  clearFinished(): void {
    this.entries = this.entries.filter((e) => e.item.state === "queued" || e.item.state === "uploading");
    this.changed();
  }

  active(): boolean {
    return this.entries.some((e) => e.item.state === "queued" || e.item.state === "uploading");
  }
}
