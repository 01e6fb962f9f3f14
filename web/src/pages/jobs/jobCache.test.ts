import { QueryClient } from "@tanstack/query-core";
import { describe, expect, it } from "vitest";
import { jobKeys, type Job } from "../../api/jobs";
import { applyJobEvent, mergeJob } from "./jobCache";
import { backoff, eventsUrl } from "./eventSource";

const job = (id: string, state: string, project = "prj_A"): Job => ({ id, state, project_id: project }) as unknown as Job;

function pages(...items: Job[][]) {
  return { pages: items.map((it, i) => ({ items: it, next: i + 1 < items.length ? "x" : null })), pageParams: [""] };
}

describe("applyJobEvent", () => {
  it("replaces the job in its entry and in every list holding it", () => {
    const qc = new QueryClient();
    qc.setQueryData(jobKeys.one("j1"), { ...job("j1", "PENDING"), events: [{ seq: 1 }] });
    qc.setQueryData(jobKeys.list("prj_A", ""), pages([job("j0", "RUNNING"), job("j1", "PENDING")], [job("j2", "FAILED")]));
    qc.setQueryData(["jobs", "mine", "active", 20], pages([job("j1", "PENDING")]));
    applyJobEvent(qc, job("j1", "RUNNING"));
    expect(qc.getQueryData<Job>(jobKeys.one("j1"))).toMatchObject({ state: "RUNNING", events: [{ seq: 1 }] });
    const list = qc.getQueryData<ReturnType<typeof pages>>(jobKeys.list("prj_A", ""))!;
    expect(list.pages[0].items.map((j) => j.state)).toEqual(["RUNNING", "RUNNING"]);
    expect(list.pages[1].items[0].state).toBe("FAILED");
    const home = qc.getQueryData<ReturnType<typeof pages>>(["jobs", "mine", "active", 20])!;
    expect(home.pages[0].items[0].state).toBe("RUNNING");
  });

  it("refetches the lists a new job belongs to, not another project's", () => {
    const qc = new QueryClient();
    qc.setQueryData(jobKeys.list("prj_A", ""), pages([job("j0", "RUNNING")]));
    qc.setQueryData(jobKeys.list("prj_B", ""), pages([job("k0", "RUNNING", "prj_B")]));
    qc.setQueryData(jobKeys.list("mine", ""), pages([]));
    applyJobEvent(qc, job("j9", "PENDING"));
    const stale = (k: readonly unknown[]) => qc.getQueryCache().find({ queryKey: k, exact: true })!.state.isInvalidated;
    expect(stale(jobKeys.list("prj_A", ""))).toBe(true);
    expect(stale(jobKeys.list("mine", ""))).toBe(true);
    expect(stale(jobKeys.list("prj_B", ""))).toBe(false);
  });
});

describe("the event stream's URL and retries", () => {
  it("carries the project and the resume point", () => {
    expect(eventsUrl(undefined, null)).toBe("/api/v1/jobs/events");
    expect(eventsUrl("prj_A", "42")).toBe("/api/v1/jobs/events?project=prj_A&after=42");
  });
  it("backs off up to 30 s", () => {
    expect([1, 2, 3, 10].map(backoff)).toEqual([1000, 2000, 4000, 30000]);
  });
});

describe("mergeJob", () => {
  it("never lets an older answer replace a newer event", () => {
    const ended = { id: "job_1", state: "CANCELLED", etag: '"v12"', events: [{ to: "CANCELLED" }] } as unknown as Job;
    const cancelAnswer = { id: "job_1", state: "RUNNING", etag: '"v11"' } as unknown as Job;
    expect(mergeJob(ended, cancelAnswer)).toBe(ended);
    const newer = { id: "job_1", state: "COMPLETED", etag: '"v13"' } as unknown as Job;
    expect(mergeJob(ended, newer)).toMatchObject({ state: "COMPLETED", events: [{ to: "CANCELLED" }] });
    expect(mergeJob(undefined, cancelAnswer)).toBe(cancelAnswer);
  });
});
