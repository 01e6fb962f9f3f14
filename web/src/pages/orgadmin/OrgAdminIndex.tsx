// /orgs/{org}: goes to the first administration page the caller may use.
import { Navigate } from "react-router";
import { useMe } from "../../auth/session";
import { canInOrg, ORG_ADMIN_PAGES } from "../../auth/can";
import { useOrgSlug } from "./OrgAdminLayout";

export default function OrgAdminIndex() {
  const me = useMe();
  const org = useOrgSlug();
  const first = ORG_ADMIN_PAGES.find((p) => canInOrg(me, org, p.perm));
  return first ? <Navigate to={`/orgs/${org}/${first.path}`} replace /> : null;
}
