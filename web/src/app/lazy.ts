// A route's page loaded on first use: `page(() => import("./Tree"))` for a module whose default
// export is the page component.
import type { ComponentType } from "react";
import type { RouteObject } from "react-router";

export function page(load: () => Promise<{ default: ComponentType }>): RouteObject["lazy"] {
  return async () => ({ Component: (await load()).default });
}
