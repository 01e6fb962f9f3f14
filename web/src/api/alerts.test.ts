import { describe, expect, it } from "vitest";
import { condition, parseEmails } from "./alerts";

describe("alert helpers", () => {
  it("words a rule's condition, with its hold time when it has one", () => {
    expect(condition({ figure: "disk_free_ratio", op: "<", threshold: 0.1, for_s: 60 })).toBe("disk_free_ratio < 0.1 for 60 s");
    expect(condition({ figure: "latency_p99_s", op: ">", threshold: 1, for_s: 0 })).toBe("latency_p99_s > 1");
  });
  it("splits addresses on commas, semicolons and spaces", () => {
    expect(parseEmails(" ops@example.org, oncall@example.org;x@y.z  ")).toEqual(["ops@example.org", "oncall@example.org", "x@y.z"]);
    expect(parseEmails("")).toEqual([]);
  });
});
