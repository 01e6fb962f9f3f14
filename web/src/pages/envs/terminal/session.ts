// The terminal's connection, without the DOM: terminado's protocol (JSON text frames:
// ["stdin", s] and ["set_size", rows, cols] out; ["setup", {}], ["stdout", s] and
// ["disconnect", n] in) and what happens when the connection drops: reconnect with a growing
// delay (a new shell: the old one ended with its connection), visibly, until it works; a shell
// that exited by itself ("disconnect") waits for the user to ask for a new one.
export type Phase = "connecting" | "connected" | "waiting" | "ended";

export interface SessionView {
  phase: Phase;
  retryIn?: number; // seconds until the next try ("waiting")
  attempts: number;
}

export type Incoming = { kind: "stdout"; data: string } | { kind: "setup" } | { kind: "disconnect" } | { kind: "other" };

export function decode(frame: string): Incoming {
  let m: unknown;
  try {
    m = JSON.parse(frame);
  } catch {
    return { kind: "other" };
  }
  if (!Array.isArray(m) || typeof m[0] !== "string") return { kind: "other" };
  if (m[0] === "stdout" && typeof m[1] === "string") return { kind: "stdout", data: m[1] };
  if (m[0] === "setup") return { kind: "setup" };
  if (m[0] === "disconnect") return { kind: "disconnect" };
  return { kind: "other" };
}

export const stdin = (s: string) => JSON.stringify(["stdin", s]);
export const setSize = (rows: number, cols: number) => JSON.stringify(["set_size", rows, cols]);

// 1, 2, 4, 8, then 10 s between tries.
export const backoff = (attempt: number) => Math.min(10, 2 ** Math.max(0, attempt - 1));

export function phaseText(v: SessionView): string {
  switch (v.phase) {
    case "connecting":
      return v.attempts > 1 ? `Reconnecting (try ${v.attempts})…` : "Connecting…";
    case "connected":
      return "Connected";
    case "waiting":
      return `Connection lost: reconnecting in ${v.retryIn ?? 0} s`;
    case "ended":
      return "The shell ended: Reconnect starts a new one";
  }
}

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
}

export interface SessionDeps {
  open: () => SocketLike;
  output: (s: string) => void;
  view: (v: SessionView) => void;
  size: () => { rows: number; cols: number };
  setTimer: (f: () => void, ms: number) => unknown;
  clearTimer: (t: unknown) => void;
}

export class Session {
  private ws: SocketLike | null = null;
  private attempts = 0;
  private timer: unknown = null;
  private ended = false;
  private v: SessionView = { phase: "connecting", attempts: 0 };
  private readonly d: SessionDeps;

  constructor(deps: SessionDeps) {
    this.d = deps;
  }

  get view(): SessionView {
    return this.v;
  }

  private show(v: SessionView) {
    this.v = v;
    this.d.view(v);
  }

  connect(): void {
    if (this.timer !== null) this.d.clearTimer(this.timer);
    this.timer = null;
    this.ended = false;
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = null;
      old.close();
    }
    this.attempts += 1;
    this.show({ phase: "connecting", attempts: this.attempts });
    const ws = this.d.open();
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.show({ phase: "connected", attempts: 0 });
      this.resize();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      const m = decode(ev.data);
      if (m.kind === "stdout") this.d.output(m.data);
      else if (m.kind === "disconnect") this.ended = true;
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.ended) {
        this.attempts = 0;
        this.show({ phase: "ended", attempts: 0 });
        return;
      }
      this.wait(backoff(this.attempts));
    };
  }

  private wait(seconds: number) {
    this.show({ phase: "waiting", retryIn: seconds, attempts: this.attempts });
    this.timer = this.d.setTimer(() => {
      this.timer = null;
      if (seconds > 1) this.wait(seconds - 1);
      else this.connect();
    }, 1000);
  }

  send(s: string): void {
    if (this.ws && this.v.phase === "connected") this.ws.send(stdin(s));
  }

  resize(): void {
    if (!this.ws || this.v.phase !== "connected") return;
    const { rows, cols } = this.d.size();
    if (rows > 0 && cols > 0) this.ws.send(setSize(rows, cols));
  }
}
