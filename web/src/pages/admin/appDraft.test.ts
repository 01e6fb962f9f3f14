import { describe, expect, it } from "vitest";
import type { CatalogApp } from "../../api/adminCompute";
import { bodyOf, checkDraft, draftOf, formFieldOf, newWebApp } from "./appDraft";

const jupyter: CatalogApp = {
  name: "jupyter",
  kind: "jupyter",
  title: "Jupyter",
  defaults: { cpus: 1, mem_mb: 2048, time_limit_s: 28800 },
  max: { cpus: 8, mem_mb: 32768, time_limit_s: 604800 },
  max_gpus: 0,
  idle_timeout_s: 3600,
  max_uptime_s: 86400,
  spawn_timeout_s: 120,
  network: "none",
  rootfs: "",
  image: "",
  enabled: true,
  orgs: null,
  per_org: { org_a: { idle_timeout_s: 600 } },
  builtin: true,
  health_path: "api/status",
  etag: '"0"',
};

describe("app drafts", () => {
  it("round-trips a built-in in the units people type, without web fields", () => {
    const d = draftOf(jupyter);
    expect(d.def_time_h).toBe(8);
    expect(d.idle_min).toBe(60);
    expect(d.per_org).toEqual([{ org: "org_a", idle_min: 10, uptime_h: "" }]);
    const b = bodyOf(d);
    expect(b.defaults).toEqual(jupyter.defaults);
    expect(b.max).toEqual(jupyter.max);
    expect(b.idle_timeout_s).toBe(3600);
    expect(b.max_uptime_s).toBe(86400);
    expect(b.orgs).toBeNull();
    expect(b.per_org).toEqual({ org_a: { idle_timeout_s: 600 } });
    expect(b.command).toBeUndefined();
    expect(b.kind).toBeUndefined();
  });

  it("makes a web app's argv and org list", () => {
    const d = { ...newWebApp(), name: "web", command: "/bin/app\n --port \n\n8000", all_orgs: false, orgs: ["org_b"], listen: "port" as const, port: 9000 };
    const b = bodyOf(d);
    expect(b.command).toEqual(["/bin/app", "--port", "8000"]);
    expect(b.orgs).toEqual(["org_b"]);
    expect(b.port).toBe(9000);
    expect(b.kind).toBe("web");
  });

  it("checks what the server would refuse", () => {
    expect(checkDraft({ ...newWebApp(), name: "Bad Name" }, true)).toMatchObject({ name: expect.any(String), command: expect.any(String) });
    expect(checkDraft({ ...newWebApp(), name: "ok", command: "x", all_orgs: false }, true)).toEqual({ orgs: expect.any(String) });
    expect(formFieldOf("idle_timeout_s")).toBe("idle_min");
    expect(formFieldOf("command")).toBe("command");
  });
});
