import { Title } from "@mantine/core";

export default function ProjectEnvs() {
  return <Title order={1}>Environments</Title>;
}
