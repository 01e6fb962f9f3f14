import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

export const authRoutes: RouteObject[] = [
  { path: "login", lazy: page(() => import("./Login")) },
  { path: "invite", lazy: page(() => import("./Invite")) },
];
