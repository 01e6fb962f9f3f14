// What the instance administration pages share: a cursor-paged table (loading, error, empty state,
// "Load more"), an object's status badge, and the disable (confirmed) / enable switch.
import { Badge, Button, Table } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { LoadMore } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";

interface ListState<T> {
  items: T[];
  isPending: boolean;
  isSuccess: boolean;
  error: unknown;
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => unknown;
}

export function ListTable<T extends { id: string }>({
  list,
  label,
  empty,
  headers,
  row,
  minWidth = 560,
}: {
  list: ListState<T>;
  label: string; // the table's name: "Accounts"
  empty: { title: string; hint?: ReactNode };
  headers: string[];
  row: (item: T) => ReactNode; // the cells, in the headers' order
  minWidth?: number;
}) {
  return (
    <>
      {list.isPending ? <Loading label={`Loading ${label.toLowerCase()}`} /> : null}
      <ErrorAlert error={list.error} title={`${label}: could not be loaded`} />
      {list.isSuccess && list.items.length === 0 ? <EmptyState title={empty.title}>{empty.hint}</EmptyState> : null}
      {list.items.length > 0 ? (
        <Table.ScrollContainer minWidth={minWidth}>
          <Table aria-label={label} verticalSpacing="xs" striped>
            <Table.Thead>
              <Table.Tr>
                {headers.map((h) => (
                  <Table.Th key={h}>{h}</Table.Th>
                ))}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.items.map((item) => (
                <Table.Tr key={item.id}>{row(item)}</Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : null}
      <LoadMore {...list} />
    </>
  );
}

export function StatusBadge({ disabled }: { disabled: boolean }) {
  return (
    <Badge color={disabled ? "red" : "green"} variant="dot">
      {disabled ? "Disabled" : "Active"}
    </Badge>
  );
}

// Disable (after a confirmation that says what it does) or enable `name`. `change` sends it; it
// throws the API's refusal, shown beside the button or in the dialog.
export function DisableToggle({
  name,
  kind,
  disabled,
  change,
  children,
}: {
  name: string;
  kind: "organisation" | "account";
  disabled: boolean;
  change: (disabled: boolean) => Promise<unknown>;
  children: ReactNode; // what disabling does, in words
}) {
  const [confirming, setConfirming] = useState(false);
  const enable = useMutation({ mutationFn: () => change(false) });
  return (
    <>
      {disabled ? (
        <Button size="compact-sm" variant="default" loading={enable.isPending} onClick={() => enable.mutate()}
                aria-label={`Enable ${name}`}>
          Enable
        </Button>
      ) : (
        <Button size="compact-sm" variant="subtle" color="red" onClick={() => setConfirming(true)}
                aria-label={`Disable ${name}`}>
          Disable
        </Button>
      )}
      <ErrorAlert error={enable.error} title={`${name} was not enabled`} />
      {confirming ? (
        <ConfirmDialog
          title={`Disable ${name}?`}
          confirm={`Disable ${kind}`}
          failed={`The ${kind} was not disabled`}
          action={() => change(true)}
          onClose={() => setConfirming(false)}
        >
          {children}
        </ConfirmDialog>
      ) : null}
    </>
  );
}
