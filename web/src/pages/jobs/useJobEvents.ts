// Live job states for every page: subscribes to GET /api/v1/jobs/events (the caller's own jobs,
// or every job of one project) and applies each changed job to the TanStack Query cache, so
// lists and job pages update without reloading and without polling. Resumes with Last-Event-ID.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { jobKeys, type Job } from "../../api/jobs";
import { applyJobEvent } from "./jobCache";
import { backoff, eventsUrl } from "./eventSource";

export type LiveState = "connecting" | "live" | "reconnecting";

export function useJobEvents(projectId?: string): LiveState {
  const qc = useQueryClient();
  const [live, setLive] = useState<LiveState>("connecting");
  useEffect(() => {
    let es: EventSource | null = null;
    let lastId: string | null = null;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const open = () => {
      es = new EventSource(eventsUrl(projectId, lastId));
      es.addEventListener("ready", (e) => {
        if (lastId === null) {
          // The first connection starts from now: what was fetched before it may have missed a
          // change made meanwhile; later connections resume from the last id and miss nothing.
          const since = Date.now();
          void qc.invalidateQueries({ queryKey: jobKeys.all, predicate: (q) => q.state.dataUpdatedAt > 0 && q.state.dataUpdatedAt < since });
        }
        lastId = (e as MessageEvent).lastEventId || lastId;
        failures = 0;
        setLive("live");
      });
      es.addEventListener("job", (e) => {
        const m = e as MessageEvent<string>;
        if (m.lastEventId) lastId = m.lastEventId;
        try {
          applyJobEvent(qc, JSON.parse(m.data) as Job);
        } catch {
          // a malformed event is skipped; the next one carries the job's whole state again
        }
      });
      es.onerror = () => {
        if (stopped || !es) return;
        setLive("reconnecting");
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (an error status): a new one resumes from the last id.
          failures += 1;
          es = null;
          timer = setTimeout(open, backoff(failures));
        }
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
    };
  }, [qc, projectId]);
  return live;
}
