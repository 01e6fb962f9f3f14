import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// /orgs/{org}/...: an org's administration, one tab per page (auth/can.ts ORG_ADMIN_PAGES says who
// sees which). "orgs" is a reserved org slug, so these never meet /{org}/{project}.
export const orgAdminRoutes: RouteObject[] = [
  {
    path: "orgs/:org",
    lazy: page(() => import("./OrgAdminLayout")),
    children: [
      { index: true, lazy: page(() => import("./OrgAdminIndex")) },
      { path: "members", lazy: page(() => import("./Members")) },
      { path: "groups", lazy: page(() => import("./Groups")) },
      { path: "roles", lazy: page(() => import("./Roles")) },
      { path: "quotas", lazy: page(() => import("./Quotas")) },
      { path: "usage", lazy: page(() => import("./Usage")) },
      { path: "audit", lazy: page(() => import("./Audit")) },
    ],
  },
];
