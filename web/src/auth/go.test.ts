import { describe, expect, it } from "vitest";
import { needsFullLoad } from "./go";

describe("needsFullLoad", () => {
  it("is true for environments behind the proxy only", () => {
    expect(needsFullLoad("/env/e1/lab")).toBe(true);
    expect(needsFullLoad("/env")).toBe(true);
    expect(needsFullLoad("/envs")).toBe(false);
    expect(needsFullLoad("/environment/x")).toBe(false);
    expect(needsFullLoad("/")).toBe(false);
  });
});
