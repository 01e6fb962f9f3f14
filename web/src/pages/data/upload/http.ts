// The resumable-upload protocol of the API (docs/api.md, src/data/routes_uploads.cpp), over an
// injected fetch so that tests can put a fake server behind it:
//   POST /projects/{id}/uploads {path, size, overwrite}  -> 201 the upload, Upload-Chunk-Max
//   PATCH /uploads/{id}, Upload-Offset: n, body = bytes  -> the new offset (durable)
//   GET /uploads/{id}                                    -> where to resume
//   POST /uploads/{id}/complete                          -> 201 the file
//   DELETE /uploads/{id}                                 -> abandon
import { ApiError } from "../../../api/problem";
import { fileUrl, projectApi, type FileInfo, type UploadInfo } from "../../../api/data";

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface Created {
  upload: UploadInfo;
  chunkMax: number | null; // the server's largest chunk (Upload-Chunk-Max)
}

export class UploadHttp {
  private readonly fetchFn: FetchFn;
  private readonly csrf: () => string;

  constructor(fetchFn: FetchFn, csrf: () => string = () => "") {
    this.fetchFn = fetchFn;
    this.csrf = csrf;
  }

  private async call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (method !== "GET") headers.set("X-CSRF-Token", this.csrf());
    const r = await this.fetchFn(path, { ...init, method, headers, credentials: "same-origin" });
    if (!r.ok) throw ApiError.from(r, await r.json().catch(() => undefined));
    return r;
  }

  async create(projectId: string, path: string, size: number, overwrite: boolean): Promise<Created> {
    const r = await this.call("POST", `${projectApi(projectId)}/uploads`, {
      body: JSON.stringify({ path, size, overwrite }),
      headers: { "Content-Type": "application/json" },
    });
    const max = Number(r.headers.get("Upload-Chunk-Max"));
    return { upload: (await r.json()) as UploadInfo, chunkMax: max > 0 ? max : null };
  }

  async status(id: string): Promise<UploadInfo> {
    return (await (await this.call("GET", `/api/v1/uploads/${encodeURIComponent(id)}`)).json()) as UploadInfo;
  }

  async send(id: string, offset: number, chunk: Blob, signal?: AbortSignal): Promise<UploadInfo> {
    const r = await this.call("PATCH", `/api/v1/uploads/${encodeURIComponent(id)}`, {
      body: chunk,
      signal,
      headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
    });
    return (await r.json()) as UploadInfo;
  }

  async complete(id: string, sha256?: string): Promise<FileInfo> {
    const r = await this.call("POST", `/api/v1/uploads/${encodeURIComponent(id)}/complete`, {
      body: JSON.stringify(sha256 ? { sha256 } : {}),
      headers: { "Content-Type": "application/json" },
    });
    return (await r.json()) as FileInfo;
  }

  async stat(projectId: string, path: string): Promise<FileInfo> {
    return (await (await this.call("GET", `${fileUrl(projectId, path)}?stat=true`)).json()) as FileInfo;
  }

  async remove(id: string): Promise<void> {
    await this.call("DELETE", `/api/v1/uploads/${encodeURIComponent(id)}`);
  }
}
