import { Title } from "@mantine/core";

export default function ProjectSettings() {
  return <Title order={1}>Settings</Title>;
}
