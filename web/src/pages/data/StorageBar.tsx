// Storage used against the quota: the organisation's (for those who may read it) and the
// signed-in user's own. A quota without a storage limit shows what is used.
import { Group, Progress, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { fetchJson } from "../../api/client";
import type { Quota } from "../../api/data";
import { useMe } from "../../auth/session";
import { formatBytes } from "./format";

function Bar({ label, q }: { label: string; q: Quota }) {
  const used = q.usage.storage_bytes ?? 0;
  const limit = q.limits.storage_bytes;
  const pct = limit ? Math.min(100, (100 * used) / limit) : 0;
  return (
    <Stack gap={2} style={{ flex: 1, minWidth: 180 }}>
      <Text size="xs">
        {label}: {formatBytes(used)}
        {limit != null ? ` of ${formatBytes(limit)}` : " used (no limit)"}
      </Text>
      {limit != null ? (
        <Progress value={pct} color={pct > 90 ? "red" : pct > 75 ? "orange" : undefined} aria-label={`${label} storage used`} />
      ) : null}
    </Stack>
  );
}

function useQuota(orgId: string, kind: string, subject: string) {
  return useQuery({
    queryKey: ["quota", orgId, kind, subject],
    queryFn: () =>
      fetchJson<Quota>(`/api/v1/orgs/${encodeURIComponent(orgId)}/quotas/${kind}/${encodeURIComponent(subject)}`),
    retry: false,
    staleTime: 10_000,
  });
}

export function StorageBar({ orgId }: { orgId: string }) {
  const me = useMe();
  const org = useQuota(orgId, "org", orgId);
  const mine = useQuota(orgId, "user", me.id);
  if (!org.data && !mine.data) return null; // neither readable: nothing to show
  return (
    <Group gap="lg" wrap="wrap" role="group" aria-label="Storage">
      {org.data ? <Bar label="Organisation" q={org.data} /> : null}
      {mine.data ? <Bar label="You" q={mine.data} /> : null}
    </Group>
  );
}
