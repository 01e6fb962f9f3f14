import { describe, expect, it } from "vitest";
import { toCsv } from "./csv";

describe("toCsv", () => {
  it("quotes what needs it and leaves numbers alone", () => {
    expect(toCsv(["a", "b"], [[1.5, 'say "hi", then go'], ["x\ny", null]])).toBe(
      'a,b\r\n1.5,"say ""hi"", then go"\r\n"x\ny",\r\n',
    );
  });
  it("defuses spreadsheet formulas and drops non-finite numbers", () => {
    expect(toCsv(["v"], [["=1+1"], ["-2"], [NaN], [-2]])).toBe("v\r\n'=1+1\r\n'-2\r\n\r\n-2\r\n");
  });
});
