// An environment's state as a coloured badge in words; QUEUED says why (the scheduler's reason).
import { Badge, Group, Text } from "@mantine/core";
import { reasonWords, stateColor, stateWords } from "./envState";

export function EnvStateBadge({ state, reason, showReason = false }: { state: string; reason?: string; showReason?: boolean }) {
  const why = state === "QUEUED" || state === "FAILED" ? (state === "QUEUED" ? reasonWords(reason ?? "") : reason) : "";
  return (
    <Group gap={6} wrap="nowrap">
      <Badge color={stateColor(state)} variant="dot" title={why || undefined}>
        {stateWords(state)}
      </Badge>
      {showReason && why ? (
        <Text size="xs" c="dimmed" lineClamp={2}>
          {why}
        </Text>
      ) : null}
    </Group>
  );
}
