import { describe, expect, it } from "vitest";
import { deviceName, when } from "./device";

describe("deviceName", () => {
  it("names browser and system", () => {
    expect(
      deviceName("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"),
    ).toBe("Chrome on Linux");
    expect(deviceName("Mozilla/5.0 (Windows NT 10.0; rv:140.0) Gecko/20100101 Firefox/140.0")).toBe(
      "Firefox on Windows",
    );
    expect(deviceName("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Safari/604.1")).toBe(
      "Safari on iOS",
    );
  });
  it("falls back to what it can tell", () => {
    expect(deviceName("curl/8.5.0")).toBe("curl");
    expect(deviceName("")).toBe("Unknown device");
    expect(deviceName("something-else/1")).toBe("something-else/1");
  });
});

describe("when", () => {
  it("says never for no time and keeps what it cannot read", () => {
    expect(when(null)).toBe("never");
    expect(when("soon")).toBe("soon");
  });
});
