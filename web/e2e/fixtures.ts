// The fixtures every browser test uses: `atrium` (one real server per worker), `admin` (an API
// client signed in as the instance admin) and `world` (fresh orgs, users and projects per test,
// named uniquely so that tests sharing the server never see each other's things).
import { test as base, expect, request, type APIRequestContext, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, AtriumServer, USER_PASSWORD } from "./server.ts";

export { expect, ADMIN_PASSWORD, USER_PASSWORD };

// A bearer-token API client: what a test uses to arrange things (never to check the UI's work
// through the same path the UI takes, where a UI check is the point).
export class Api {
  readonly ctx: APIRequestContext;
  readonly token: string;
  constructor(ctx: APIRequestContext, token: string) {
    this.ctx = ctx;
    this.token = token;
  }

  private headers(extra?: Record<string, string>) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async call<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.ctx.fetch(path, { method, data: body, headers: this.headers(headers) });
    if (!r.ok()) throw new Error(`${method} ${path}: ${r.status()} ${await r.text()}`);
    return (r.status() === 204 ? undefined : await r.json()) as T;
  }
  get<T = any>(path: string) {
    return this.call<T>("GET", path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.call<T>("POST", path, body ?? {});
  }
}

// Signs in over the API and mints a token for that user.
export async function tokenFor(server: AtriumServer, username: string, password: string): Promise<Api> {
  const ctx = await request.newContext({ baseURL: server.url });
  const login = await ctx.post("/api/v1/auth/login", { data: { username, password } });
  if (!login.ok()) throw new Error(`login ${username}: ${login.status()} ${await login.text()}`);
  const { csrf_token } = await login.json();
  const t = await ctx.post("/api/v1/tokens", { data: { name: "e2e" }, headers: { "X-CSRF-Token": csrf_token } });
  if (!t.ok()) throw new Error(`token ${username}: ${t.status()} ${await t.text()}`);
  const { token } = await t.json();
  await ctx.dispose();
  const api = await request.newContext({ baseURL: server.url });
  return new Api(api, token);
}

let counter = 0;
// A name no other test in this run uses: prefix-<worker>-<n>-<random>.
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.env.TEST_WORKER_INDEX ?? 0}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  api: Api;
}

export class World {
  readonly server: AtriumServer;
  readonly admin: Api;
  constructor(server: AtriumServer, admin: Api) {
    this.server = server;
    this.admin = admin;
  }

  async org(slug = unique("org")): Promise<{ id: string; slug: string }> {
    return this.admin.post("/api/v1/orgs", { slug, name: `Org ${slug}` });
  }

  // A user, a member of `org` with `role` when given.
  async user(org?: { id: string }, role = "member", username = unique("user")): Promise<TestUser> {
    const u = await this.admin.post("/api/v1/users", { username, password: USER_PASSWORD });
    if (org) await this.admin.post(`/api/v1/orgs/${org.id}/members`, { user_id: u.id, role });
    return { id: u.id, username, password: USER_PASSWORD, api: await tokenFor(this.server, username, USER_PASSWORD) };
  }

  async project(owner: TestUser, org: { id: string }, body: Record<string, unknown> = {}): Promise<any> {
    const slug = (body.slug as string) ?? unique("proj");
    return owner.api.post(`/api/v1/orgs/${org.id}/projects`, { slug, name: `Project ${slug}`, ...body });
  }
}

// Signs in through the sign-in page, as a user would.
export async function signIn(page: Page, username: string, password: string, next?: string): Promise<void> {
  await page.goto(next ? `/login?next=${encodeURIComponent(next)}` : "/login");
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/login/);
}

interface WorkerFixtures {
  atrium: AtriumServer;
  admin: Api;
}
interface TestFixtures {
  world: World;
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  atrium: [
    // Playwright reads the fixtures a fixture needs from this pattern: none here.
    // oxlint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const s = await AtriumServer.start();
      await use(s);
      await s.stop();
    },
    { scope: "worker", timeout: 60_000 },
  ],
  admin: [
    async ({ atrium }, use) => {
      const a = await tokenFor(atrium, "admin", ADMIN_PASSWORD);
      await use(a);
      await a.ctx.dispose();
    },
    { scope: "worker" },
  ],
  baseURL: async ({ atrium }, use) => use(atrium.url),
  world: async ({ atrium, admin }, use) => use(new World(atrium, admin)),
});
