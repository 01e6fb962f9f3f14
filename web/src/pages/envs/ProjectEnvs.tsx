// /{org}/{project}/envs: launch an app of the catalog in this project and follow it to READY
// live, and the project's environments.
import { Anchor, Stack, Title } from "@mantine/core";
import { Link } from "react-router";
import { useState } from "react";
import type { App, Env } from "../../api/envs";
import { useProject } from "../projects/ProjectShell";
import { AppCatalog } from "./AppCatalog";
import { EnvTable } from "./EnvTable";
import { LaunchForm } from "./LaunchForm";
import { LaunchProgress } from "./LaunchProgress";
import { useEnvEvents } from "./useEnvEvents";

export default function ProjectEnvs() {
  const { project } = useProject();
  const live = useEnvEvents({ project: project.id });
  const [app, setApp] = useState<App | null>(null);
  const [launched, setLaunched] = useState<{ env: Env; at: number } | null>(null);
  const current = launched ? (live.envs.get(launched.env.id) ?? launched.env) : null;
  return (
    <Stack gap="md">
      <Title order={2} size="h3">
        Launch an environment
      </Title>
      {project.archived ? null : (
        <AppCatalog
          onPick={(a) => {
            setApp(a);
            setLaunched(null);
          }}
        />
      )}
      {app && !launched ? (
        <LaunchForm
          key={app.name}
          app={app}
          projectId={project.id}
          orgId={project.org_id}
          onCancel={() => setApp(null)}
          onLaunched={(env) => {
            setLaunched({ env, at: Date.now() });
            setApp(null);
          }}
        />
      ) : null}
      {current && launched ? <LaunchProgress key={launched.env.id} env={current} first={launched.env} started={launched.at} /> : null}
      <Title order={2} size="h3">
        Environments in this project
      </Title>
      <EnvTable
        queryKey={["envs", "project", project.id]}
        path={`/api/v1/projects/${encodeURIComponent(project.id)}/envs`}
        live={live.envs}
        emptyHint="Launch one from the catalog above: Jupyter, a terminal or a web app."
      />
      <Anchor component={Link} to="/envs" size="sm">
        All my environments
      </Anchor>
    </Stack>
  );
}
