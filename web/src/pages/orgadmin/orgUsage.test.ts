import { describe, expect, it } from "vitest";
import type { FairShareAnswer, OrgUsageAnswer } from "../../api/orgUsage";
import { bytes, chartOf, fairShareLines, totalsByKey } from "./orgUsage";

const answer = (n: number): OrgUsageAnswer => ({
  org_id: "o",
  from: "2026-12-01T00:00:00Z",
  to: "2026-12-03T00:00:00Z",
  by: "user",
  bucket: "day",
  buckets: ["2026-12-01", "2026-12-02"],
  items: Array.from({ length: n }, (_, i) => ({
    bucket: i % 2 ? "2026-12-02" : "2026-12-01",
    key: `u${i}`,
    cpu_hours: i + 1,
    gpu_hours: 0,
    cpu_hours_used: 0,
  })),
  keys: Array.from({ length: n }, (_, i) => ({ id: `u${i}`, slug: `user${i}`, name: `User ${i}` })),
  totals: { cpu_hours: 0, gpu_hours: 0, cpu_hours_used: 0 },
  storage: { items: [], total_bytes: 0 },
});

describe("chartOf", () => {
  it("keeps the largest keys and sums the rest as Others, bucket by bucket", () => {
    const { days, series } = chartOf(answer(10), "cpu_hours", 4);
    expect(days).toEqual(["2026-12-01", "2026-12-02"]);
    expect(series.map((s) => s.label)).toEqual(["User 9 (user9)", "User 8 (user8)", "User 7 (user7)", "Others"]);
    // Others: u0..u6, hours 1..7; even indexes on day 1 (1+3+5+7), odd on day 2 (2+4+6).
    expect(series[3].values).toEqual([16, 12]);
    const sum = series.reduce((a, s) => a + s.values[0] + s.values[1], 0);
    expect(sum).toBe(55);
  });
  it("shows every key when they fit and leaves keys without the measure out", () => {
    const { series } = chartOf(answer(3), "gpu_hours");
    expect(series).toEqual([]);
    expect(chartOf(answer(3), "cpu_hours").series.map((s) => s.id)).toEqual(["u2", "u1", "u0"]);
  });
});

describe("totalsByKey", () => {
  it("labels a job outside any group and a deleted key", () => {
    const a = answer(0);
    a.by = "group";
    a.items = [
      { bucket: "2026-12-01", key: "", cpu_hours: 1, gpu_hours: 0, cpu_hours_used: 0 },
      { bucket: "2026-12-01", key: "g9", cpu_hours: 2, gpu_hours: 0, cpu_hours_used: 0 },
    ];
    a.keys = [{ id: "", slug: null, name: null }, { id: "g9", slug: null, name: null }];
    expect(totalsByKey(a, "cpu_hours").map((t) => t.label)).toEqual(["g9 (deleted)", "(no group)"]);
  });
});

describe("fairShareLines", () => {
  it("lists the org, then each group followed by its users", () => {
    const n = { shares: 1, norm_shares: 1, raw_usage: 0, norm_usage: 0, effective_usage: 0, factor: 1 };
    const f: FairShareAnswer = {
      org_id: "o",
      as_of: "",
      half_life_hours: 168,
      usage_unit: "billing-seconds",
      accounts: [
        { ...n, kind: "org", id: "o", slug: "o", name: "Org" },
        { ...n, kind: "group", id: "", slug: null, name: null },
        { ...n, kind: "group", id: "g", slug: "g", name: "G" },
      ],
      users: [
        { ...n, group_id: "g", user_id: "2", username: "zed", name: "" },
        { ...n, group_id: "g", user_id: "1", username: "amy", name: "" },
        { ...n, group_id: "", user_id: "3", username: "bob", name: "" },
      ],
    };
    expect(fairShareLines(f).map((l) => [l.level, l.account, l.user])).toEqual([
      [0, "Org", ""],
      [1, "(no group)", ""],
      [2, "(no group)", "bob"],
      [1, "G", ""],
      [2, "G", "amy"],
      [2, "G", "zed"],
    ]);
  });
});

describe("bytes", () => {
  it("uses binary units", () => {
    expect(bytes(700)).toBe("700 B");
    expect(bytes(5700)).toBe("5.57 KiB");
    expect(bytes(3 * 1024 ** 3)).toBe("3.00 GiB");
  });
});
