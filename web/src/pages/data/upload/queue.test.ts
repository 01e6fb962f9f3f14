import { describe, expect, it } from "vitest";
import { Uploader } from "./engine";
import { FakeServer, patternFile } from "./fake-server";
import { UploadHttp } from "./http";
import { UploadQueue, type UploadItem } from "./queue";
import { RateMeter } from "./rate";
import { MemoryKeyValue, ResumeStore } from "./resume";

function until(q: UploadQueue, done: (items: UploadItem[]) => boolean): Promise<UploadItem[]> {
  return new Promise((resolve) => {
    const check = () => {
      if (!done(q.items())) return;
      stop();
      resolve(q.items());
    };
    const stop = q.subscribe(check);
    check();
  });
}

function queue(server = new FakeServer(), concurrency = 2) {
  const uploader = new Uploader(new UploadHttp(server.fetch), new ResumeStore(new MemoryKeyValue()), {
    chunkSize: 4096,
    sleep: async () => {},
  });
  let t = 0;
  return new UploadQueue(uploader, "prj1", { concurrency, now: () => (t += 100) });
}

describe("UploadQueue", () => {
  it("uploads many files into the folder, a few at a time", async () => {
    const server = new FakeServer();
    const q = queue(server, 2);
    const done: string[] = [];
    q.onFileDone = (f) => done.push(f.path);
    q.add([patternFile("a", 10000), patternFile("b", 5), patternFile("c", 0), patternFile("d", 9000)], "in");
    expect(q.items().filter((i) => i.state === "uploading")).toHaveLength(2);
    const items = await until(q, (xs) => xs.every((x) => x.state === "done"));
    expect(items.map((i) => i.path)).toEqual(["in/a", "in/b", "in/c", "in/d"]);
    expect(items.every((i) => i.sent === i.size)).toBe(true);
    expect(done.sort()).toEqual(["in/a", "in/b", "in/c", "in/d"]);
    expect([...server.files.keys()].sort()).toEqual(["in/a", "in/b", "in/c", "in/d"]);
  });

  it("shows a refusal as the item's error and goes on with the others", async () => {
    const server = new FakeServer();
    server.files.set("x", new Uint8Array(1));
    const q = queue(server);
    q.add([patternFile("x", 10), patternFile("y", 10)], "");
    const items = await until(q, (xs) => xs.every((x) => x.state === "done" || x.state === "error"));
    expect(items[0].state).toBe("error");
    expect(String(items[0].error)).toMatch(/exists/);
    expect(items[1].state).toBe("done");
  });

  it("cancel stops an upload and abandons it on the server", async () => {
    const server = new FakeServer();
    const q = queue(server, 1);
    q.add([patternFile("big", 100000), patternFile("next", 10)], "");
    await until(q, (xs) => xs[0].sent > 0);
    await q.cancel(q.items()[0].key);
    const items = await until(q, (xs) => xs[1].state === "done");
    expect(items[0].state).toBe("cancelled");
    expect(server.uploads.size).toBe(0);
    expect(server.files.has("big")).toBe(false);
    q.clearFinished();
    expect(q.items()).toEqual([]);
  });
});

describe("RateMeter", () => {
  it("measures over a sliding window and estimates the time left", () => {
    const m = new RateMeter(2000);
    expect(m.eta(100)).toBeNull();
    m.add(0, 0);
    m.add(1000, 10_000_000);
    expect(m.speed()).toBe(10_000_000);
    expect(m.eta(50_000_000)).toBe(4);
    m.add(2000, 20_000_000);
    m.add(3000, 20_000_000); // a stall lowers the speed at once
    expect(m.speed()).toBe(5_000_000);
  });
});
