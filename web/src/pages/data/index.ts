import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Below /{org}/{project}: files/<folder>, datasets, datasets/<name>, links.
export const dataRoutes: RouteObject[] = [
  { path: "files/*", lazy: page(() => import("./Files")) },
  { path: "datasets", lazy: page(() => import("./Datasets")) },
  { path: "datasets/:name", lazy: page(() => import("./Dataset")) },
  { path: "links", lazy: page(() => import("./Links")) },
];
