// The /{org}/{project} path of a job's project (the job names them by id), for links to its code
// and datasets; null until known or when the caller may not read them.
import { useQuery } from "@tanstack/react-query";
import { fetchJson } from "../../api/client";
import type { Project } from "../../api/projects";

export function useProjectBase(projectId: string | undefined, orgId: string | undefined): string | null {
  const p = useQuery({
    queryKey: ["project-by-id", projectId],
    queryFn: () => fetchJson<Project>(`/api/v1/projects/${encodeURIComponent(projectId!)}`),
    enabled: !!projectId,
    staleTime: 300_000,
  });
  const o = useQuery({
    queryKey: ["org-by-id", orgId],
    queryFn: () => fetchJson<{ slug: string }>(`/api/v1/orgs/${encodeURIComponent(orgId!)}`),
    enabled: !!orgId,
    staleTime: 300_000,
  });
  return p.data && o.data ? `/${o.data.slug}/${p.data.slug}` : null;
}
