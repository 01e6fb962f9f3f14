import { Title } from "@mantine/core";

export default function Files() {
  return <Title order={1}>Files</Title>;
}
