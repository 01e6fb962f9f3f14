// The branch moved while the user edited: their version (the branch now) against the user's
// text, with the two ways out: commit the user's text on top of the new head, or take theirs.
import { Alert, Button, Group, Stack, Text } from "@mantine/core";
import { shortId } from "../../api/code";
import { countChanges, lineDiff } from "./diff";
import { Hunks } from "./DiffView";

export interface ConflictState {
  head: string | null; // the branch's head now
  theirs: string | null; // the file there (null: not on the branch)
}

export function Conflict({
  conflict,
  branch,
  mine,
  busy,
  onKeepMine,
  onTakeTheirs,
}: {
  conflict: ConflictState;
  branch: string;
  mine: string;
  busy: boolean;
  onKeepMine: () => void;
  onTakeTheirs: () => void;
}) {
  const hunks = lineDiff(conflict.theirs ?? "", mine);
  const { additions, deletions } = countChanges(hunks);
  return (
    <Alert color="gray" title={`${branch} has changed since you started editing`} role="alert">
      <Stack gap="xs">
        <Text size="sm">
          Someone committed to {branch} meanwhile
          {conflict.head ? ` (it is now at ${shortId(conflict.head)})` : ""}.{" "}
          {conflict.theirs === null
            ? "The file is no longer on the branch."
            : hunks.length
              ? `Their version against yours: ${additions} lines only in yours, ${deletions} only in theirs.`
              : "Their version is the same as yours."}
        </Text>
        {hunks.length ? <Hunks hunks={hunks} label="Their version (old) against yours (new)" /> : null}
        <Group gap="sm">
          <Button onClick={onKeepMine} loading={busy} disabled={!conflict.head}>
            Keep mine and commit on top
          </Button>
          <Button variant="default" onClick={onTakeTheirs} disabled={busy}>
            Take theirs
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}
