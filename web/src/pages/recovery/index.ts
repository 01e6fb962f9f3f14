import type { RouteObject } from "react-router";
import { page } from "../../app/lazy";

// Pages reached from the sign-in page or from a mailed link, without the signed-in shell.
export const recoveryRoutes: RouteObject[] = [
  { path: "forgot-password", lazy: page(() => import("./ForgotPassword")) },
  { path: "reset-password", lazy: page(() => import("./ResetPassword")) },
  { path: "verify-email", lazy: page(() => import("./VerifyEmail")) },
];
