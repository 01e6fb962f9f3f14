// /{org}: the org's projects the caller can see, with the API's cursor. The org's own record is
// readable by its members only; others see its projects shared with the whole instance.
import { Button, Group, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { ApiError, fetchJson } from "../../api/client";
import type { Project } from "../../api/projects";
import { NotFound } from "../../app/NotFound";
import { LoadMore, useCursorList, withQuery } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { ProjectRows } from "./ProjectRows";

interface Org {
  id: string;
  slug: string;
  name: string;
}

export default function OrgPage() {
  const { org = "" } = useParams();
  const info = useQuery({
    queryKey: ["org", org],
    queryFn: () => fetchJson<Org>(`/api/v1/orgs/${encodeURIComponent(org)}`),
  });
  const list = useCursorList<Project>(
    ["projects", "list", "org", org],
    withQuery("/api/v1/projects", { org }),
    20,
  );
  const hidden = info.error instanceof ApiError && info.error.status === 404;
  if (info.isPending || list.isPending) return <Loading />;
  // Neither a member nor any project to see: the same answer as an org that does not exist.
  if (hidden && !list.error && list.items.length === 0) return <NotFound />;
  const title = info.data ? info.data.name || info.data.slug : org;
  return (
    <Stack gap="md">
      <Group justify="space-between" wrap="wrap">
        <Stack gap={0}>
          <Title order={1}>{title}</Title>
          {info.data && info.data.name !== info.data.slug ? <Text c="dimmed">{info.data.slug}</Text> : null}
        </Stack>
        {info.data ? (
          <Button component={Link} to={`/new?org=${encodeURIComponent(info.data.id)}`}>
            New project
          </Button>
        ) : null}
      </Group>
      {info.error && !hidden ? <ErrorAlert error={info.error} title="The organisation could not be loaded" /> : null}
      <Title order={2} size="h4">
        Projects
      </Title>
      {list.error ? (
        <ErrorAlert error={list.error} title="The projects could not be loaded" />
      ) : list.items.length ? (
        <>
          <ProjectRows items={list.items} label={`Projects of ${title}`} />
          <LoadMore {...list} />
        </>
      ) : (
        <EmptyState title="No projects you can see here yet">
          Create one with <strong>New project</strong>, or ask a project's owner to add you as a member.
        </EmptyState>
      )}
    </Stack>
  );
}
