// What a job event does to the TanStack Query cache: the job's own entry is replaced, every
// cached list (a page of items under the "jobs" key) gets the new version where it holds the job,
// and lists that do not hold it are refetched when the job is new to them (a submit elsewhere).
import type { InfiniteData, QueryClient } from "@tanstack/query-core";
import type { ListPage } from "../../api/client";
import { etagVersion } from "../../api/conventions";
import { jobKeys, type Job } from "../../api/jobs";

type Pages = InfiniteData<ListPage<Job>>;

function isPages(d: unknown): d is Pages {
  return !!d && typeof d === "object" && Array.isArray((d as Pages).pages);
}

// Lists of one project carry its id in their key; lists of "mine" carry no project id.
function listScope(key: readonly unknown[]): string | null {
  const s = key.find((k) => typeof k === "string" && k.startsWith("prj_"));
  return typeof s === "string" ? s : null;
}

// Answers can arrive out of order (an action's answer after the event of what followed it), so
// an older version of a job (its ETag's) never replaces a newer one.
export function mergeJob(old: Job | undefined, next: Job): Job {
  if (!old) return next;
  if (etagVersion(next.etag) < etagVersion(old.etag)) return old;
  // Keep the detail fields a list item lacks when the newer one has none.
  return { ...old, ...next };
}

export function applyJobEvent(qc: QueryClient, job: Job): void {
  qc.setQueryData<Job>(jobKeys.one(job.id), (old) => mergeJob(old, job));
  for (const q of qc.getQueryCache().findAll({ queryKey: jobKeys.all })) {
    const data = q.state.data;
    if (!isPages(data)) continue;
    let found = false;
    const pages = data.pages.map((p) => ({
      ...p,
      items: p.items.map((it) => {
        if (it.id !== job.id) return it;
        found = true;
        return mergeJob(it, job);
      }),
    }));
    if (found) qc.setQueryData(q.queryKey, { ...data, pages });
    else {
      const scope = listScope(q.queryKey);
      if (scope === null || scope === job.project_id) void qc.invalidateQueries({ queryKey: q.queryKey, exact: true });
    }
  }
}
