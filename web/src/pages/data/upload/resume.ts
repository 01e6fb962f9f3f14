// What the page remembers of an upload in progress, so that a reload can go on where the server
// stands: the upload's id and the file's identity (name, size, lastModified). Browsers never give
// a page the file back after a reload, so the user drops or picks the same file again and it is
// recognised by that identity. No credential is ever stored here (the session cookie is
// HttpOnly); sessionStorage keeps it to this tab and drops it when the tab closes.

export interface FileIdentity {
  name: string;
  size: number;
  lastModified: number;
}

export interface ResumeRecord extends FileIdentity {
  uploadId: string;
  projectId: string;
  path: string; // where the file goes in the project
  offset: number; // the server's offset when last heard
  updated: number; // ms since the epoch
}

export type KeyValue = Pick<Storage, "getItem" | "setItem" | "removeItem">;

const KEY = "atrium.uploads.v1";

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
}

export class ResumeStore {
  private readonly kv: KeyValue;

  constructor(kv: KeyValue) {
    this.kv = kv;
  }

  all(): ResumeRecord[] {
    try {
      const v = JSON.parse(this.kv.getItem(KEY) ?? "[]") as unknown;
      return Array.isArray(v) ? (v as ResumeRecord[]).filter((r) => r && typeof r.uploadId === "string") : [];
    } catch {
      return [];
    }
  }

  private save(records: ResumeRecord[]): void {
    try {
      if (records.length) this.kv.setItem(KEY, JSON.stringify(records));
      else this.kv.removeItem(KEY);
    } catch {
      // A full or disabled storage only costs the resume after a reload.
    }
  }

  forProject(projectId: string): ResumeRecord[] {
    return this.all().filter((r) => r.projectId === projectId);
  }

  // The upload this file was part of in this project, if one was started.
  find(projectId: string, file: FileIdentity): ResumeRecord | undefined {
    return this.forProject(projectId).find((r) => sameFile(r, file));
  }

  put(rec: ResumeRecord): void {
    this.save([...this.all().filter((r) => r.uploadId !== rec.uploadId), rec]);
  }

  remove(uploadId: string): void {
    this.save(this.all().filter((r) => r.uploadId !== uploadId));
  }
}

// A Storage stand-in for tests and for browsers where sessionStorage throws.
export class MemoryKeyValue implements KeyValue {
  private readonly m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}
