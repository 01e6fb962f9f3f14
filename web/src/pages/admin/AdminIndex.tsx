// /admin: goes to the first page.
import { Navigate } from "react-router";
import { ADMIN_PAGES } from "../../auth/can";

export default function AdminIndex() {
  return <Navigate to={`/admin/${ADMIN_PAGES[0].path}`} replace />;
}
