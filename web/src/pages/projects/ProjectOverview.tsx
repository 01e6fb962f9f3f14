import { Title } from "@mantine/core";

export default function ProjectOverview() {
  return <Title order={1}>Project</Title>;
}
