import { Title } from "@mantine/core";

export default function ProjectJobs() {
  return <Title order={1}>Jobs</Title>;
}
