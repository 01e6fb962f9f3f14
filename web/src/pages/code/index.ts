import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Below /{org}/{project}: the repository's views. <ref> may hold slashes (feature/x): the pages
// split "<ref>/<path>" with the repository's branch and tag names (refs.ts).
export const codeRoutes: RouteObject[] = [
  { path: "tree/*", lazy: page(() => import("./Tree")) },
  { path: "blob/*", lazy: page(() => import("./Blob")) },
  { path: "edit/*", lazy: page(() => import("./Edit")) },
  { path: "new/*", lazy: page(() => import("./Edit")) },
  { path: "commits/*", lazy: page(() => import("./Commits")) },
  { path: "commit/:sha", lazy: page(() => import("./CommitPage")) },
  { path: "compare", lazy: page(() => import("./ComparePage")) },
  { path: "branches", lazy: page(() => import("./Branches")) },
];
