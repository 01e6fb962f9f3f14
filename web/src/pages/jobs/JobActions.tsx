// Cancel, hold, release, requeue: only those the job's state allows; the answer (or the error,
// in words) shows at once, the event stream brings what follows.
import { Button, Group } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { actOn, jobKeys, validActions, type Job, type JobAction } from "../../api/jobs";
import { ErrorAlert } from "../../components/ErrorAlert";
import { mergeJob } from "./jobCache";

const LABELS: Record<JobAction, string> = { cancel: "Cancel", hold: "Hold", release: "Release", requeue: "Requeue" };

export function JobActions({ job }: { job: Job }) {
  const qc = useQueryClient();
  const act = useMutation({
    mutationFn: (a: JobAction) => actOn(job.id, a),
    // The answer may come after the event stream brought what followed (a cancelled job's end).
    onSuccess: (j) => qc.setQueryData<Job>(jobKeys.one(job.id), (old) => mergeJob(old, j)),
  });
  const actions = validActions(job);
  return (
    <div>
      <Group gap="xs">
        {actions.map((a) => (
          <Button
            key={a}
            size="xs"
            variant={a === "cancel" ? "outline" : "default"}
            color={a === "cancel" ? "red" : undefined}
            loading={act.isPending && act.variables === a}
            disabled={act.isPending}
            onClick={() => act.mutate(a)}
          >
            {LABELS[a]}
          </Button>
        ))}
      </Group>
      {act.error ? (
        <div style={{ marginTop: 8 }}>
          <ErrorAlert error={act.error} title={`Could not ${act.variables ?? "do that"}`} />
        </div>
      ) : null}
    </div>
  );
}
