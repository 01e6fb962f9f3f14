// Account recovery (docs/auth.md "Account recovery"): whether the server mails reset links, and the
// one-time links' checks. Tokens travel only in request bodies, never in a URL the server sees.
import { fetchJson } from "./client";

export interface RecoveryFeatures {
  password_reset: boolean;
  email_verification: boolean;
}

export const RECOVERY_KEY = ["auth", "recovery"] as const;

export function loadRecovery(): Promise<RecoveryFeatures> {
  return fetchJson<RecoveryFeatures>("/api/v1/auth/recovery");
}

export function post<T = unknown>(path: string, body: unknown): Promise<T> {
  return fetchJson<T>(path, { method: "POST", body: JSON.stringify(body) });
}

// The token a mailed link carries after "#" (read once, when the page opens).
export function fragmentToken(): string {
  return window.location.hash.slice(1);
}
