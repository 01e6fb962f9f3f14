import { Title } from "@mantine/core";

export default function JobPage() {
  return <Title order={1}>Job</Title>;
}
