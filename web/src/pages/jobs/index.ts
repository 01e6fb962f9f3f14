import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// /jobs: the user's jobs across projects; /jobs/{id}: one job.
export const jobRoutes: RouteObject[] = [
  { path: "jobs", lazy: page(() => import("./MyJobs")) },
  { path: "jobs/:id", lazy: page(() => import("./JobPage")) },
];

// Below /{org}/{project}: the project's queue and the submit form.
export const projectJobRoutes: RouteObject[] = [{ path: "jobs", lazy: page(() => import("./ProjectJobs")) }];
