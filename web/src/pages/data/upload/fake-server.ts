// A stand-in for the API's upload routes, in memory, for the engine's unit tests: the same
// offset rules as src/data/uploads.cpp (a chunk must be sent at the upload's offset, 409
// offset-mismatch otherwise; never past the size), and faults on demand.

export interface FakeUpload {
  id: string;
  path: string;
  size: number;
  offset: number;
  data: Uint8Array;
}

type Fault = "network" | "503" | "lost-reply";

function problem(status: number, code: string, detail: string, extra: object = {}): Response {
  return new Response(JSON.stringify({ type: `urn:atrium:problem:${code}`, status, detail, ...extra }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

export class FakeServer {
  uploads = new Map<string, FakeUpload>();
  files = new Map<string, Uint8Array>();
  chunkMax = 1 << 20;
  quotaBytes = Infinity;
  patches: { id: string; offset: number; length: number }[] = [];
  // Faults for the next PATCHes, in order (undefined = none).
  faults: (Fault | undefined)[] = [];
  private n = 0;

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const method = init.method ?? "GET";
    const url = new URL(input, "http://x");
    let m = url.pathname.match(/^\/api\/v1\/projects\/([^/]+)\/uploads$/);
    if (m && method === "POST") return this.create(JSON.parse(String(init.body)));
    m = url.pathname.match(/^\/api\/v1\/projects\/[^/]+\/files\/(.+)$/);
    if (m && method === "GET") {
      const path = m[1].split("/").map(decodeURIComponent).join("/");
      const data = this.files.get(path);
      return data ? json(200, { path, size: data.length }) : problem(404, "not-found", `no file ${path}`);
    }
    m = url.pathname.match(/^\/api\/v1\/uploads\/([^/]+)(\/complete)?$/);
    if (!m) return problem(404, "not-found", "no route");
    const u = this.uploads.get(decodeURIComponent(m[1]));
    if (!u) return problem(404, "not-found", "upload not found");
    if (m[2] && method === "POST") return this.complete(u);
    if (method === "GET") return json(200, this.info(u), { "Upload-Offset": String(u.offset) });
    if (method === "DELETE") {
      this.uploads.delete(u.id);
      return new Response(null, { status: 204 });
    }
    if (method === "PATCH") return this.patch(u, new Headers(init.headers), init.body as Blob);
    return problem(405, "method-not-allowed", method);
  };

  private info(u: FakeUpload) {
    return { id: u.id, path: u.path, size: u.size, offset: u.offset, project_id: "prj1" };
  }

  private create(b: { path: string; size: number; overwrite?: boolean }): Response {
    if (b.size > this.quotaBytes)
      return problem(507, "quota-exceeded", `the storage quota of the org allows ${this.quotaBytes} bytes`);
    if (this.files.has(b.path) && !b.overwrite) return problem(409, "file-exists", `a file '${b.path}' exists`);
    this.n += 1;
    const u = { id: `upl${this.n}`, path: b.path, size: b.size, offset: 0, data: new Uint8Array(b.size) };
    this.uploads.set(u.id, u);
    return json(201, this.info(u), { "Upload-Chunk-Max": String(this.chunkMax) });
  }

  private async patch(u: FakeUpload, h: Headers, body: Blob): Promise<Response> {
    const at = Number(h.get("Upload-Offset"));
    const bytes = new Uint8Array(await body.arrayBuffer());
    const fault = this.faults.shift();
    if (fault === "network") throw new TypeError("Failed to fetch");
    if (fault === "503") return problem(503, "unavailable", "the server is restarting");
    this.patches.push({ id: u.id, offset: at, length: bytes.length });
    if (bytes.length > this.chunkMax) return problem(413, "chunk-too-large", "the chunk is too large");
    if (at !== u.offset)
      return problem(409, "offset-mismatch", `the upload is at ${u.offset}`, { offset: u.offset });
    if (at + bytes.length > u.size) return problem(400, "beyond-size", "past the declared size");
    u.data.set(bytes, at);
    u.offset += bytes.length;
    // The chunk is stored, but the client never hears of it.
    if (fault === "lost-reply") throw new TypeError("network connection lost");
    return json(200, this.info(u), { "Upload-Offset": String(u.offset) });
  }

  // The answer to the next /complete is lost after the server did it.
  loseCompleteReply = false;

  private complete(u: FakeUpload): Response {
    if (u.offset !== u.size)
      return problem(409, "upload-incomplete", `the upload has ${u.offset} of ${u.size} bytes`);
    this.files.set(u.path, u.data);
    this.uploads.delete(u.id);
    if (this.loseCompleteReply) {
      this.loseCompleteReply = false;
      throw new TypeError("network connection lost");
    }
    return json(201, { path: u.path, size: u.size, sha256: "", etag: '"1"' });
  }
}

// A File-like of `size` bytes whose byte i is i % 251.
export function patternFile(name: string, size: number, lastModified = 1_700_000_000_000): File {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  return new File([data], name, { lastModified });
}
