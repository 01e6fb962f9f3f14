import { Title } from "@mantine/core";

export default function MyEnvs() {
  return <Title order={1}>Environments</Title>;
}
