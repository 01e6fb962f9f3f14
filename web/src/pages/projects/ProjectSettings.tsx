// /{org}/{project}/settings: what the viewer's role allows: owners everything, maintainers the
// general settings and archiving, everyone else reads the settings and the members.
import { Divider, Stack, Text, Title } from "@mantine/core";
import { projectAbilities } from "../../api/projects";
import { useMe } from "../../auth/session";
import { useProject } from "./ProjectShell";
import { DangerZone } from "./settings/DangerZone";
import { GeneralSettings } from "./settings/GeneralSettings";
import { Members } from "./settings/Members";

export default function ProjectSettings() {
  const { project, org } = useProject();
  const me = useMe();
  const orgAdmin =
    me.instance_admin || me.orgs.some((o) => (o.id ?? o.org_id) === project.org_id && o.role === "org-admin");
  const can = projectAbilities(project.my_role, orgAdmin);
  return (
    <Stack gap="lg">
      <Stack gap={2}>
        <Title order={2} size="h3">
          Settings
        </Title>
        {!can.edit ? (
          <Text size="sm" c="dimmed">
            You are {project.my_role ? `a ${project.my_role}` : "a reader"} of this project: its settings are read-only
            for you.
          </Text>
        ) : null}
      </Stack>
      <GeneralSettings key={project.id} project={project} org={org} canEdit={can.edit} />
      <Divider />
      <Members project={project} manage={can.members} />
      <Divider />
      <DangerZone project={project} org={org} canArchive={can.edit} canDelete={can.remove} />
    </Stack>
  );
}
