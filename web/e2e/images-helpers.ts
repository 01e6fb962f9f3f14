// The images browser tests' registry: e2e/test-registry.py (the integration tests' fixture run as
// a script) builds the tiny busybox image, serves it from docker-registry on 127.0.0.1 and says
// where; closing its stdin stops it.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export interface TestRegistry {
  host: string; // 127.0.0.1:PORT
  repo: string;
  tag: string;
  digest: string;
  squashfs: string; // a squashfs file of the same root (to upload and import)
  stop: () => Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const script = resolve(import.meta.dirname, "test-registry.py");
  const proc: ChildProcess = spawn("/usr/bin/python3", [script], { stdio: ["pipe", "pipe", "pipe"] });
  const output: string[] = [];
  const info = await new Promise<Omit<TestRegistry, "stop">>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the test registry did not start:\n${output.join("")}`)), 30_000);
    proc.on("exit", (code) => fail(new Error(`the test registry exited (${code}):\n${output.join("")}`)));
    proc.stderr!.on("data", (b: Buffer) => output.push(b.toString()));
    let buf = "";
    proc.stdout!.on("data", (b: Buffer) => {
      buf += b.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        ok(JSON.parse(buf.slice(0, nl)));
      }
    });
  });
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((ok) => proc.once("exit", ok));
    proc.stdin!.end();
    const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(t);
  };
  return { ...info, stop };
}
