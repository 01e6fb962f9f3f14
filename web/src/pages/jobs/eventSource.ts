// The job event stream's URL and the resume point across EventSource instances: EventSource
// itself resends Last-Event-ID when the server ends the stream; after an error it gives up
// (readyState CLOSED), and a new one resumes with ?after=<the last id seen>.
export function eventsUrl(projectId: string | undefined, after: string | null): string {
  const q = new URLSearchParams();
  if (projectId) q.set("project", projectId);
  if (after) q.set("after", after);
  const s = q.toString();
  return `/api/v1/jobs/events${s ? `?${s}` : ""}`;
}

// Reconnect delays after failures: 1 s, 2 s, 4 s ... at most 30 s.
export function backoff(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}
