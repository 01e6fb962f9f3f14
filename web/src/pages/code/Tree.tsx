import { Title } from "@mantine/core";

export default function Tree() {
  return <Title order={1}>Code</Title>;
}
