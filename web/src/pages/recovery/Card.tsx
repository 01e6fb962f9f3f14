// The frame of the recovery pages: a centred card with a title and a way back to signing in.
import { Anchor, Center, Paper, Stack, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";

export function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w={420} maw="100%" component="main">
        <Stack>
          <Title order={1} size="h2">
            {title}
          </Title>
          {children}
          <Anchor component={Link} to="/login" size="sm" underline="always">
            Back to sign in
          </Anchor>
        </Stack>
      </Paper>
    </Center>
  );
}

export function MissingToken({ what }: { what: string }) {
  return (
    <p role="alert" style={{ margin: 0 }}>
      This page needs the whole {what} link, including the part after “#”. Open the link you were sent again.
    </p>
  );
}
