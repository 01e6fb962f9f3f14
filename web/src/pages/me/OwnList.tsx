// What the sessions and tokens pages share: a cursor-paged list of my own things (loading,
// error, empty state, "Load more"), and ending one of them with the version it was listed at.
import { Stack } from "@mantine/core";
import { useState, type ReactNode } from "react";
import { fetchJson } from "../../api/client";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { Loading } from "../../components/Loading";

// DELETE path with If-Match; `busy` while it runs, `error` next to the item when it fails.
export function useEnd(path: string, etag: string, onDone: () => unknown) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const end = async () => {
    setBusy(true);
    setError(null);
    try {
      await fetchJson<void>(path, { method: "DELETE", headers: { "If-Match": etag } });
      await onDone();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return { busy, error, end };
}

interface OwnListProps<T> {
  what: string; // "sessions", "tokens"
  path: string;
  empty: { title: string; hint: string };
  item: (row: T, refetch: () => unknown) => ReactNode;
}

export function OwnList<T extends { id: string }>({ what, path, empty, item }: OwnListProps<T>) {
  const list = useCursorList<T>(["me", what], path);
  return (
    <>
      {list.isPending ? <Loading label={`Loading ${what}`} /> : null}
      <ErrorAlert error={list.error} title={`Could not list your ${what}`} />
      {list.isSuccess && list.items.length === 0 ? <EmptyState title={empty.title}>{empty.hint}</EmptyState> : null}
      <Stack component="ul" gap="xs" p={0} m={0} style={{ listStyle: "none" }}>
        {list.items.map((row) => item(row, () => list.refetch()))}
      </Stack>
      <LoadMore {...list} />
    </>
  );
}
