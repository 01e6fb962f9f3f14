import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";
import { meSecretsRoute } from "../secrets";

// /me: the signed-in user's own account, one tab each: profile, password, sessions, API tokens, usage, notifications, secrets.
export const meRoutes: RouteObject[] = [
  {
    path: "me",
    lazy: page(() => import("./MeLayout")),
    children: [
      { index: true, lazy: page(() => import("./Profile")) },
      { path: "password", lazy: page(() => import("./Password")) },
      { path: "security", lazy: page(() => import("./Security")) },
      { path: "sessions", lazy: page(() => import("./Sessions")) },
      { path: "tokens", lazy: page(() => import("./Tokens")) },
      { path: "usage", lazy: page(() => import("./Usage")) },
      { path: "notifications", lazy: page(() => import("./Notifications")) },
      meSecretsRoute,
    ],
  },
];
