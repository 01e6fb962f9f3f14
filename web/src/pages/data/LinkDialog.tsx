// Make a signed download link, to a file as it is now or to a whole dataset version: its expiry,
// one-time use (files only: the API makes version links reusable), and the URL once, with a copy
// button (the server never shows the token again).
import { Button, Checkbox, Code, Group, Modal, Select, Stack, Text } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson } from "../../api/client";
import { projectApi, type LinkInfo } from "../../api/data";
import { CopyButton } from "../../components/CopyButton";
import { ErrorAlert } from "../../components/ErrorAlert";
import { formatTime } from "./format";

const EXPIRY = [
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "1 day" },
  { value: "604800", label: "7 days" },
  { value: "2592000", label: "30 days" },
];

export type LinkTarget = { kind: "file"; path: string } | { kind: "version"; datasetId: string; name: string; version: number };

export function LinkDialog({ projectId, target, onClose }: { projectId: string; target: LinkTarget; onClose: () => void }) {
  const [expiry, setExpiry] = useState("86400");
  const [oneTime, setOneTime] = useState(false);
  const qc = useQueryClient();
  const m = useMutation({
    mutationFn: () =>
      target.kind === "file"
        ? fetchJson<LinkInfo>(`${projectApi(projectId)}/links`, {
            method: "POST",
            body: JSON.stringify({ path: target.path, expires_in_s: Number(expiry), one_time: oneTime }),
          })
        : fetchJson<LinkInfo>(
            `/api/v1/datasets/${encodeURIComponent(target.datasetId)}/versions/${target.version}/links`,
            { method: "POST", body: JSON.stringify({ expires_in_s: Number(expiry) }) },
          ),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["links", projectId] }),
  });
  const what = target.kind === "file" ? target.path : `${target.name} version ${target.version}`;
  const url = m.data?.url ? `${window.location.origin}${m.data.url}` : "";
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ "aria-label": "Close" }} title={`Signed link to ${what}`}>
      <Stack gap="sm">
        {url ? (
          <>
            <Text size="sm">
              Anyone with this link can download {what} until {formatTime(m.data!.expires)}
              {m.data!.one_time ? ", once" : ""}. It is shown only now.
            </Text>
            <Code block tabIndex={0} aria-label="Signed link" style={{ wordBreak: "break-all" }}>
              {url}
            </Code>
            <Group justify="flex-end">
              <CopyButton value={url} label="Copy link" />
              <Button variant="default" onClick={onClose}>
                Done
              </Button>
            </Group>
          </>
        ) : (
          <>
            <Select label="Expires after" data={EXPIRY} value={expiry} onChange={(v) => setExpiry(v == null ? "86400" : String(v))} allowDeselect={false} />
            {target.kind === "file" ? (
              <Checkbox label="One-time: the link works for one download" checked={oneTime} onChange={(e) => setOneTime(e.currentTarget.checked)} />
            ) : (
              <Text size="xs" c="dimmed">
                A version link lists the version's files and downloads each; it works until it expires or is revoked.
              </Text>
            )}
            <ErrorAlert error={m.error} title="No link was made" />
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button loading={m.isPending} onClick={() => m.mutate()}>
                Make link
              </Button>
            </Group>
          </>
        )}
      </Stack>
    </Modal>
  );
}
