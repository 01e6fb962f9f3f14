import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// /me/secrets: the user's own secrets (a tab of /me, see pages/me/index.ts).
export const meSecretsRoute: RouteObject = { path: "secrets", lazy: page(() => import("./MySecrets")) };

// Below /{org}/{project}: the project's secrets.
export const projectSecretRoutes: RouteObject[] = [{ path: "secrets", lazy: page(() => import("./ProjectSecrets")) }];
