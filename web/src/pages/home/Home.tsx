import { Title } from "@mantine/core";

export default function Home() {
  return <Title order={1}>Home</Title>;
}
