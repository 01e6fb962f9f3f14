import { Title } from "@mantine/core";

export default function Terminal() {
  return <Title order={1}>Terminal</Title>;
}
