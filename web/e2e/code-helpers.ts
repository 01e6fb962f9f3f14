// Arranging a repository for the code tests: commits made and pushed with the real git client,
// authenticated with the user's API token over HTTP basic, as a researcher's laptop would.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Api } from "./fixtures.ts";

export function cloneUrl(serverUrl: string, org: string, project: string, token: string): string {
  const u = new URL(serverUrl);
  return `${u.protocol}//x:${encodeURIComponent(token)}@${u.host}/${org}/${project}.git`;
}

// A local repository whose commits `git` makes; push() sends its main branch.
export class LocalRepo {
  readonly dir = mkdtempSync(join(tmpdir(), "atrium-code-"));
  private readonly remote: string;
  constructor(remote: string) {
    this.remote = remote;
    this.git("init", "-q", "-b", "main");
  }
  git(...args: string[]): string {
    return execFileSync("git", args, { cwd: this.dir, encoding: "utf8", env: this.env() });
  }
  write(files: Record<string, string>): void {
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, p)), { recursive: true });
      writeFileSync(join(this.dir, p), text);
    }
  }
  commit(message: string, files: Record<string, string>): string {
    this.write(files);
    this.git("add", "-A");
    this.git("commit", "-q", "-m", message);
    return this.git("rev-parse", "HEAD").trim();
  }
  // `n` commits that each rewrite `path` with `text(i)` (a shell loop: one process from here).
  commitMany(n: number, path: string, text: (i: number) => string): void {
    const script = Array.from({ length: n }, (_, k) => {
      const i = k + 1;
      const body = Buffer.from(text(i)).toString("base64");
      return `echo ${body} | base64 -d > '${path}' && git commit -q -a -m 'Step ${i}'`;
    }).join(" && ");
    execFileSync("sh", ["-c", script], { cwd: this.dir, env: this.env() });
  }
  private env() {
    return {
      ...process.env,
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      HOME: this.dir,
      GIT_AUTHOR_NAME: "Ada Lovelace",
      GIT_AUTHOR_EMAIL: "ada@example.org",
      GIT_COMMITTER_NAME: "Ada Lovelace",
      GIT_COMMITTER_EMAIL: "ada@example.org",
    };
  }
  push(): void {
    this.git("push", "-q", this.remote, "main");
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Commits one file through the API at the branch's current head (what "someone else" does).
export async function apiCommit(api: Api, projectId: string, path: string, content: string, message: string) {
  const repo = await api.get(`/api/v1/projects/${projectId}/repo`);
  return api.call("PUT", `/api/v1/projects/${projectId}/repo/files/${path}`, { branch: "main", content, message }, {
    "If-Match": `"${repo.head}"`,
  });
}
