// /{org}/{project}/datasets: the project's datasets (named, versioned sets of its files) and a
// form to make one.
import { Anchor, Button, Group, Paper, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { fetchJson } from "../../api/client";
import { projectApi, type Dataset } from "../../api/data";
import { ApiError } from "../../api/problem";
import { LoadMore, useCursorList } from "../../components/CursorList";
import { EmptyState } from "../../components/EmptyState";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { HeadRow, InlineForm } from "./bits";
import { formatTime } from "./format";

function NewDataset({ projectId, base }: { projectId: string; base: string }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const qc = useQueryClient();
  const navigate = useNavigate();
  const m = useMutation({
    mutationFn: () =>
      fetchJson<Dataset>(`${projectApi(projectId)}/datasets`, {
        method: "POST",
        body: JSON.stringify({ name: name.trim(), description }),
      }),
    onSuccess: async (d) => {
      await qc.invalidateQueries({ queryKey: ["datasets", projectId] });
      navigate(`${base}/datasets/${encodeURIComponent(d.name)}`);
    },
  });
  const err = m.error instanceof ApiError ? m.error : null;
  const nameErr = err?.problem.field === "name" || err?.code === "dataset-exists" ? err.message : null;
  return (
    <InlineForm
      onSubmit={() => m.mutate()}
      footer={m.error && !nameErr ? <ErrorAlert error={m.error} title="The dataset was not created" /> : null}
    >
          <TextInput
            label="New dataset name"
            description="a-z 0-9 - _ . (jobs see it as /data/<name>)"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={nameErr}
            required
          />
          <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} style={{ flex: 1, minWidth: 180 }} />
          <Button type="submit" loading={m.isPending} disabled={!name.trim()}>
            Create dataset
          </Button>
    </InlineForm>
  );
}

export default function Datasets() {
  const { project, base } = useProject();
  const list = useCursorList<Dataset>(["datasets", project.id], `${projectApi(project.id)}/datasets`);
  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Title order={2} size="h4">
          Datasets
        </Title>
        <Anchor component={Link} to={`${base}/files`} size="sm">
          Files
        </Anchor>
      </Group>
      <NewDataset projectId={project.id} base={base} />
      {list.isPending ? (
        <Loading label="Loading datasets" />
      ) : list.error ? (
        <ErrorAlert error={list.error} title="The datasets could not be listed" />
      ) : list.items.length === 0 ? (
        <Paper withBorder p="md">
          <EmptyState title="No datasets yet">
            Name one above, then make its first version from a folder of the project's files.
          </EmptyState>
        </Paper>
      ) : (
        <Table aria-label="Datasets" verticalSpacing={4}>
          <HeadRow cols={["Name", "Latest version", "Created"]} />
          <Table.Tbody>
            {list.items.map((d) => (
              <Table.Tr key={d.id}>
                <Table.Td>
                  <Anchor component={Link} to={`${base}/datasets/${encodeURIComponent(d.name)}`}>
                    {d.name}
                  </Anchor>
                  {d.description ? (
                    <Text size="xs" c="dimmed">
                      {d.description}
                    </Text>
                  ) : null}
                </Table.Td>
                <Table.Td>{d.latest ?? "none yet"}</Table.Td>
                <Table.Td>{formatTime(d.created)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <LoadMore hasNextPage={list.hasNextPage} isFetchingNextPage={list.isFetchingNextPage} fetchNextPage={list.fetchNextPage} />
    </Stack>
  );
}
