// Going on to `next` once signed in: a page of this app through the router; an environment
// (/env/..., served by the proxy, not by this app) with a full page load.
import type { NavigateFunction } from "react-router";
import { safeNext } from "./next";

export function needsFullLoad(path: string): boolean {
  return path === "/env" || path.startsWith("/env/");
}

export function goNext(navigate: NavigateFunction, next: string | null): void {
  const to = safeNext(next);
  if (needsFullLoad(to)) window.location.assign(to);
  else navigate(to, { replace: true });
}
