import { Stack, Text } from "@mantine/core";
import type { ReactNode } from "react";

// What an empty list says: what is missing and what to do next.
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Stack align="center" gap={4} py="lg" c="dimmed">
      <Text fw={600}>{title}</Text>
      {children ? <Text size="sm" ta="center">{children}</Text> : null}
    </Stack>
  );
}
