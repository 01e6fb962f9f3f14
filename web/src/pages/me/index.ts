import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// /me: profile; /me/password; sessions, tokens and usage are added by the Me pages.
export const meRoutes: RouteObject[] = [
  { path: "me", lazy: page(() => import("./Profile")) },
  { path: "me/password", lazy: page(() => import("./Password")) },
];
