import { describe, expect, it } from "vitest";
import { ssoErrorText } from "./ssoError";

describe("ssoErrorText", () => {
  it("explains the callback's codes, and anything else generically", () => {
    expect(ssoErrorText(null)).toBeNull();
    expect(ssoErrorText("access_denied")).toContain("cancelled");
    expect(ssoErrorText("no_account")).toContain("Ask an administrator");
    expect(ssoErrorText("<script>")).toBe("Signing in through your identity provider failed. Please try again.");
  });
});
