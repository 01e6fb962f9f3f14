// /orgs/{org}/*: an org's administration under one heading, with the tabs the caller may use. A page
// the caller may not use shows "Not allowed" (and is not among the tabs).
import { Stack, Title } from "@mantine/core";
import { Outlet, useParams } from "react-router";
import { useMe } from "../../auth/session";
import { canInOrg, ORG_ADMIN_PAGES } from "../../auth/can";
import { TabNav } from "../../components/TabNav";
import { Forbidden } from "../../components/Forbidden";
import { useOrg } from "../../api/orgadmin";

export function useOrgSlug(): string {
  return useParams().org ?? "";
}

export default function OrgAdminLayout() {
  const me = useMe();
  const org = useOrgSlug();
  const tabs = ORG_ADMIN_PAGES.filter((p) => canInOrg(me, org, p.perm)).map((p) => ({
    to: `/orgs/${org}/${p.path}`,
    label: p.label,
  }));
  const mine = me.orgs.find((o) => o.slug === org);
  // An instance admin who is no member of the org: its name from the API.
  const other = useOrg(org, !mine && tabs.length > 0);
  const name = mine?.name ?? other.data?.name ?? org;
  return (
    <Stack gap="md" maw={1200}>
      <Title order={1}>{name}: administration</Title>
      {tabs.length === 0 ? <Forbidden what="administer this organisation" /> : <TabNav label="Organisation administration" tabs={tabs} exact={false} />}
      {tabs.length === 0 ? null : <Outlet />}
    </Stack>
  );
}

// Wraps a page that needs `perm` over the org.
export function OrgPage({ perm, what, children }: { perm: string; what: string; children: React.ReactNode }) {
  const me = useMe();
  const org = useOrgSlug();
  return canInOrg(me, org, perm) ? <>{children}</> : <Forbidden what={what} />;
}
