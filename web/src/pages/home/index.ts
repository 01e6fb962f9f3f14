import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

export const homeRoutes: RouteObject[] = [
  { index: true, lazy: page(() => import("./Home")) },
  { path: "search", lazy: page(() => import("./Search")) },
];
