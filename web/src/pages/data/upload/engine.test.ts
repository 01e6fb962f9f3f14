import { describe, expect, it } from "vitest";
import { ApiError } from "../../../api/problem";
import { CancelledError, Uploader, backoffMs, chunkFor, retryable } from "./engine";
import { FakeServer, patternFile } from "./fake-server";
import { UploadHttp } from "./http";
import { MemoryKeyValue, ResumeStore } from "./resume";

const KiB = 1024;

function setup(kv = new MemoryKeyValue(), server = new FakeServer(), chunkSize = 64 * KiB) {
  const sleeps: number[] = [];
  const store = new ResumeStore(kv);
  const uploader = new Uploader(new UploadHttp(server.fetch), store, {
    chunkSize,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { server, store, uploader, sleeps, kv };
}

function equal(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}

async function bytes(f: File) {
  return new Uint8Array(await f.arrayBuffer());
}

describe("Uploader", () => {
  it("sends a file in chunks at the server's offsets and completes it", async () => {
    const { server, uploader, store } = setup();
    const file = patternFile("a.bin", 300 * KiB + 5);
    const seen: number[] = [];
    const f = await uploader.upload({ projectId: "prj1", path: "dir/a.bin", file }, { onProgress: (o) => seen.push(o) });
    expect(f.path).toBe("dir/a.bin");
    expect(equal(server.files.get("dir/a.bin"), await bytes(file))).toBe(true);
    expect(server.patches.map((p) => p.offset)).toEqual([0, 65536, 131072, 196608, 262144]);
    expect(seen.at(-1)).toBe(file.size);
    expect(store.all()).toEqual([]); // forgotten once complete
  });

  it("never sends a chunk over the server's Upload-Chunk-Max", async () => {
    const server = new FakeServer();
    server.chunkMax = 10 * KiB;
    const { uploader } = setup(undefined, server, 64 * KiB);
    await uploader.upload({ projectId: "prj1", path: "b", file: patternFile("b", 25 * KiB) });
    expect(server.patches.map((p) => p.length)).toEqual([10240, 10240, 5120]);
  });

  it("completes an empty file without a chunk", async () => {
    const { server, uploader } = setup();
    await uploader.upload({ projectId: "prj1", path: "empty", file: patternFile("empty", 0) });
    expect(server.patches).toEqual([]);
    expect(server.files.get("empty")?.length).toBe(0);
  });

  it("retries network errors and 503 with backoff, resuming at the server's offset", async () => {
    const { server, uploader, sleeps } = setup();
    server.faults = [undefined, "network", "503", undefined, "lost-reply"];
    const file = patternFile("c", 256 * KiB);
    await uploader.upload({ projectId: "prj1", path: "c", file });
    expect(equal(server.files.get("c"), await bytes(file))).toBe(true);
    expect(sleeps).toEqual([250, 500, 250]);
    // After the lost reply the server already had the chunk: the next one goes at its offset.
    const offsets = server.patches.map((p) => p.offset);
    expect(new Set(offsets).size).toBe(offsets.length);
  });

  it("a lost answer to /complete still ends with the file", async () => {
    const { server, uploader, store } = setup();
    server.loseCompleteReply = true;
    const f = await uploader.upload({ projectId: "prj1", path: "g/h.bin", file: patternFile("h.bin", 1000) });
    expect(f.size).toBe(1000);
    expect(store.all()).toEqual([]);
  });

  it("gives up after too many failures in a row, remembering the upload", async () => {
    const { server, uploader, store } = setup();
    server.faults = Array(20).fill("network");
    await expect(uploader.upload({ projectId: "prj1", path: "d", file: patternFile("d", 100 * KiB) })).rejects.toThrow(
      TypeError,
    );
    expect(store.all()).toHaveLength(1);
  });

  it("resumes after a page reload from the server's offset, not from zero", async () => {
    const kv = new MemoryKeyValue(); // sessionStorage survives the reload
    const server = new FakeServer();
    const file = patternFile("report.bin", 512 * KiB);
    const first = setup(kv, server);
    const stop = new AbortController();
    let chunks = 0;
    await expect(
      first.uploader.upload(
        { projectId: "prj1", path: "data/report.bin", file },
        {
          signal: stop.signal,
          onProgress: (o) => {
            if (o > 0 && ++chunks === 3) stop.abort(); // the reload
          },
        },
      ),
    ).rejects.toBeInstanceOf(CancelledError);
    const held = server.uploads.values().next().value!.offset;
    expect(held).toBe(3 * 64 * KiB);

    // A new page: the user drops the same file (same name, size, lastModified) into another folder.
    const second = setup(kv, server);
    const again = new File([await file.arrayBuffer()], "report.bin", { lastModified: file.lastModified });
    let start: { offset: number; resumed: boolean; path: string } | undefined;
    server.patches = [];
    await second.uploader.upload({ projectId: "prj1", path: "elsewhere/report.bin", file: again }, { onStart: (s) => (start = s) });
    expect(start).toMatchObject({ offset: held, resumed: true, path: "data/report.bin" });
    expect(server.patches[0].offset).toBe(held);
    expect(equal(server.files.get("data/report.bin"), await bytes(file))).toBe(true);
    expect(second.store.all()).toEqual([]);
  });

  it("starts anew when the remembered upload is gone or the file differs", async () => {
    const { server, uploader, store } = setup();
    store.put({
      uploadId: "upl-gone",
      projectId: "prj1",
      path: "e",
      name: "e",
      size: 10,
      lastModified: 1_700_000_000_000,
      offset: 5,
      updated: 0,
    });
    await uploader.upload({ projectId: "prj1", path: "e", file: patternFile("e", 10) });
    expect(server.files.get("e")?.length).toBe(10);
    expect(store.all()).toEqual([]);
    // Another lastModified: not the same file, so not its upload.
    expect(store.find("prj1", { name: "e", size: 10, lastModified: 1 })).toBeUndefined();
  });

  it("says what the server refused, in its words, without retrying", async () => {
    const server = new FakeServer();
    server.quotaBytes = 1000;
    const { uploader, sleeps } = setup(undefined, server);
    const err = await uploader.upload({ projectId: "prj1", path: "big", file: patternFile("big", 5000) }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(507);
    expect((err as ApiError).message).toMatch(/quota/);
    expect(sleeps).toEqual([]);
  });

  it("discard abandons the upload on the server and here", async () => {
    const { server, uploader, store } = setup();
    const stop = new AbortController();
    const p = uploader.upload(
      { projectId: "prj1", path: "f", file: patternFile("f", 256 * KiB) },
      { signal: stop.signal, onProgress: (o) => o > 0 && stop.abort() },
    );
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    const id = store.all()[0].uploadId;
    await uploader.discard(id);
    expect(server.uploads.size).toBe(0);
    expect(store.all()).toEqual([]);
  });
});

describe("chunkFor", () => {
  it("grows with the file, within the base, 64 MiB and the server's maximum", () => {
    const MiB = 1 << 20;
    expect(chunkFor(64 * MiB, 16 * MiB, 64 * MiB)).toBe(16 * MiB);
    expect(chunkFor(1024 * MiB, 16 * MiB, 64 * MiB)).toBe(32 * MiB);
    expect(chunkFor(8192 * MiB, 16 * MiB, 64 * MiB)).toBe(64 * MiB);
    expect(chunkFor(8192 * MiB, 16 * MiB, 8 * MiB)).toBe(8 * MiB);
    expect(chunkFor(10, 64 * 1024, null)).toBe(64 * 1024);
    expect(chunkFor(300 * 1024, 64 * 1024, 10 * 1024)).toBe(10 * 1024);
  });
});

describe("retry rules", () => {
  it("retries the network and overload, not the caller's mistakes", () => {
    expect(retryable(new TypeError("Failed to fetch"))).toBe(true);
    expect(retryable(new ApiError(503, {}))).toBe(true);
    expect(retryable(new ApiError(409, { type: "urn:atrium:problem:offset-mismatch" }))).toBe(true);
    expect(retryable(new ApiError(409, { type: "urn:atrium:problem:file-exists" }))).toBe(false);
    expect(retryable(new ApiError(507, {}))).toBe(false);
    expect(retryable(new ApiError(413, {}))).toBe(false);
    expect([0, 1, 2, 5, 9].map(backoffMs)).toEqual([250, 500, 1000, 8000, 8000]);
  });
});
