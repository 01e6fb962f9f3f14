// A launched environment's way to READY, live from the event stream: each state as it came, with
// the time since the launch (QUEUED says why it waits), then "Open" in a new tab: environments
// run on their own origin and are never embedded in Atrium's pages.
import { Alert, Button, Code, Group, Paper, Stack, Text, Timeline, Title } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { openPath, type Env } from "../../api/envs";
import { EnvStateBadge } from "./EnvStateBadge";
import { duration, reasonWords, stateWords } from "./envState";

interface Step {
  state: string;
  reason: string;
  at: number;
}

export function OpenEnvButton({ env, size = "sm" }: { env: Env; size?: string }) {
  if (env.kind === "terminal")
    return (
      <Button component={Link} to={`/envs/${env.id}/terminal`} target="_blank" rel="noopener noreferrer" size={size}>
        Open terminal
      </Button>
    );
  return (
    <Button component="a" href={openPath(env.id)} target="_blank" rel="noopener noreferrer" size={size}>
      Open {env.app}
    </Button>
  );
}

// `first`: the launch's own answer (QUEUED), the timeline's first step however fast the next come.
export function LaunchProgress({ env, first, started }: { env: Env; first: Env; started: number }) {
  const [steps, setSteps] = useState<Step[]>(() => [{ state: first.state, reason: first.reason, at: 0 }]);
  const last = useRef(`${first.state}\n${first.reason}`);
  useEffect(() => {
    const key = `${env.state}\n${env.reason}`;
    if (key === last.current) return;
    last.current = key;
    setSteps((s) => {
      const step = { state: env.state, reason: env.reason, at: Date.now() - started };
      return s.length && s[s.length - 1].state === env.state ? [...s.slice(0, -1), { ...step, at: s[s.length - 1].at }] : [...s, step];
    });
  }, [env.state, env.reason, started]);
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Group justify="space-between" wrap="wrap">
          <Title order={3} size="h4">
            {env.app} <Text span c="dimmed" size="sm" className="mono">{env.id}</Text>
          </Title>
          <EnvStateBadge state={env.state} reason={env.reason} />
        </Group>
        <Timeline active={steps.length - 1} bulletSize={14} lineWidth={2} aria-label="Launch progress">
          {steps.map((s) => (
            <Timeline.Item key={s.state} title={stateWords(s.state)}>
              <Text size="xs" c="dimmed">
                after {duration(s.at)}
                {s.state === "QUEUED" && s.reason ? ` — ${reasonWords(s.reason)}` : ""}
              </Text>
            </Timeline.Item>
          ))}
        </Timeline>
        <Text role="status" aria-live="polite" size="sm">
          {env.state === "QUEUED"
            ? `Queued: ${reasonWords(env.reason) || "waiting for the scheduler"}`
            : env.state === "STARTING"
              ? "Starting: the app runs; waiting for it to answer"
              : env.state === "READY"
                ? "Ready"
                : stateWords(env.state)}
        </Text>
        {env.state === "READY" ? (
          <Group>
            <OpenEnvButton env={env} />
          </Group>
        ) : null}
        {env.state === "FAILED" ? (
          <Alert color="red" title="The environment failed" role="alert">
            {env.reason}
            {env.log_tail ? <Code block mt="xs">{env.log_tail}</Code> : null}
          </Alert>
        ) : null}
      </Stack>
    </Paper>
  );
}
