import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// /admin/...: the instance's administration (instance administrators only; auth/can.ts ADMIN_PAGES).
export const adminRoutes: RouteObject[] = [
  {
    path: "admin",
    lazy: page(() => import("./AdminLayout")),
    children: [
      { index: true, lazy: page(() => import("./AdminIndex")) },
      { path: "orgs", lazy: page(() => import("./Orgs")) },
      { path: "users", lazy: page(() => import("./Users")) },
      { path: "users/:id", lazy: page(() => import("./User")) },
      { path: "compute", lazy: page(() => import("./Compute")) },
      { path: "apps", lazy: page(() => import("./Apps")) },
      { path: "health", lazy: page(() => import("./Health")) },
      { path: "alerts", lazy: page(() => import("./Alerts")) },
    ],
  },
];
