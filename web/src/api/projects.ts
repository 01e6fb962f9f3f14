// A project as GET /api/v1/orgs/{org}/projects/{project} and /api/v1/projects/{id} answer it.
export interface Project {
  id: string;
  org_id: string;
  org_slug?: string;
  slug: string;
  name: string;
  description: string;
  visibility: "private" | "internal" | "public" | string;
  tags: string[];
  archived: boolean;
  my_role?: string | null;
  etag: string;
  created_at: string;
  updated_at: string;
  [k: string]: unknown;
}
