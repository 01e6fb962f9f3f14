import { describe, expect, it } from "vitest";
import type { App, Env } from "../../api/envs";
import { duration, idle, mergeLive, reasonWords, uptime, validateLaunch } from "./envState";

const app: App = {
  name: "jupyter",
  kind: "jupyter",
  title: "Jupyter",
  defaults: { cpus: 1, mem_mb: 2048, time_limit_s: 28800 },
  max: { cpus: 4, mem_mb: 16384, time_limit_s: 86400 },
  idle_timeout_s: 3600,
  max_uptime_s: 86400,
  spawn_timeout_s: 120,
  network: "none",
  enabled: true,
};

const env = (id: string, state = "READY", extra: Partial<Env> = {}): Env =>
  ({ id, state, reason: "", ready_at: null, ended_at: null, last_activity: "2026-01-01T00:00:00Z", ...extra }) as Env;

describe("validateLaunch", () => {
  it("turns the form into the API's body", () => {
    const r = validateLaunch({ cpus: 2, memGb: 4, hours: 8, ref: " main " }, app);
    expect(r.errors).toEqual({});
    expect(r.body).toEqual({ app: "jupyter", cpus: 2, mem_mb: 4096, time_limit_s: 28800, ref: "main" });
  });
  it("keeps within the app's maxima and the API's minima", () => {
    const r = validateLaunch({ cpus: 5, memGb: 17, hours: 25, ref: "" }, app);
    expect(r.body).toBeUndefined();
    expect(r.errors.cpus).toMatch(/At most 4 CPUs/);
    expect(r.errors.memGb).toMatch(/At most 16 GB/);
    expect(r.errors.hours).toMatch(/At most 24 h/);
    const low = validateLaunch({ cpus: 0, memGb: 0.001, hours: 0.001, ref: "a..b" }, app);
    expect(Object.keys(low.errors).sort()).toEqual(["cpus", "hours", "memGb", "ref"]);
  });
  it("adds GPUs within the app's maximum, the image, datasets and secrets", () => {
    const gpuApp = { ...app, max_gpus: 2 };
    const f = { cpus: 1, memGb: 2, hours: 1, ref: "", gpus: 1, image: "py@sha256:aa", datasets: ["d@2"], secrets: ["K", "F:file"] };
    expect(validateLaunch(f, gpuApp).body).toEqual({
      app: "jupyter", cpus: 1, mem_mb: 2048, time_limit_s: 3600, gpus: 1, image: "py@sha256:aa", datasets: ["d@2"], secrets: ["K", "F:file"],
    });
    expect(validateLaunch({ ...f, image: "@default", gpus: 0, datasets: [], secrets: [] }, gpuApp).body).toEqual({
      app: "jupyter", cpus: 1, mem_mb: 2048, time_limit_s: 3600,
    });
    expect(validateLaunch({ ...f, gpus: 1 }, app).errors.gpus).toMatch(/At most 0 GPUs/);
    expect(validateLaunch({ ...f, secrets: ["K", "K:file"] }, gpuApp).errors.secrets).toMatch(/twice/);
  });
  it("rejects what is not a number", () => {
    const r = validateLaunch({ cpus: "1.5", memGb: "", hours: "x", ref: "" }, app);
    expect(Object.keys(r.errors).sort()).toEqual(["cpus", "hours", "memGb"]);
  });
});

describe("reasonWords", () => {
  it("says the scheduler's codes in words and keeps the detail", () => {
    expect(reasonWords("Resources: needs 2 CPUs")).toBe("waiting for free CPUs or memory (needs 2 CPUs)");
    expect(reasonWords("Priority")).toMatch(/ahead in the queue/);
    expect(reasonWords("waiting for the scheduler")).toBe("waiting for the scheduler");
    expect(reasonWords("")).toBe("");
  });
});

describe("mergeLive", () => {
  it("replaces listed ones and puts new ones first", () => {
    const live = new Map([
      ["env_2", env("env_2", "STOPPED")],
      ["env_9", env("env_9", "QUEUED")],
      ["env_8", env("env_8", "STARTING")],
    ]);
    const out = mergeLive([env("env_1"), env("env_2")], live);
    expect(out.map((e) => `${e.id}:${e.state}`)).toEqual(["env_9:QUEUED", "env_8:STARTING", "env_1:READY", "env_2:STOPPED"]);
    expect(mergeLive([], live, (e) => e.state === "QUEUED").map((e) => e.id)).toEqual(["env_9"]);
  });
});

describe("durations", () => {
  it("reads like a person would say it", () => {
    expect(duration(40_000)).toBe("40 s");
    expect(duration(12 * 60_000)).toBe("12 min");
    expect(duration((3 * 60 + 5) * 60_000)).toBe("3 h 05 min");
    expect(duration(-5)).toBe("0 s");
    const now = Date.parse("2026-01-01T01:00:00Z");
    expect(uptime(env("e", "READY", { ready_at: "2026-01-01T00:30:00Z" }), now)).toBe("30 min");
    expect(idle(env("e"), now)).toBe("1 h 00 min");
    expect(idle(env("e", "QUEUED"), now)).toBe("—");
  });
});
