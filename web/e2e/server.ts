// One real `atrium server` for the browser tests: the binary from the build (ATRIUM_BIN), on
// 127.0.0.1 port 0, with its own temporary data directory and the built UI (ATRIUM_WEB_DIR).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ADMIN_PASSWORD = "admin-e2e-password-1";
export const USER_PASSWORD = "user-e2e-password-1";

export interface ServerOptions {
  // The first admin's password; null: let the server generate and print a one-time password.
  adminPassword?: string | null;
  env?: Record<string, string>;
  args?: string[];
}

export class AtriumServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly adminPassword: string;
  readonly output: string[];
  private readonly proc: ChildProcess;

  private constructor(proc: ChildProcess, port: number, dataDir: string, adminPassword: string, output: string[]) {
    this.proc = proc;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = dataDir;
    this.adminPassword = adminPassword;
    this.output = output;
  }

  static async start(opts: ServerOptions = {}): Promise<AtriumServer> {
    const bin = process.env.ATRIUM_BIN ?? resolve(import.meta.dirname, "../../build/src/atrium");
    const webDir = process.env.ATRIUM_WEB_DIR ?? resolve(import.meta.dirname, "../../build/web");
    const dataDir = mkdtempSync(join(tmpdir(), "atrium-e2e-"));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ATRIUM_") && v !== undefined) env[k] = v;
    const adminPassword = opts.adminPassword === undefined ? ADMIN_PASSWORD : opts.adminPassword;
    if (adminPassword !== null) env.ATRIUM_ADMIN_PASSWORD = adminPassword;
    Object.assign(env, {
      ATRIUM_SERVER_IO_THREADS: "2",
      ATRIUM_SERVER_WORKER_THREADS: "4",
      ATRIUM_STRICT_THREADS: "1",
      ATRIUM_WEB_ASSETS_DIR: webDir,
      // Every test signs in from 127.0.0.1: the per-address sign-in limit is tested on its own server.
      ATRIUM_AUTH_LOGIN_IP_PER_MINUTE: "10000",
      ...opts.env,
    });
    const proc = spawn(bin, ["server", "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...(opts.args ?? [])], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    let generated = "";
    const port = await new Promise<number>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`atrium did not listen:\n${output.join("")}`)), 30_000);
      proc.on("exit", (code) => fail(new Error(`atrium exited (${code}):\n${output.join("")}`)));
      proc.stderr!.on("data", (b: Buffer) => output.push(b.toString()));
      proc.stdout!.on("data", (b: Buffer) => {
        const s = b.toString();
        output.push(s);
        const pw = s.match(/one-time password: (\S+)/);
        if (pw) generated = pw[1];
        const m = s.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
        if (m) {
          clearTimeout(timer);
          ok(Number(m[1]));
        }
      });
    });
    return new AtriumServer(proc, port, dataDir, adminPassword ?? generated, output);
  }

  // Stops the server (SIGTERM, then SIGKILL) and removes its data directory.
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((ok) => this.proc.once("exit", ok));
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
