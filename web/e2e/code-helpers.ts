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
    return execFileSync("git", ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.org", ...args], {
      cwd: this.dir,
      encoding: "utf8",
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", HOME: this.dir },
    });
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
