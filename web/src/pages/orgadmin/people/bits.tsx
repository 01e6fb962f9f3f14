// Pieces the Members, Groups and Roles pages share: the org's roles, an edit's error (a 412 is
// "changed meanwhile" with a reload), a date in words.
import { Alert, Button, Stack, Table, Text, VisuallyHidden } from "@mantine/core";
import { useQuery, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { ApiError, fetchJson, type ListPage } from "../../../api/client";
import { mayGrantAll, orgPath, rolesKey, type OrgRole } from "../../../api/orgadmin";
import { useMe } from "../../../auth/session";
import type { ReactNode } from "react";
import { LoadMore } from "../../../components/CursorList";
import { ErrorAlert } from "../../../components/ErrorAlert";
import { Loading } from "../../../components/Loading";

// The org's roles (built-in first, then custom; the API answers them in one page).
export function useOrgRoles(org: string) {
  return useQuery({
    queryKey: rolesKey(org),
    queryFn: async () => (await fetchJson<ListPage<OrgRole>>(`${orgPath(org)}/roles`)).items,
  });
}

// The roles the caller may give (it holds every grant of each): what a role picker offers.
export function useGrantableRoles(org: string): { value: string; label: string }[] {
  const me = useMe();
  const roles = useOrgRoles(org).data ?? [];
  return roles.filter((r) => mayGrantAll(me, org, r.permissions)).map((r) => ({ value: r.id, label: r.name }));
}

// An edit's failure where it happened; a 412 means someone changed the object since it was
// loaded: say so and offer to load it again (the edit is not retried blindly).
export function EditError({ error, title, reload }: { error: unknown; title: string; reload: QueryKey }) {
  const qc = useQueryClient();
  if (error instanceof ApiError && error.status === 412)
    return (
      <Alert color="orange" role="alert" title="Changed meanwhile">
        <Stack gap="xs" align="flex-start">
          <Text size="sm">Someone else changed this since the page loaded it. Reload it, then try again.</Text>
          <Button size="xs" variant="default" onClick={() => void qc.invalidateQueries({ queryKey: reload })}>
            Reload
          </Button>
        </Stack>
      </Alert>
    );
  return <ErrorAlert error={error} title={title} />;
}

export function when(t: string | undefined): string {
  return t ? new Date(t).toLocaleString() : "—";
}

// A table with its column heads and a last, unnamed column for each row's actions.
export function DataTable({ label, heads, minWidth = 480, children }: { label: string; heads: string[]; minWidth?: number; children: ReactNode }) {
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table aria-label={label} verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            {heads.map((h) => (
              <Table.Th key={h}>{h}</Table.Th>
            ))}
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>{children}</Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

interface PagedList {
  isPending: boolean;
  error: unknown;
  items: unknown[];
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => unknown;
}

// A cursor list as a DataTable: loading, its error, "none" in words, then the rows and "Load more".
export function PagedTable({ list, what, empty, ...table }: { list: PagedList; what: string; empty: string; label: string; heads: string[]; minWidth?: number; children: ReactNode }) {
  return (
    <>
      {list.isPending ? (
        <Loading label={`Loading ${what}`} />
      ) : list.error ? (
        <ErrorAlert error={list.error} title={`The ${what} could not be loaded`} />
      ) : list.items.length === 0 ? (
        <Text size="sm" c="dimmed">
          {empty}
        </Text>
      ) : (
        <DataTable {...table} />
      )}
      <LoadMore {...list} />
    </>
  );
}
