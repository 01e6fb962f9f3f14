// The orgs where the signed-in user may create a project: every org for an instance admin, else
// the orgs whose role is not `viewer` (the server decides in the end and says so at the field).
import { useQuery } from "@tanstack/react-query";
import { fetchJson, type ListPage } from "../../api/client";
import { useMe } from "../../auth/session";

export interface OrgChoice {
  id: string;
  slug: string;
  name: string;
}

export function useCreatableOrgs() {
  const me = useMe();
  const all = useQuery({
    queryKey: ["orgs", "all"],
    enabled: me.instance_admin,
    queryFn: () => fetchJson<ListPage<OrgChoice>>("/api/v1/orgs?limit=200"),
  });
  if (me.instance_admin) return { orgs: all.data?.items ?? [], pending: all.isPending, error: all.error };
  const orgs = me.orgs
    .filter((o) => o.role !== "viewer")
    .map((o) => ({ id: (o.id as string | undefined) ?? o.org_id, slug: o.slug ?? "", name: o.name ?? o.slug ?? "" }));
  return { orgs, pending: false, error: null };
}
