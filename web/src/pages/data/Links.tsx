// /{org}/{project}/links: the project's signed links (what they give, expiry, uses) and revoke.
// Tokens are never listed: a link's URL is shown once, when it is made.
import { Badge, Button, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { fetchJson } from "../../api/client";
import { projectApi, type LinkInfo } from "../../api/data";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { HeadRow } from "./bits";
import { formatBytes, formatTime } from "./format";

function state(l: LinkInfo): { label: string; color: string } {
  if (l.revoked) return { label: "revoked", color: "gray" };
  if (new Date(l.expires).getTime() <= Date.now()) return { label: "expired", color: "gray" };
  if (l.one_time && l.uses > 0) return { label: "used", color: "gray" };
  return { label: "live", color: "dark" };
}

function Row({ l, projectId }: { l: LinkInfo; projectId: string }) {
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => fetchJson<void>(`/api/v1/links/${encodeURIComponent(l.id)}`, { method: "DELETE", headers: { "If-Match": l.etag } }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["links", projectId] }),
  });
  const s = state(l);
  const what = l.dataset_id ? `dataset version ${l.dataset_version}` : l.path;
  return (
    <Table.Tr>
      <Table.Td style={{ wordBreak: "break-all" }}>{what}</Table.Td>
      <Table.Td>{formatBytes(l.size)}</Table.Td>
      <Table.Td>{formatTime(l.expires)}</Table.Td>
      <Table.Td>
        {l.uses}
        {l.one_time ? " (one-time)" : ""}
      </Table.Td>
      <Table.Td>
        <Badge color={s.color} variant="outline">
          {s.label}
        </Badge>
      </Table.Td>
      <Table.Td>
        {s.label === "live" ? (
          <Button size="compact-xs" variant="subtle" color="red" loading={revoke.isPending} onClick={() => revoke.mutate()} aria-label={`Revoke the link to ${what}`}>
            Revoke
          </Button>
        ) : null}
        {revoke.error ? <ErrorAlert error={revoke.error} title="Not revoked" /> : null}
      </Table.Td>
    </Table.Tr>
  );
}

export default function Links() {
  const { project } = useProject();
  const list = useCursorList<LinkInfo>(["links", project.id], `${projectApi(project.id)}/links`);
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        Signed links
      </Title>
      <Text size="sm" c="dimmed">
        Links made from the Files and Datasets pages. Anyone with a live link can download what it names.
      </Text>
      {list.isPending ? (
        <Loading label="Loading links" />
      ) : list.error ? (
        <ErrorAlert error={list.error} title="The links could not be listed" />
      ) : list.items.length === 0 ? (
        <Paper withBorder p="md">
          <EmptyState title="No signed links">Choose Link beside a file, or on a dataset version, to share it.</EmptyState>
        </Paper>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table aria-label="Signed links" verticalSpacing={4}>
            <HeadRow cols={["Of", "Size", "Expires", "Uses", "State", "Action"]} />
            <Table.Tbody>
              {list.items.map((l) => (
                <Row key={l.id} l={l} projectId={project.id} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
    </Stack>
  );
}
