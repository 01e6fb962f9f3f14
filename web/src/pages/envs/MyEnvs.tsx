// /envs: the caller's own environments in every project, live.
import { Stack, Title } from "@mantine/core";
import { EnvTable } from "./EnvTable";
import { useEnvEvents } from "./useEnvEvents";

export default function MyEnvs() {
  const live = useEnvEvents();
  return (
    <Stack gap="md">
      <Title order={1}>My environments</Title>
      <EnvTable
        queryKey={["envs", "mine"]}
        path="/api/v1/envs"
        live={live.envs}
        emptyHint="Open a project and launch Jupyter, a terminal or a web app from its Environments tab."
      />
    </Stack>
  );
}
