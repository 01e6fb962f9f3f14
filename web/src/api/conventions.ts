// Two of the API's conventions (docs/api.md), for every area of the UI.

// An Idempotency-Key for a POST that creates work. crypto.randomUUID exists only in a secure
// context (https or localhost), which a server reached as http://lab-host:8080 is not;
// getRandomValues works everywhere.
export function newIdempotencyKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// The version an ETag names ("v3" -> 3; 0 when it names none): which of two copies is newer.
export function etagVersion(etag: string): number {
  const m = /(\d+)/.exec(etag);
  return m ? Number(m[1]) : 0;
}
