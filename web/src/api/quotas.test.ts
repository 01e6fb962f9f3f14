import { describe, expect, it } from "vitest";
import { auditQuery, toRfc3339 } from "./audit";
import { bytesToGib, formatAmount, formatBytes, gibToBytes, percentUsed } from "./quotas";

describe("quota figures", () => {
  it("shows how full a quota is, over 100 when use passed a lowered limit", () => {
    expect(percentUsed(5, null)).toBeNull();
    expect(percentUsed(5, 10)).toBe(50);
    expect(percentUsed(15, 10)).toBe(150);
    expect(percentUsed(0.001, 0)).toBe(Infinity);
    expect(percentUsed(0, 0)).toBe(100);
  });
  it("edits storage in GiB and stores bytes", () => {
    expect(gibToBytes(1.5)).toBe(1610612736);
    expect(bytesToGib(1610612736)).toBe(1.5);
    expect(gibToBytes(null)).toBeNull();
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(20 * 1024 ** 3)).toBe("20 GiB");
  });
  it("keeps tiny CPU-hours visible", () => {
    expect(formatAmount("cpu_hours", 2.256)).toBe("2.26");
    expect(formatAmount("cpu_hours", 0.000031)).toBe("0.000031");
    expect(formatAmount("cpu_hours", 0)).toBe("0");
  });
});

describe("audit filters", () => {
  it("sends the org and only the filters that are set, times in UTC", () => {
    expect(auditQuery("org_1", { actor: " ann ", action: "", target: "", since: "", until: "" })).toEqual({
      org: "org_1",
      order: "desc",
      actor: "ann",
    });
    const t = toRfc3339("2026-12-07T13:05");
    expect(t).toMatch(/^2026-12-0[67]T\d\d:05:00Z$/);
    expect(toRfc3339("not a time")).toBe("");
  });
});
