import { Outlet } from "react-router";
import { SessionProvider } from "../auth/session";

export function Root() {
  return (
    <SessionProvider>
      <Outlet />
    </SessionProvider>
  );
}
