// The uploads of a project: a file picker, the progress of each file (bar, speed, time left,
// cancel, retry), and the uploads a reload interrupted, which go on when the same file is
// dropped or chosen again. Dropping files anywhere on the files page adds them (Files.tsx).
import { Button, Checkbox, Group, Paper, Progress, Stack, Text, VisuallyHidden } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useReducer, useRef, useSyncExternalStore } from "react";
import { fetchJson } from "../../api/client";
import type { UploadInfo } from "../../api/data";
import { ApiError } from "../../api/problem";
import { formatBytes, formatDuration, formatSpeed } from "./format";
import type { UploadItem, UploadQueue } from "./upload/queue";
import { getUploader, uploadErrorText } from "./upload/queues";
import type { ResumeRecord } from "./upload/resume";

function ItemRow({ item, queue }: { item: UploadItem; queue: UploadQueue }) {
  const pct = item.size ? (100 * item.sent) / item.size : item.state === "done" ? 100 : 0;
  const label = `Upload of ${item.name}`;
  let status: string;
  if (item.state === "uploading")
    status = `${formatBytes(item.sent)} of ${formatBytes(item.size)} · ${formatSpeed(item.speed)} · ${formatDuration(item.eta)} left`;
  else if (item.state === "done") status = `Uploaded ${formatBytes(item.size)}`;
  else if (item.state === "queued") status = "Waiting";
  else if (item.state === "cancelled") status = "Cancelled";
  else status = uploadErrorText(item.error);
  return (
    <Stack gap={2}>
      <Group justify="space-between" wrap="nowrap" gap="xs">
        <Text size="sm" fw={500} truncate="end" title={item.path}>
          {item.path}
          {item.resumedFrom ? (
            <Text span size="xs" c="dimmed">
              {" "}
              (resumed at {formatBytes(item.resumedFrom)})
            </Text>
          ) : null}
        </Text>
        {item.state === "uploading" || item.state === "queued" ? (
          <Button size="compact-xs" variant="subtle" color="red" onClick={() => queue.cancel(item.key)} aria-label={`Cancel upload of ${item.name}`}>
            Cancel
          </Button>
        ) : item.state === "error" ? (
          <Button size="compact-xs" variant="subtle" onClick={() => queue.retry(item.key)} aria-label={`Retry upload of ${item.name}`}>
            Retry
          </Button>
        ) : null}
      </Group>
      <Progress value={pct} aria-label={label} color={item.state === "error" ? "red" : item.state === "done" ? "teal" : undefined} animated={item.state === "uploading"} />
      <Text size="xs" c={item.state === "error" ? "red" : "dimmed"} role={item.state === "error" ? "alert" : undefined}>
        {status}
      </Text>
    </Stack>
  );
}

// An upload a reload interrupted: where the server stands, and how to go on.
function Pending({ rec, onGone }: { rec: ResumeRecord; onGone: () => void }) {
  const q = useQuery({
    queryKey: ["upload", rec.uploadId],
    queryFn: () => fetchJson<UploadInfo>(`/api/v1/uploads/${encodeURIComponent(rec.uploadId)}`),
    retry: false,
  });
  const gone = q.error instanceof ApiError && q.error.status === 404;
  useEffect(() => {
    if (gone) getUploader().store.remove(rec.uploadId);
  }, [gone, rec.uploadId]);
  if (gone) return null;
  const offset = q.data?.offset ?? rec.offset;
  const discard = async () => {
    await getUploader().discard(rec.uploadId).catch(() => undefined);
    onGone();
  };
  return (
    <Group justify="space-between" wrap="nowrap" gap="xs">
      <Text size="sm">
        Resume: drop {rec.name} again to continue from {formatBytes(offset)} (of {formatBytes(rec.size)}, to {rec.path})
      </Text>
      <Button size="compact-xs" variant="subtle" color="red" onClick={discard} aria-label={`Discard the upload of ${rec.name}`}>
        Discard
      </Button>
    </Group>
  );
}

export function UploadPanel({
  queue,
  projectId,
  folder,
  overwrite,
  setOverwrite,
}: {
  queue: UploadQueue;
  projectId: string;
  folder: string;
  overwrite: boolean;
  setOverwrite: (v: boolean) => void;
}) {
  const items = useSyncExternalStore(queue.subscribe, queue.items);
  const [, refresh] = useReducer((n: number) => n + 1, 0);
  const input = useRef<HTMLInputElement>(null);
  const busy = new Set(items.filter((i) => i.state === "uploading" || i.state === "queued").map((i) => i.path));
  const pending = getUploader()
    .store.forProject(projectId)
    .filter((r) => !busy.has(r.path));
  return (
    <Paper withBorder p="sm">
      <Stack gap="xs">
        <Group gap="sm" wrap="wrap">
          <Button size="xs" onClick={() => input.current?.click()}>
            Upload files
          </Button>
          <VisuallyHidden>
            <input
              ref={input}
              type="file"
              multiple
              aria-label="Choose files to upload"
              tabIndex={-1}
              onChange={(e) => {
                queue.add(Array.from(e.currentTarget.files ?? []), folder, overwrite);
                e.currentTarget.value = "";
              }}
            />
          </VisuallyHidden>
          <Checkbox size="xs" label="Replace existing files" checked={overwrite} onChange={(e) => setOverwrite(e.currentTarget.checked)} />
          <Text size="xs" c="dimmed">
            or drop files on this page ({folder ? `into ${folder}` : "into the top folder"})
          </Text>
          {items.some((i) => i.state !== "uploading" && i.state !== "queued") ? (
            <Button size="compact-xs" variant="subtle" onClick={() => queue.clearFinished()}>
              Clear finished
            </Button>
          ) : null}
        </Group>
        {pending.map((r) => (
          <Pending key={r.uploadId} rec={r} onGone={refresh} />
        ))}
        {items.length ? (
          <Stack gap="xs" aria-label="Uploads" role="list">
            {items.map((i) => (
              <div role="listitem" key={i.key}>
                <ItemRow item={i} queue={queue} />
              </div>
            ))}
          </Stack>
        ) : null}
      </Stack>
    </Paper>
  );
}
