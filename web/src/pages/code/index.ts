import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Below /{org}/{project}: tree/<ref>/<path>, blob/<ref>/<path>, commits/<ref>, commit/<sha>, ...
export const codeRoutes: RouteObject[] = [{ path: "tree/*", lazy: page(() => import("./Tree")) }];
