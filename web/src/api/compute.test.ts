import { describe, expect, it } from "vitest";
import { offersChoice, partitionField, partitionOptions, slurmJobId, type Partition, type SlurmInfo } from "./compute";

const local: Partition = { name: "local", kind: "local", cluster: null, slurm_partition: null, limits: null, default: true };
const gpu: Partition = {
  name: "gpu",
  kind: "slurm",
  cluster: "lab",
  slurm_partition: "gpu_p",
  limits: { max_cpus: 8, max_mem_mb: 65536, max_gpus: 4, max_time_s: 86400 },
  default: false,
};

describe("partitions", () => {
  it("offers a choice only beyond this server", () => {
    expect(offersChoice(undefined)).toBe(false);
    expect(offersChoice([local])).toBe(false);
    expect(offersChoice([local, gpu])).toBe(true);
  });
  it("labels partitions with where they run and their limits", () => {
    expect(partitionOptions([local, gpu])).toEqual([
      { value: "@default", label: "Default: local" },
      { value: "local", label: "local (this server)" },
      { value: "gpu", label: "gpu (SLURM lab/gpu_p; up to 8 CPUs, 64 GB, 4 GPUs, 24 h)" },
    ]);
  });
  it("writes time limits in the unit that reads best", () => {
    const short = { ...gpu, limits: { max_cpus: 1, max_mem_mb: 2048, max_gpus: 0, max_time_s: 300 } };
    const long = { ...gpu, limits: { max_cpus: 0, max_mem_mb: 0, max_gpus: 0, max_time_s: 30 * 86400 } };
    expect(partitionOptions([short, long]).map((o) => o.label)).toEqual([
      "Default",
      "gpu (SLURM lab/gpu_p; up to 1 CPUs, 2 GB, 5 min)",
      "gpu (SLURM lab/gpu_p; up to 30 days)",
    ]);
  });
  it("names a partition only when one was picked", () => {
    expect(partitionField("@default")).toBeUndefined();
    expect(partitionField(undefined)).toBeUndefined();
    expect(partitionField("gpu")).toBe("gpu");
  });
  it("writes SLURM's job id as SLURM does", () => {
    const s: SlurmInfo = {
      cluster: "lab",
      job_id: 1234,
      array_job_id: null,
      array_task_id: null,
      nodes: "",
      state: "PENDING",
      reason: "",
      unknown_since: null,
      handed_over: true,
    };
    expect(slurmJobId(s)).toBe("1234");
    expect(slurmJobId({ ...s, array_job_id: 1230, array_task_id: 4 })).toBe("1230_4");
    expect(slurmJobId({ ...s, job_id: null, handed_over: false })).toBe("");
  });
});
