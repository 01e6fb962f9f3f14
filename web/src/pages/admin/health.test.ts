import { describe, expect, it } from "vitest";
import type { HealthFigure } from "../../api/health";
import { display, groupsOf, HOUR_MS, mergeSamples, scaleOf, tableOf } from "./health";

const F = (name: string, unit: string, help = ""): HealthFigure => ({ name, unit, help });

describe("mergeSamples", () => {
  it("appends what is newer and keeps one hour", () => {
    const now = 10 * HOUR_MS;
    const kept = [{ t: now - HOUR_MS - 1, values: {} }, { t: now - 10, values: { a: 1 } }];
    const next = [{ t: now - 10, values: { a: 9 } }, { t: now, values: { a: 2 } }];
    expect(mergeSamples(kept, next, now)).toEqual([{ t: now - 10, values: { a: 1 } }, { t: now, values: { a: 2 } }]);
  });
});

describe("groupsOf", () => {
  it("orders the built-ins, groups the percentiles and gives every other gauge a chart", () => {
    const figures = [
      F("latency_p99_s", "s"),
      F("requests_per_s", "1/s"),
      F("latency_p50_s", "s"),
      F("jobs_pending", "count", "Jobs pending"),
      F("rss_bytes", "bytes"),
    ];
    const groups = groupsOf(figures, [{ t: 1, values: { rss_bytes: 3 * 2 ** 30 } }]);
    expect(groups.map((g) => g.id)).toEqual(["requests", "latency", "memory", "jobs_pending"]);
    expect(groups[1].figures.map((f) => f.name)).toEqual(["latency_p50_s", "latency_p99_s"]);
    expect(groups[2].scale.label).toBe("GiB");
    expect(groups[3].title).toBe("Jobs pending");
  });
});

describe("display and tables", () => {
  it("shows values in display units", () => {
    expect(display(0.0123, scaleOf("s", 0))).toBe("12.3 ms");
    expect(display(0.25, scaleOf("ratio", 0))).toBe("25.0 %");
    expect(display(undefined, scaleOf("s", 0))).toBe("—");
    expect(display(5 * 2 ** 20, scaleOf("bytes", 5 * 2 ** 20))).toBe("5.0 MiB");
    expect(display(3, scaleOf("count", 0))).toBe("3");
  });
  it("lists the samples newest first, with gaps as empty cells", () => {
    const [g] = groupsOf([F("latency_p50_s", "s")], []);
    const t = tableOf(g, [{ t: 0, values: { latency_p50_s: 0.002 } }, { t: 1000, values: {} }]);
    expect(t.header).toEqual(["time (UTC)", "p50 (ms)"]);
    expect(t.rows).toEqual([["1970-01-01T00:00:01.000Z", null], ["1970-01-01T00:00:00.000Z", 2]]);
  });
});
