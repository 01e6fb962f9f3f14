import { Title } from "@mantine/core";

export default function NewProject() {
  return <Title order={1}>New project</Title>;
}
