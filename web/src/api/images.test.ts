import { describe, expect, it } from "vitest";
import { buildJobOf, shortDigest, softwareWords, type Image } from "./images";
import { checkSecretName } from "./secrets";

describe("images", () => {
  it("shortens a digest as docker shows it", () => {
    expect(shortDigest(`sha256:${"ab".repeat(32)}`)).toBe("sha256:abababababab");
    expect(shortDigest(null)).toBe("");
  });
  it("says what software an image holds", () => {
    expect(softwareWords({ os: { PRETTY_NAME: "Atrium test image" }, python: "3.11.2" })).toBe("Atrium test image · Python 3.11.2");
    expect(softwareWords({ os: { ID: "debian" } })).toBe("debian");
    expect(softwareWords({})).toBe("");
  });
  it("finds a build's job", () => {
    const im = { job_id: null, build: { job_id: "j1" } } as unknown as Image;
    expect(buildJobOf(im)).toBe("j1");
    expect(buildJobOf({} as Image)).toBeNull();
  });
});

describe("secret names", () => {
  it("takes environment variable names, not the system's", () => {
    expect(checkSecretName("HF_TOKEN")).toBeUndefined();
    expect(checkSecretName("hf")).toBeDefined();
    expect(checkSecretName("1A")).toBeDefined();
    expect(checkSecretName("PATH")).toBeDefined();
    expect(checkSecretName("LD_PRELOAD")).toBeDefined();
    expect(checkSecretName("ATRIUM_X")).toBeDefined();
  });
});
