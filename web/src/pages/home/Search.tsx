import { Title } from "@mantine/core";

export default function Search() {
  return <Title order={1}>Search</Title>;
}
