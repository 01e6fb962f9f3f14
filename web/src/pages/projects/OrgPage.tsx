import { Title } from "@mantine/core";

export default function OrgPage() {
  return <Title order={1}>Organisation</Title>;
}
