// /jobs: my jobs in every project, live.
import { Stack, Title } from "@mantine/core";
import { useSearchParams } from "react-router";
import { JobQueue, NoJobs } from "./JobQueue";

export default function MyJobs() {
  const [params, setParams] = useSearchParams();
  const state = params.get("state") ?? "";
  return (
    <Stack>
      <Title order={1}>My jobs</Title>
      <JobQueue
        scope="mine"
        path="/api/v1/jobs"
        state={state}
        onState={(s) => setParams(s ? { state: s } : {}, { replace: true })}
        empty={
          <NoJobs filtered={!!state}>
            Open a project and choose <strong>Jobs → New job</strong> to run a command or a script.
          </NoJobs>
        }
      />
    </Stack>
  );
}
