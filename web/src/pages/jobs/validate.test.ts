import { describe, expect, it } from "vitest";
import { EMPTY_FORM, checkArray, checkDependency, fieldOf, splitCommand, toBody, validate, type JobForm } from "./validate";

const base: JobForm = { ...EMPTY_FORM, command: "echo hi", script: "", cpus: "", mem_mb: "", gpus: "", time_limit_s: "" };

describe("array specs (sbatch --array)", () => {
  it.each(["0-99%10", "1,3,5-7", "0-15:4", "7", "0-1000", "1,1,1"])("accepts %s", (s) => {
    expect(checkArray(s)).toBeUndefined();
  });
  it.each([
    ["", undefined],
    ["%5", "names no indices"],
    ["1-", 'item 1 "1-": expected N, N-M or N-M:S'],
    ["5-3", 'item 1 "5-3": range start 5 is greater than its end 3'],
    ["0-10:0", 'item 1 "0-10:0": the step must be at least 1'],
    ["3:2", `item 1 "3:2": a step (':') needs a range (N-M:S)`],
    ["1,2,", "ends with ','"],
    ["1001", 'item 1 "1001": index exceeds the maximum 1000'],
    ["0-9%0", "'%0': at least one task must be allowed to run"],
    ["0-9%x", "'%' must be followed by the number of tasks that may run at once"],
    ["a", 'item 1 "a": expected N, N-M or N-M:S'],
  ])("%j -> %s", (s, why) => {
    expect(checkArray(s)).toBe(why);
  });
});

describe("dependencies (sbatch --dependency)", () => {
  it.each(["afterok:job_1", "afterok:a:b,afterany:c", "singleton", "afternotok:x?afterok:y", "after:job_01ABC_3"])(
    "accepts %s",
    (s) => expect(checkDependency(s)).toBeUndefined(),
  );
  it.each([
    ["afterok", '"afterok" names no job'],
    ["afterok:", '"afterok" has an empty job id'],
    ["before:x", 'unknown type "before" (after, afterany, afterok, afternotok, singleton)'],
    ["afterok:a,afterok:b?afterok:c", "mixes ',' (all of) and '?' (any of)"],
    ["afterok:a,", "has an empty item"],
    ["afterok:a+5", "'+time' delays are not supported"],
    ["afterok:a b", 'job id "a b" has an invalid character'],
    ["afterok:" + "x".repeat(65), "job id longer than 64 characters"],
  ])("%s -> %s", (s, why) => expect(checkDependency(s)).toBe(why));
});

describe("the form", () => {
  it("splits a command like a shell", () => {
    expect(splitCommand(`sh -c 'echo "a b"; sleep 1'`)).toEqual(["sh", "-c", 'echo "a b"; sleep 1']);
    expect(splitCommand(`a "b\\"c" d\\ e ''`)).toEqual(["a", 'b"c', "d e", ""]);
    expect(splitCommand("echo 'oops")).toBe("an unclosed ' quote");
  });
  it("names each wrong field", () => {
    const e = validate({
      ...base,
      command: "",
      cpus: "0",
      mem_mb: "1.5",
      gpus: "65",
      time_limit_s: "99999999",
      array: "5-3",
      dependency: "afterok",
      datasets: ["a", "a@2"],
      outputs_dataset: "Bad Name",
      outputs_paths: "../x",
    });
    expect(e).toEqual({
      command: "command must name a program",
      cpus: "CPUs must be between 1 and 4096",
      mem_mb: "memory (MB) must be a whole number",
      gpus: "GPUs must be between 0 and 64",
      time_limit_s: "the time limit (seconds) must be between 1 and 31536000",
      array: 'array item 1 "5-3": range start 5 is greater than its end 3',
      dependency: 'dependency "afterok" names no job',
      datasets: "a dataset is named twice",
      outputs_dataset: "the output dataset must be a name (a-z 0-9 - _ .)",
      outputs_paths: "'../x' must be a relative glob within the workspace",
    });
  });
  it("needs a script in script mode", () => {
    expect(validate({ ...base, mode: "script", script: "  " })).toEqual({ script: "script must be non-empty text" });
  });
  it("builds the body with the server's defaults left out", () => {
    expect(validate(base)).toEqual({});
    expect(toBody(base)).toEqual({ command: ["echo", "hi"] });
    const full = toBody({
      ...base,
      name: " n ",
      cpus: "2",
      array: "0-3",
      datasets: ["in@1"],
      outputs_dataset: "out",
      outputs_paths: "a/*.txt\n\nb.csv",
      ref: "main",
    });
    expect(full).toEqual({
      name: "n",
      command: ["echo", "hi"],
      cpus: 2,
      array: "0-3",
      datasets: ["in@1"],
      outputs: { dataset: "out", paths: ["a/*.txt", "b.csv"] },
      ref: "main",
    });
  });
  it("names the image and secrets only when chosen", () => {
    expect(toBody({ ...base, image: "none", secrets: ["K:file"] })).toEqual({ command: ["echo", "hi"], image: "none", secrets: ["K:file"] });
    expect(toBody({ ...base, image: "@default" })).toEqual({ command: ["echo", "hi"] });
    expect(validate({ ...base, secrets: ["K", "K:file"] }).secrets).toMatch(/twice/);
    expect(fieldOf("image")).toBe("image");
  });
  it("maps a problem's field to the form's", () => {
    expect(fieldOf("outputs")).toBe("outputs_paths");
    expect(fieldOf("ref")).toBe("ref");
    expect(fieldOf(undefined)).toBe("form");
  });
});
