// A member's project with one commit on main (so jobs are pinned to it): what the jobs, images
// and secrets browser tests start from.
import type { TestUser, World } from "./fixtures.ts";

export interface MemberProject {
  user: TestUser;
  org: { id: string; slug: string };
  project: { id: string; slug: string };
  base: string; // "/{org}/{project}"
}

export async function memberProject(world: World, readme = "# project\n"): Promise<MemberProject> {
  const org = await world.org();
  const user = await world.user(org, "member");
  const project = await world.project(user, org);
  await user.api.call(
    "PUT",
    `/api/v1/projects/${project.id}/repo/files/README.md`,
    { branch: "main", content: readme, message: "start" },
    { "If-None-Match": "*" },
  );
  return { user, org, project, base: `/${org.slug}/${project.slug}` };
}
