// /{org}/{project}/secrets: the project's secrets, for every job and environment of the project
// that names them.
import { Alert, Stack, Title } from "@mantine/core";
import { projectSecretsPath } from "../../api/secrets";
import { useProject } from "../projects/ProjectShell";
import { SecretsPanel } from "./SecretsPanel";

export default function ProjectSecrets() {
  const { project } = useProject();
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        Secrets
      </Title>
      <Alert color="gray" title="Whoever runs a job here can read these">
        A project secret is given to any job or environment of this project that names it, so anyone who may run jobs
        in the project can read its value from inside one. Keep personal credentials in your own secrets (Your account,
        Secrets).
      </Alert>
      <SecretsPanel
        path={projectSecretsPath(project.id)}
        readOnly={project.archived}
        note="Stored encrypted and never shown again, in logs or here. Jobs ask for them by name: NAME (an environment variable) or NAME:file (/run/secrets/NAME)."
      />
    </Stack>
  );
}
