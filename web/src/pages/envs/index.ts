import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

export const envRoutes: { shell: RouteObject[]; bare: RouteObject[] } = {
  // /envs: the user's environments.
  shell: [{ path: "envs", lazy: page(() => import("./MyEnvs")) }],
  // /envs/{id}/terminal: the terminal app in a page of its own (no shell around it).
  bare: [{ path: "envs/:id/terminal", lazy: page(() => import("./Terminal")) }],
};

// Below /{org}/{project}: launch from the catalog, the project's environments.
export const projectEnvRoutes: RouteObject[] = [{ path: "envs", lazy: page(() => import("./ProjectEnvs")) }];
