import { Anchor, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router";

export function NotFound() {
  return (
    <Stack py="xl" align="center">
      <Title order={1}>Not found</Title>
      <Text c="dimmed">There is nothing at this address, or you may not see it.</Text>
      <Anchor component={Link} to="/">
        Go to your home page
      </Anchor>
    </Stack>
  );
}
