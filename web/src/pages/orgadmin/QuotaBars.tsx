// One quota's use against its limit: a bar (red when over), and the figures in words.
import { Progress, Stack, Text } from "@mantine/core";
import { formatAmount, LIMIT_LABEL, percentUsed, type Counted, type Quota } from "../../api/quotas";

export function UsageBar({ quota, what }: { quota: Quota; what: Counted }) {
  const used = Number(quota.usage[what] ?? 0);
  const limit = quota.limits[what];
  const pct = percentUsed(used, limit);
  const words =
    limit === null
      ? `${formatAmount(what, used)} used, unlimited`
      : `${formatAmount(what, used)} of ${formatAmount(what, limit)}`;
  const days = quota.limits.cpu_period_days;
  const per = what === "cpu_hours" && limit !== null && days ? ` per ${days} days` : "";
  const over = pct !== null && pct > 100;
  return (
    <Stack gap={2} miw={130}>
      {pct === null ? null : (
        <Progress
          value={Math.min(100, pct)}
          color={over ? "red" : pct >= 90 ? "orange" : "blue"}
          size="sm"
          aria-label={`${LIMIT_LABEL[what]}: ${words}`}
        />
      )}
      <Text size="xs" c={over ? "red.8" : undefined} fw={over ? 700 : undefined}>
        {words}
        {per}
        {over ? " (over the limit)" : ""}
      </Text>
    </Stack>
  );
}
