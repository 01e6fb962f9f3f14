import { describe, expect, it } from "vitest";
import { loginPath, safeNext } from "./next";

describe("safeNext", () => {
  it("keeps paths of this origin", () => {
    for (const p of ["/", "/org/proj/tree/main", "/env/abc/lab?reset", "/jobs/1#logs"]) expect(safeNext(p)).toBe(p);
  });
  it("refuses other hosts, URLs and control characters", () => {
    for (const p of [null, "", "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                     "/ok\nSet-Cookie", "evil"])
      expect(safeNext(p)).toBe("/");
  });
});

describe("loginPath", () => {
  it("carries where the user was going", () => {
    expect(loginPath("/")).toBe("/login");
    expect(loginPath("/env/e1/?a=b")).toBe("/login?next=%2Fenv%2Fe1%2F%3Fa%3Db");
  });
});
