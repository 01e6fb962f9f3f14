// Who is signed in: GET /api/v1/me once at start (the cookie is HttpOnly; the page cannot read
// it). Pages below <RequireAuth> can count on `me`; a 401 from any call ends the session view
// and sends the user to the sign-in page with `next` set to where they were.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { ApiError, fetchJson, setUnauthenticatedHandler } from "../api/client";
import type { Me } from "../api/types";
import { Loading } from "../components/Loading";
import { loginPath } from "./next";

export { loginPath, safeNext } from "./next";

interface SessionValue {
  me: Me | null;
  loading: boolean;
  refresh: () => Promise<unknown>;
}

const SessionContext = createContext<SessionValue>({ me: null, loading: true, refresh: async () => null });

export const ME_KEY = ["me"] as const;
const PUBLIC_PAGES = new Set(["/login", "/invite", "/forgot-password", "/reset-password", "/verify-email"]);

export async function loadMe(): Promise<Me | null> {
  try {
    return await fetchJson<Me>("/api/v1/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: ME_KEY, queryFn: loadMe, staleTime: 60_000, retry: false });
  useEffect(() => {
    setUnauthenticatedHandler(() => {
      qc.setQueryData(ME_KEY, null);
      const here = window.location.pathname + window.location.search;
      // Pages for visitors (sign in, accept an invitation) stay where they are.
      if (!PUBLIC_PAGES.has(window.location.pathname)) navigate(loginPath(here), { replace: true });
    });
    return () => setUnauthenticatedHandler(null);
  }, [qc, navigate]);
  const value: SessionValue = { me: q.data ?? null, loading: q.isPending, refresh: () => q.refetch() };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  return useContext(SessionContext);
}

// The signed-in user; only below <RequireAuth>.
export function useMe(): Me {
  const { me } = useSession();
  if (!me) throw new Error("useMe outside RequireAuth");
  return me;
}

export function RequireAuth({ children }: { children: ReactNode }) {
  const { me, loading } = useSession();
  const loc = useLocation();
  if (loading) return <Loading />;
  if (!me) return <Navigate to={loginPath(loc.pathname + loc.search)} replace />;
  if (me.must_change_password && loc.pathname !== "/me/password")
    return <Navigate to={`/me/password?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  if (me.mfa_enrollment_required && !me.must_change_password && loc.pathname !== "/me/security")
    return <Navigate to={`/me/security?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  return <>{children}</>;
}
