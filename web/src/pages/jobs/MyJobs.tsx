import { Title } from "@mantine/core";

export default function MyJobs() {
  return <Title order={1}>Jobs</Title>;
}
