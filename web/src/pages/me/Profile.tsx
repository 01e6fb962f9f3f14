import { Title } from "@mantine/core";

export default function Profile() {
  return <Title order={1}>Profile</Title>;
}
