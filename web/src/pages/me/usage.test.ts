import { describe, expect, it } from "vitest";
import type { UsageAnswer } from "../../api/me";
import { daysOf, hours, lastDays, seriesOf, totalsOf } from "./usage";

const answer: UsageAnswer = {
  from: "2026-12-01T00:00:00.000Z",
  to: "2026-12-04T00:00:00.000Z",
  bucket: "day",
  items: [
    { day: "2026-12-01", project_id: "p1", cpu_hours: 2, gpu_hours: 0, cpu_hours_used: 1 },
    { day: "2026-12-03", project_id: "p1", cpu_hours: 1, gpu_hours: 1, cpu_hours_used: 1 },
    { day: "2026-12-03", project_id: "p2", cpu_hours: 5, gpu_hours: 0, cpu_hours_used: 1 },
  ],
  projects: [
    { id: "p1", org_id: "o", slug: "climate", name: "Climate" },
    { id: "p2", org_id: null, slug: null, name: null },
  ],
  totals: { cpu_hours: 8, gpu_hours: 1 },
};

describe("usage", () => {
  it("lists every day of the window", () => {
    expect(daysOf(answer)).toEqual(["2026-12-01", "2026-12-02", "2026-12-03"]);
  });
  it("makes one series per project with zeros on idle days", () => {
    const { series } = seriesOf(answer, "cpu_hours");
    expect(series).toEqual([
      { id: "p1", label: "Climate (climate)", values: [2, 0, 1] },
      { id: "p2", label: "p2 (no longer visible)", values: [0, 0, 5] },
    ]);
    expect(seriesOf(answer, "gpu_hours").series[0].values).toEqual([0, 0, 1]);
  });
  it("totals per project, most used first", () => {
    expect(totalsOf(answer).map((r) => [r.id, r.cpu_hours, r.gpu_hours])).toEqual([
      ["p2", 5, 0],
      ["p1", 3, 1],
    ]);
  });
  it("asks for the last n days, today included", () => {
    expect(lastDays(7, new Date("2026-12-07T13:00:00Z"))).toEqual({ from: "2026-12-01", to: "2026-12-07" });
  });
  it("formats hours", () => {
    expect([hours(0), hours(0.0012), hours(1.254), hours(130.04)]).toEqual(["0", "0.0012", "1.25", "130.0"]);
  });
});
