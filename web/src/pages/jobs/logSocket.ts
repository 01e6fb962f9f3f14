// Follows a job's output over the WebSocket of GET /api/v1/jobs/{id}/logs: binary messages from
// `offset`; the server closes with 1000 once the job has ended (or after its follow limit, while
// the job still runs: then, as after a dropped connection, it reconnects from the offset reached).
import { backoff } from "./eventSource";
import { LogDecoder, type Span } from "./logDecode";

export interface LogFollower {
  close(): void;
}

export function logSocketUrl(jobId: string, stream: string, offset: number, loc: Location = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/api/v1/jobs/${encodeURIComponent(jobId)}/logs?stream=${stream}&offset=${offset}`;
}

export function followLog(
  jobId: string,
  stream: "stdout" | "stderr",
  on: {
    spans: (s: Span[]) => void;
    status: (s: "live" | "reconnecting" | "ended") => void;
    stillRunning: () => boolean;
  },
): LogFollower {
  const dec = new LogDecoder(0);
  let ws: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let closed = false;
  const open = () => {
    ws = new WebSocket(logSocketUrl(jobId, stream, dec.offset));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      failures = 0;
      on.status("live");
    };
    ws.onmessage = (m) => {
      if (m.data instanceof ArrayBuffer) {
        const s = dec.push(new Uint8Array(m.data));
        if (s.length) on.spans(s);
      }
    };
    ws.onclose = (e) => {
      ws = null;
      if (closed) return;
      if (e.code === 1000 && !on.stillRunning()) {
        const rest = dec.end();
        if (rest.length) on.spans(rest);
        on.status("ended");
        return;
      }
      failures += 1;
      on.status("reconnecting");
      timer = setTimeout(open, e.code === 1000 ? 0 : backoff(failures));
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      ws?.close();
    },
  };
}
