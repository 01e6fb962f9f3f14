// Live environments without polling: GET /api/v1/envs/events (server-sent events, each an
// environment's JSON as it changes: the caller's own, or with `project` every environment of that
// project the caller may read; the active ones come first). The browser's EventSource reopens a
// dropped stream by itself; the server ends each after ten minutes and is asked again.
import { useEffect, useState } from "react";
import { envListEventsPath, type Env } from "../../api/envs";

export interface EnvEvents {
  // The newest copy of each environment the stream sent, by id.
  envs: ReadonlyMap<string, Env>;
  // Whether the stream is open now (false while it reconnects).
  connected: boolean;
}

export function useEnvEvents(opts: { project?: string; enabled?: boolean } = {}): EnvEvents {
  const { project, enabled = true } = opts;
  const [envs, setEnvs] = useState<ReadonlyMap<string, Env>>(() => new Map());
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (!enabled || typeof EventSource === "undefined") return;
    const source = new EventSource(envListEventsPath(project));
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(source.readyState === EventSource.OPEN);
    source.addEventListener("env", (ev) => {
      let e: Env;
      try {
        e = JSON.parse((ev as MessageEvent<string>).data) as Env;
      } catch {
        return;
      }
      setConnected(true);
      setEnvs((m) => new Map(m).set(e.id, e));
    });
    return () => {
      source.close();
      setConnected(false);
    };
  }, [project, enabled]);
  return { envs, connected };
}
