// /envs/{id}/terminal: the way into a terminal environment. The terminal itself (xterm.js, full
// window) is a page Atrium serves on the environment's OWN origin (/_atrium/terminal there, the
// build's terminal.html): its WebSocket goes to the terminal app on that same origin with the
// environment's cookie, so nothing the shell prints is ever handled on Atrium's origin, where a
// flaw in the terminal emulator could reach the user's session. This page waits, live, for the
// environment to be READY, then sends the browser there through /env/{id}/_atrium/terminal (the
// main origin hands it a one-time ticket for that origin).
import { Anchor, Button, Center, Paper, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { Link, useParams } from "react-router";
import { getEnv, terminalPath } from "../../api/envs";
import { RequireAuth } from "../../auth/session";
import { ErrorAlert } from "../../components/ErrorAlert";
import { Loading } from "../../components/Loading";
import { EnvStateBadge } from "./EnvStateBadge";
import { isActive, reasonWords } from "./envState";
import { useEnvEvents } from "./useEnvEvents";

function Waiting({ id }: { id: string }) {
  const q = useQuery({ queryKey: ["env", id], queryFn: () => getEnv(id) });
  const live = useEnvEvents({ enabled: q.isSuccess && isActive(q.data) });
  const env = live.envs.get(id) ?? q.data;
  const ready = env?.state === "READY" && env.kind === "terminal";
  useEffect(() => {
    if (ready) window.location.replace(terminalPath(id));
  }, [ready, id]);
  if (q.isPending) return <Loading label="Loading the environment" />;
  if (q.error || !env) return <ErrorAlert error={q.error} title="This environment could not be loaded" />;
  return (
    <Stack gap="sm">
      <Title order={1} size="h3">
        Terminal <Text span className="mono" size="sm" c="dimmed">{id}</Text>
      </Title>
      <EnvStateBadge state={env.state} reason={env.reason} />
      {env.kind !== "terminal" ? (
        <Text>
          This environment runs {env.app}, not a terminal.{" "}
          <Anchor href={`/env/${encodeURIComponent(id)}/`}>Open {env.app}</Anchor>
        </Text>
      ) : ready ? (
        <Text role="status">Opening the terminal…</Text>
      ) : isActive(env) ? (
        <Text role="status" aria-live="polite">
          {env.state === "QUEUED" ? `Queued: ${reasonWords(env.reason) || "waiting for the scheduler"}` : "Starting the terminal…"}
        </Text>
      ) : (
        <Text role="alert">
          This terminal has ended{env.reason ? `: ${env.reason}` : ""}. Launch a new one from the project's Environments tab.
        </Text>
      )}
      <Button component={Link} to="/envs" variant="default" size="xs" style={{ alignSelf: "flex-start" }}>
        My environments
      </Button>
    </Stack>
  );
}

export default function Terminal() {
  const { id = "" } = useParams();
  return (
    <RequireAuth>
      <Center mih="100vh" p="md" component="main">
        <Paper withBorder p="lg" w={520} maw="100%">
          <Waiting id={id} />
        </Paper>
      </Center>
    </RequireAuth>
  );
}
