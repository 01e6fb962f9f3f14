import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Top-level project pages (new project, an org's page).
export const projectRoutes: RouteObject[] = [
  { path: "new", lazy: page(() => import("./NewProject")) },
  { path: ":org", lazy: page(() => import("./OrgPage")) },
];

// Below /{org}/{project}: the overview (README) and settings.
export const projectChildRoutes: RouteObject[] = [
  { index: true, lazy: page(() => import("./ProjectOverview")) },
  { path: "settings", lazy: page(() => import("./ProjectSettings")) },
];
