// /{org}/{project}/compare?base=&head=: what changed from one branch, tag or commit to another.
import { Group, Select, Stack, Text, Title } from "@mantine/core";
import { useSearchParams } from "react-router";
import { useCompare, useRefs, useRepo } from "../../api/code";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { useProject } from "../projects/ProjectShell";
import { DiffView } from "./DiffView";

export default function ComparePage() {
  const { project } = useProject();
  const [params, setParams] = useSearchParams();
  const repo = useRepo(project.id);
  const { branches, tags } = useRefs(project.id);
  const baseRef = params.get("base") ?? "";
  const head = params.get("head") ?? repo.data?.default_branch ?? "";
  const diff = useCompare(project.id, baseRef, head, !!baseRef && !!head);
  const names = [...(branches.data?.items ?? []), ...(tags.data?.items ?? [])].map((r) => r.name);
  const options = (v: string) => [...new Set([...names, ...(v ? [v] : [])])];
  const set = (k: string, v: string | null) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p);
  };
  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        Compare
      </Title>
      <ErrorAlert error={repo.error ?? branches.error ?? tags.error} title="The repository could not be loaded" />
      <Group gap="sm" align="flex-end" wrap="wrap">
        <Select label="Base" size="xs" w={200} searchable value={baseRef || null} data={options(baseRef)} onChange={(v) => set("base", v)} />
        <Text size="sm" pb={4}>
          →
        </Text>
        <Select label="Head" size="xs" w={200} searchable value={head || null} data={options(head)} onChange={(v) => set("head", v)} />
      </Group>
      {!baseRef ? <Text size="sm">Choose the base to compare {head || "the head"} with.</Text> : null}
      {baseRef && head && diff.isPending ? <Loading label="Comparing" /> : null}
      <ErrorAlert error={diff.error} title="These could not be compared" />
      {diff.data ? <DiffView diff={diff.data} /> : null}
    </Stack>
  );
}
