// A titled block of the home page; its list, its loading state and its error in words.
import { Group, Paper, Stack, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { LoadMore } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
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

// A section that is one list with the API's cursor: its rows, "Load more", or its empty state.
export function ListSection<T>(props: {
  title: string;
  list: {
    items: T[];
    isPending: boolean;
    error: unknown;
    hasNextPage: boolean;
    isFetchingNextPage: boolean;
    fetchNextPage: () => unknown;
  };
  rowKey: (item: T) => string | number;
  row: (item: T) => ReactNode;
  empty: { title: string; text: ReactNode };
}) {
  const { list } = props;
  return (
    <Section title={props.title} pending={list.isPending} error={list.error}>
      {list.items.length ? (
        <Stack gap={6} component="ul" aria-label={props.title} style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {list.items.map((item) => (
            <Group component="li" key={props.rowKey(item)} gap="xs" wrap="wrap">
              {props.row(item)}
            </Group>
          ))}
          <LoadMore {...list} />
        </Stack>
      ) : (
        <EmptyState title={props.empty.title}>{props.empty.text}</EmptyState>
      )}
    </Section>
  );
}
