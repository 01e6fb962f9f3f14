// /{org}/{project}/jobs: the project's queue, live, and "New job".
import { Button, Group, Paper, Title } from "@mantine/core";
import { useSearchParams } from "react-router";
import { useProject } from "../projects/ProjectShell";
import { JobQueue, NoJobs } from "./JobQueue";
import { SubmitForm } from "./SubmitForm";

export default function ProjectJobs() {
  const { project } = useProject();
  const [params, setParams] = useSearchParams();
  const state = params.get("state") ?? "";
  const open = params.get("new") === "1";
  const update = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };
  return (
    <>
      <Group justify="space-between">
        <Title order={2}>Jobs</Title>
        {!open && !project.archived ? <Button onClick={() => update("new", "1")}>New job</Button> : null}
      </Group>
      {open ? (
        <Paper withBorder p="md">
          <Title order={3} mb="sm">
            New job
          </Title>
          <SubmitForm projectId={project.id} orgId={project.org_id} onDone={() => update("new", "")} />
        </Paper>
      ) : null}
      <JobQueue
        scope={project.id}
        projectId={project.id}
        path={`/api/v1/projects/${project.id}/jobs`}
        state={state}
        onState={(s) => update("state", s)}
        empty={<NoJobs filtered={!!state}>Choose <strong>New job</strong> to run a command or a script on this project's code and data.</NoJobs>}
      />
    </>
  );
}
