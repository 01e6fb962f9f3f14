import { describe, expect, it } from "vitest";
import { splitError } from "./fields";
import { ApiError } from "./problem";

const err = (field?: string) => new ApiError(400, { detail: "too short", ...(field ? { field } : {}) });

describe("splitError", () => {
  it("puts a problem naming a form field next to it", () => {
    expect(splitError(err("password"), ["username", "password"])).toEqual({
      fields: { password: "too short" },
      general: null,
    });
  });
  it("maps the API's field names to the form's", () => {
    expect(splitError(err("new_password"), ["password"], { new_password: "password" }).fields).toEqual({
      password: "too short",
    });
  });
  it("keeps anything else for above the form", () => {
    const e = err("token");
    expect(splitError(e, ["username"])).toEqual({ fields: {}, general: e });
    const plain = new Error("offline");
    expect(splitError(plain, ["username"]).general).toBe(plain);
    expect(splitError(null, ["username"])).toEqual({ fields: {}, general: null });
  });
});
