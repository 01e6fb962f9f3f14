// Arranging a project's data over the API for the data pages' tests (e2e/data.spec.ts).
import { createHash } from "node:crypto";
import type { Api } from "./fixtures.ts";

// Puts a file through the upload protocol in one chunk.
export async function putFile(api: Api, projectId: string, path: string, content: string | Buffer, overwrite = false) {
  const body = Buffer.from(content);
  const u = await api.post(`/api/v1/projects/${projectId}/uploads`, { path, size: body.length, overwrite });
  if (body.length) {
    const r = await api.ctx.fetch(`/api/v1/uploads/${u.id}`, {
      method: "PATCH",
      data: body,
      headers: {
        Authorization: `Bearer ${api.token}`,
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
      },
    });
    if (!r.ok()) throw new Error(`PATCH ${path}: ${r.status()} ${await r.text()}`);
  }
  return api.post(`/api/v1/uploads/${u.id}/complete`, {});
}

export function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

export async function fileNames(api: Api, projectId: string, prefix = ""): Promise<string[]> {
  const q = prefix ? `?prefix=${encodeURIComponent(prefix)}` : "";
  const r = await api.get<{ items: { path: string }[] }>(`/api/v1/projects/${projectId}/files${q}`);
  return r.items.map((f) => f.path);
}
