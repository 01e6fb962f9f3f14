import { Title } from "@mantine/core";

export default function Password() {
  return <Title order={1}>Change your password</Title>;
}
