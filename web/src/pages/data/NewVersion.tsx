// Make a dataset's next version from a folder of the project's files, as they are now.
import { Button, Group, Paper, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { fetchJson } from "../../api/client";
import type { DatasetVersion } from "../../api/data";
import { ApiError } from "../../api/problem";
import { ErrorAlert } from "../../components/ErrorAlert";

export function NewVersion({ datasetId, onMade }: { datasetId: string; onMade: (v: DatasetVersion) => void }) {
  const [prefix, setPrefix] = useState("");
  const [message, setMessage] = useState("");
  const qc = useQueryClient();
  const m = useMutation({
    mutationFn: () =>
      fetchJson<DatasetVersion>(`/api/v1/datasets/${encodeURIComponent(datasetId)}/versions`, {
        method: "POST",
        body: JSON.stringify({ prefix: prefix.trim().replace(/^\/+|\/+$/g, ""), message }),
      }),
    onSuccess: async (v) => {
      await qc.invalidateQueries({ queryKey: ["dataset", datasetId] });
      setMessage("");
      onMade(v);
    },
  });
  const fieldErr = m.error instanceof ApiError && m.error.problem.field === "prefix" ? m.error.message : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <Paper withBorder p="sm">
      <form onSubmit={submit}>
        <Group align="flex-end" gap="sm" wrap="wrap">
          <TextInput
            label="Folder"
            description="The project's files below it become the version (empty: every file)"
            placeholder="e.g. raw/2026"
            value={prefix}
            onChange={(e) => setPrefix(e.currentTarget.value)}
            error={fieldErr}
          />
          <TextInput label="Message" value={message} onChange={(e) => setMessage(e.currentTarget.value)} style={{ flex: 1, minWidth: 160 }} />
          <Button type="submit" loading={m.isPending}>
            Make version
          </Button>
        </Group>
        {m.error && !fieldErr ? <ErrorAlert error={m.error} title="No version was made" /> : null}
      </form>
    </Paper>
  );
}
