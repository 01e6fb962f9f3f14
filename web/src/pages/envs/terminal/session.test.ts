import { describe, expect, it } from "vitest";
import { backoff, decode, phaseText, Session, type SessionView, type SocketLike } from "./session";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  send(d: string) {
    this.sent.push(d);
  }
  close() {
    this.closed = true;
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  const views: SessionView[] = [];
  let out = "";
  const s = new Session({
    open: () => {
      const f = new FakeSocket();
      sockets.push(f);
      return f;
    },
    output: (d) => (out += d),
    view: (v) => views.push(v),
    size: () => ({ rows: 30, cols: 100 }),
    setTimer: (f) => timers.push(f),
    clearTimer: () => {},
  });
  return { s, sockets, timers, views, out: () => out };
}

describe("terminado frames", () => {
  it("decodes what the terminal app sends and ignores the rest", () => {
    expect(decode('["stdout", "hi"]')).toEqual({ kind: "stdout", data: "hi" });
    expect(decode('["setup", {}]')).toEqual({ kind: "setup" });
    expect(decode('["disconnect", 1]')).toEqual({ kind: "disconnect" });
    expect(decode("not json")).toEqual({ kind: "other" });
    expect(decode('{"a": 1}')).toEqual({ kind: "other" });
  });
});

describe("Session", () => {
  it("sends the size once connected, then input", () => {
    const h = harness();
    h.s.connect();
    h.s.send("lost");  // not connected yet: dropped
    h.sockets[0].onopen!({});
    h.s.send("ls\r");
    expect(h.sockets[0].sent).toEqual(['["set_size",30,100]', '["stdin","ls\\r"]']);
    h.sockets[0].onmessage!({ data: '["stdout","file\\r\\n"]' });
    expect(h.out()).toBe("file\r\n");
    expect(phaseText(h.s.view)).toBe("Connected");
  });

  it("reconnects after a dropped connection, counting down visibly", () => {
    const h = harness();
    h.s.connect();
    h.sockets[0].onopen!({});
    h.sockets[0].onclose!({});
    expect(h.s.view).toEqual({ phase: "waiting", retryIn: 1, attempts: 0 });
    expect(phaseText(h.s.view)).toBe("Connection lost: reconnecting in 1 s");
    h.timers.shift()!();
    expect(h.sockets).toHaveLength(2);
    expect(h.s.view.phase).toBe("connecting");
    h.sockets[1].onclose!({});  // fails again: waits longer
    expect(h.s.view).toEqual({ phase: "waiting", retryIn: 1, attempts: 1 });
    h.timers.shift()!();
    h.sockets[2].onclose!({});
    expect(h.s.view.retryIn).toBe(2);
    expect(backoff(10)).toBe(10);
  });

  it("waits for the user after the shell ended by itself", () => {
    const h = harness();
    h.s.connect();
    h.sockets[0].onopen!({});
    h.sockets[0].onmessage!({ data: '["disconnect", 1]' });
    h.sockets[0].onclose!({});
    expect(h.s.view.phase).toBe("ended");
    expect(h.timers).toHaveLength(0);
    h.s.connect();
    expect(h.sockets).toHaveLength(2);
  });

  it("a manual reconnect replaces a live socket without a second reconnect", () => {
    const h = harness();
    h.s.connect();
    h.sockets[0].onopen!({});
    h.s.connect();
    expect(h.sockets[0].closed).toBe(true);
    expect(h.sockets[0].onclose).toBeNull();
    expect(h.sockets).toHaveLength(2);
  });
});
