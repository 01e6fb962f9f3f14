import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Below /{org}/{project}: the project's images.
export const projectImageRoutes: RouteObject[] = [{ path: "images", lazy: page(() => import("./Images")) }];
