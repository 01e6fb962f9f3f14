// Make a dataset's next version from a folder of the project's files, as they are now.
import { Button, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import type { DatasetVersion } from "../../api/data";
import { ApiError } from "../../api/problem";
import { ErrorAlert } from "../../components/ErrorAlert";
import { InlineForm } from "./bits";

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
  return (
    <InlineForm
      onSubmit={() => m.mutate()}
      footer={m.error && !fieldErr ? <ErrorAlert error={m.error} title="No version was made" /> : null}
    >
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
    </InlineForm>
  );
}
