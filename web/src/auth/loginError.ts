// Words for what the sign-in and invitation endpoints refuse with. The API answers a wrong
// password, an unknown user and a lock on this client alike (401 invalid-credentials: no answer
// confirms an account), and a burst from one address with 429 and the seconds to wait.
import { ApiError } from "../api/problem";

// "try again in 3 minutes" / "in 1 minute" / "in 40 seconds".
export function waitText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "try again shortly";
  if (seconds < 60) {
    const s = Math.ceil(seconds);
    return `try again in ${s} second${s === 1 ? "" : "s"}`;
  }
  const m = Math.ceil(seconds / 60);
  return `try again in ${m} minute${m === 1 ? "" : "s"}`;
}

// Seconds to wait from the problem (retry_after_s), else null.
export function retryAfter(e: ApiError): number | null {
  const v = e.problem.retry_after_s;
  return typeof v === "number" ? v : null;
}

export function loginErrorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === "invalid-credentials")
      return (
        "Wrong username or password. After several wrong tries, sign-in from this device pauses for a while; " +
        "ask an administrator if you are locked out."
      );
    const wait = retryAfter(e);
    if (e.status === 429 || e.code === "locked" || e.code === "rate-limited")
      return `Too many sign-in attempts from your address: ${waitText(wait ?? 0)}.`;
    if (e.status >= 500) return `The server could not sign you in (${e.message}); try again in a moment.`;
    return e.message;
  }
  if (e instanceof TypeError) return "The server cannot be reached; check your connection and try again.";
  return e instanceof Error ? e.message : String(e);
}
