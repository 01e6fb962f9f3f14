// /: the signed-in user's day at a glance: projects, work in flight, and what happened lately.
import { SimpleGrid, Stack, Title } from "@mantine/core";
import { useMe } from "../../auth/session";
import { Activity } from "./Activity";
import { MyEnvs, MyJobs } from "./ActiveWork";
import { MyProjects } from "./MyProjects";

export default function Home() {
  const me = useMe();
  return (
    <Stack gap="md">
      <Title order={1}>Welcome, {me.display_name || me.username}</Title>
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Stack gap="md">
          <MyProjects />
        </Stack>
        <Stack gap="md">
          <MyJobs />
          <MyEnvs />
          <Activity />
        </Stack>
      </SimpleGrid>
    </Stack>
  );
}
