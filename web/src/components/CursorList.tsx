// Lists page with the API's cursor (?limit=&after=): the first page, then "Load more" for as
// long as the server returns a `next` cursor.
import { Button, Group } from "@mantine/core";
import { useInfiniteQuery, type QueryKey } from "@tanstack/react-query";
import { fetchJson, type ListPage } from "../api/client";

export function withQuery(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

export function useCursorList<T>(key: QueryKey, path: string, limit = 50, enabled = true) {
  const q = useInfiniteQuery({
    queryKey: [...key, limit],
    enabled,
    initialPageParam: "",
    queryFn: ({ pageParam }) => fetchJson<ListPage<T>>(withQuery(path, { limit, after: pageParam || undefined })),
    getNextPageParam: (last) => last.next ?? undefined,
  });
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  return { ...q, items };
}

export function LoadMore({
  hasNextPage,
  isFetchingNextPage,
  fetchNextPage,
}: {
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => unknown;
}) {
  if (!hasNextPage) return null;
  return (
    <Group justify="center" mt="sm">
      <Button variant="default" size="xs" loading={isFetchingNextPage} onClick={() => fetchNextPage()}>
        Load more
      </Button>
    </Group>
  );
}
