import { describe, expect, it } from "vitest";
import { DEFAULT_IMAGE, imageField, type Image } from "../api/images";
import { checkSecrets, imageOptions, secretOptions } from "./RunPickers";

const D = `sha256:${"0".repeat(64)}`;
const im = (name: string, extra: Partial<Image> = {}) => ({ name, state: "ready", digest: D, ...extra }) as Image;

describe("image picker", () => {
  it("offers the default first, the other ready images, then the host system", () => {
    const opts = imageOptions([im("a"), im("b", { default: true }), im("p", { state: "pending", digest: null })]);
    expect(opts.map((o) => o.value)).toEqual([DEFAULT_IMAGE, `a@${D}`, "none"]);
    expect(opts[0].label).toBe("b (sha256:000000000000), the project's default");
  });
  it("without a default, the host system is what a job runs on", () => {
    expect(imageOptions([im("a")]).map((o) => o.label)).toEqual(["Host system (the project has no default image)", "a (sha256:000000000000)"]);
  });
  it("an app's own image comes before the project's default", () => {
    const opts = imageOptions([im("b", { default: true })], "jupyter-img");
    expect(opts.map((o) => o.label)).toEqual(["jupyter-img, the app's image", "b (sha256:000000000000)", "Host system"]);
  });
  it("leaves the default out of the request", () => {
    expect(imageField(DEFAULT_IMAGE)).toBeUndefined();
    expect(imageField("none")).toBe("none");
  });
});

describe("secrets picker", () => {
  it("offers each name once as a variable and once as a file", () => {
    expect(secretOptions(["B", "A", "B"]).map((o) => o.value)).toEqual(["A", "A:file", "B", "B:file"]);
    expect(checkSecrets(["A", "A:file"])).toMatch(/twice/);
    expect(checkSecrets(["A", "B:file"])).toBeUndefined();
  });
});
