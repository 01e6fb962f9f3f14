import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Below /{org}/{project}: files/<path>, datasets, datasets/<name>, ...
export const dataRoutes: RouteObject[] = [{ path: "files/*", lazy: page(() => import("./Files")) }];
