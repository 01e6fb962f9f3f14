// A job's state as a coloured badge (a coloured dot; the state is its text).
import { Badge } from "@mantine/core";

const COLORS: Record<string, string> = {
  PENDING: "yellow",
  RUNNING: "blue",
  COMPLETED: "green",
  FAILED: "red",
  CANCELLED: "gray",
  TIMEOUT: "orange",
  OUT_OF_MEMORY: "orange",
  NODE_FAIL: "red",
};

export function JobStateBadge({ state, held = false }: { state: string; held?: boolean }) {
  return (
    <Badge color={COLORS[state] ?? "gray"} variant="dot" data-state={state}>
      {held && state === "PENDING" ? "PENDING (held)" : state}
    </Badge>
  );
}
