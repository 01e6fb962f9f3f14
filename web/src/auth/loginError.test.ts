import { describe, expect, it } from "vitest";
import { ApiError } from "../api/problem";
import { loginErrorText, waitText } from "./loginError";

const problem = (status: number, type: string, extra: Record<string, unknown> = {}) =>
  new ApiError(status, { type: `urn:atrium:problem:${type}`, status, detail: `detail of ${type}`, ...extra });

describe("waitText", () => {
  it("says seconds under a minute, whole minutes above", () => {
    expect(waitText(1)).toBe("try again in 1 second");
    expect(waitText(40)).toBe("try again in 40 seconds");
    expect(waitText(60)).toBe("try again in 1 minute");
    expect(waitText(61)).toBe("try again in 2 minutes");
    expect(waitText(3600)).toBe("try again in 60 minutes");
    expect(waitText(0)).toBe("try again shortly");
    expect(waitText(Number.NaN)).toBe("try again shortly");
  });
});

describe("loginErrorText", () => {
  it("words a refused password without confirming the account", () => {
    expect(loginErrorText(problem(401, "invalid-credentials"))).toMatch(/^Wrong username or password\./);
  });
  it("gives the wait of a rate limit or lockout in minutes", () => {
    expect(loginErrorText(problem(429, "rate-limited", { retry_after_s: 150 }))).toBe(
      "Too many sign-in attempts from your address: try again in 3 minutes.",
    );
    expect(loginErrorText(problem(403, "locked", { retry_after_s: 30 }))).toContain("try again in 30 seconds");
    expect(loginErrorText(problem(429, "rate-limited"))).toContain("try again shortly");
  });
  it("keeps the API's words for anything else, and names a lost connection", () => {
    expect(loginErrorText(problem(400, "invalid-argument"))).toBe("detail of invalid-argument");
    expect(loginErrorText(new TypeError("Failed to fetch"))).toMatch(/cannot be reached/);
  });
});
