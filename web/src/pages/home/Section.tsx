// A titled block of the home page; its list, its loading state and its error in words.
import { Group, Paper, Stack, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";

export function Section(props: {
  title: string;
  action?: ReactNode;
  pending: boolean;
  error: unknown;
  children: ReactNode;
}) {
  const id = `home-${props.title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return (
    <Paper component="section" aria-labelledby={id} withBorder p="md">
      <Stack gap="sm">
        <Group justify="space-between" wrap="wrap">
          <Title order={2} size="h4" id={id}>
            {props.title}
          </Title>
          {props.action}
        </Group>
        {props.pending ? (
          <Loading label={`Loading ${props.title.toLowerCase()}`} />
        ) : props.error ? (
          <ErrorAlert error={props.error} title={`${props.title} could not be loaded`} />
        ) : (
          props.children
        )}
      </Stack>
    </Paper>
  );
}
