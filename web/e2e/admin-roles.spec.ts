// Who sees the administration: every page of ORG_ADMIN_PAGES and ADMIN_PAGES (the lists the UI
// itself uses, so pages added later are covered) as a plain member (refused, no admin link), as the
// org admin of another org (the page refused, this org's admin API calls 404), as the instance admin
// (each page opens without an error, and passes axe). Then the instance admin's own flows: create an
// account, reset its password with a one-time link, end its sessions; disable an organisation.
import type { Page } from "@playwright/test";
import { ADMIN_PAGES, ORG_ADMIN_PAGES } from "../src/auth/can.ts";
import { expectAccessible } from "./a11y.ts";
import { newPage, sessionFor, submitSignIn } from "./auth-helpers.ts";
import { ADMIN_PASSWORD, expect, signIn, test, unique } from "./fixtures.ts";

const orgPages = (slug: string) => ORG_ADMIN_PAGES.map((p) => ({ label: p.label, url: `/orgs/${slug}/${p.path}` }));
const adminPages = () => ADMIN_PAGES.map((p) => ({ label: p.label, url: `/admin/${p.path}` }));

// The org admin API the pages stand on (pages merged later add theirs through `seen` below).
const ORG_API = ["members", "groups", "roles", "invitations", "quotas", "usage", "fairshare"];

async function expectRefused(page: Page, url: string) {
  await page.goto(url);
  await expect(page.getByRole("alert").filter({ hasText: "Not allowed" }), url).toBeVisible();
}

// What an error or a refusal says in its alert (components/ErrorAlert.tsx, Forbidden.tsx); a page
// may still show a note in an alert of its own.
const ERROR_WORDS = /not allowed|could not|was not|were not|went wrong|failed|error/i;

// The page has settled (no loader left) and shows no error alert (no failed call, no refusal).
async function expectOpens(page: Page, url: string) {
  await page.goto(url);
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expect(page.getByRole("status", { name: /^Loading/ })).toHaveCount(0);
  await expect(page.getByRole("alert").filter({ hasText: ERROR_WORDS }), url).toHaveCount(0);
}

test("a plain member: every admin page refused, no admin link", async ({ page, world }) => {
  const org = await world.org();
  const u = await world.user(org, "member");
  await signIn(page, u.username, u.password);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link").first()).toBeVisible();
  await expect(nav.getByRole("link", { name: /^Admin: / })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Instance admin" })).toHaveCount(0);
  for (const p of [...orgPages(org.slug), ...adminPages()]) await expectRefused(page, p.url);
});

test("the org admin of another org sees nothing of this org", async ({ page, browser, world, atrium }) => {
  const org = await world.org();
  const mine = await world.org();
  const oa = await world.user(mine, "org-admin");
  // What the pages of `org` ask the API, as the instance admin opens them: replayed below.
  const seen = new Set([org.id, org.slug].flatMap((o) => ORG_API.map((r) => `/api/v1/orgs/${o}/${r}`)));
  seen.add(`/api/v1/orgs/${org.id}`).add(`/api/v1/audit/events?org=${org.id}`);
  const { ctx, page: adminPage } = await newPage(browser, atrium.url);
  adminPage.on("request", (r) => {
    const u = new URL(r.url());
    const path = u.pathname + u.search;
    if (r.method() === "GET" && u.pathname.startsWith("/api/v1/") && (path.includes(org.id) || path.includes(`/${org.slug}/`)))
      seen.add(path);
  });
  await signIn(adminPage, "admin", ADMIN_PASSWORD);
  for (const p of orgPages(org.slug)) await expectOpens(adminPage, p.url);
  await ctx.close();

  await signIn(page, oa.username, oa.password);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: `Admin: Org ${mine.slug}` })).toBeVisible();
  await expect(nav.getByRole("link", { name: `Admin: Org ${org.slug}` })).toHaveCount(0);
  for (const p of orgPages(org.slug)) await expectRefused(page, p.url);
  for (const p of adminPages()) await expectRefused(page, p.url);
  for (const path of seen) {
    const r = await oa.api.ctx.fetch(path, { headers: { Authorization: `Bearer ${oa.api.token}` } });
    expect(r.status(), path).toBe(404);
  }
});

test("the instance admin opens every admin page, each accessible", async ({ page, world }) => {
  const org = await world.org();
  await world.user(org, "org-admin");
  await signIn(page, "admin", ADMIN_PASSWORD);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Instance admin" })).toBeVisible();
  for (const p of [...orgPages(org.slug), ...adminPages()]) {
    await expectOpens(page, p.url);
    await expectAccessible(page, p.url);
  }
});

test("an account made, its password reset with a one-time link, its sessions ended", async ({ page, browser, atrium }, testInfo) => {
  const username = unique("acct");
  await signIn(page, "admin", ADMIN_PASSWORD, "/admin/users");
  const form = page.getByRole("form", { name: "Create an account" });
  await form.getByRole("textbox", { name: "Username" }).fill(username);
  await form.getByLabel("Initial password").fill("short");
  await form.getByRole("button", { name: "Create account" }).click();
  await expect(form.getByText("at least 10 characters", { exact: false }).last()).toBeVisible();
  await form.getByLabel("Initial password").fill("first-password-123");
  await form.getByRole("textbox", { name: "Email" }).fill(`${username}@example.org`);
  await form.getByRole("button", { name: "Create account" }).click();
  await expect(form.getByRole("status")).toContainText(`Created ${username}`);
  await page.getByRole("searchbox", { name: "Search accounts" }).fill(username.toUpperCase());
  const rows = page.getByRole("table", { name: "Accounts" }).getByRole("row");
  await expect(rows).toHaveCount(2); // the header and the one match
  await rows.getByRole("link", { name: username }).click();
  await expect(page.getByRole("heading", { name: username })).toBeVisible();

  // The user signs in somewhere; the admin makes the reset link (shown once, with a copy button).
  const elsewhere = await sessionFor(atrium.url, username, "first-password-123");
  await page.getByRole("button", { name: "Make a password-reset link" }).click();
  const link = (await page.getByTestId("reset-link").textContent()) ?? "";
  expect(link).toContain("/reset-password#");
  await expect(page.getByRole("button", { name: /^Copy link/ })).toBeVisible();
  await expectAccessible(page, "/admin/users/:id");
  await page.screenshot({ path: testInfo.outputPath("user.png") });

  const { ctx, page: theirs } = await newPage(browser, atrium.url);
  const u = new URL(link);
  await theirs.goto(u.pathname + u.hash);
  await theirs.getByLabel("New password").fill("second-password-456");
  await theirs.getByRole("button", { name: "Change password" }).click();
  await expect(theirs).toHaveURL(/\/login/);
  expect((await elsewhere.get("/api/v1/me")).status()).toBe(401); // the reset ended that session
  await submitSignIn(theirs, username, "second-password-456");
  await expect(theirs).not.toHaveURL(/\/login/);
  // The link worked once.
  await theirs.goto(u.pathname + u.hash);
  await expect(theirs.getByRole("alert")).toContainText("invalid, has expired or was used");

  // The admin sees that session and ends it (and every other).
  await page.reload();
  const sessions = page.getByRole("table", { name: "Sessions" });
  await expect(sessions.getByRole("row")).not.toHaveCount(0);
  await page.getByRole("button", { name: "End all sessions" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "End all sessions" }).click();
  await expect(page.getByText("Not signed in anywhere")).toBeVisible();
  expect((await theirs.request.get("/api/v1/me")).status()).toBe(401);
  await ctx.close();
  await elsewhere.dispose();
});

test("an organisation made, then disabled: its members lose it", async ({ page, world }) => {
  const slug = unique("lab");
  await signIn(page, "admin", ADMIN_PASSWORD, "/admin/orgs");
  const form = page.getByRole("form", { name: "Create an organisation" });
  await form.getByRole("textbox", { name: "Slug" }).fill("admin");
  await form.getByRole("textbox", { name: "Name" }).fill("Lab");
  await form.getByRole("button", { name: "Create organisation" }).click();
  await expect(form.getByText("reserved")).toBeVisible();
  await form.getByRole("textbox", { name: "Slug" }).fill(slug);
  await form.getByRole("button", { name: "Create organisation" }).click();
  const table = page.getByRole("table", { name: "Organisations" });
  const row = table.getByRole("row").filter({ hasText: slug });
  await expect(row).toContainText("Active");
  const org = (await world.admin.get(`/api/v1/orgs/${slug}`)) as { id: string };
  const member = await world.user(org, "member");
  await page.getByRole("textbox", { name: "Filter" }).fill(slug);
  await page.reload();
  await expect(row.getByRole("cell").nth(2)).toHaveText("1");
  // Renamed elsewhere since the list loaded: the first try says so and reloads, the second works.
  const cur = await world.admin.get(`/api/v1/orgs/${org.id}`);
  await world.admin.call("PATCH", `/api/v1/orgs/${org.id}`, { name: "Lab renamed" }, { "If-Match": cur.etag });
  await row.getByRole("button", { name: `Disable ${slug}` }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Disable organisation" }).click();
  await expect(dialog.getByRole("alert")).toContainText("changed meanwhile");
  await expect(row).toContainText("Lab renamed");
  await dialog.getByRole("button", { name: "Disable organisation" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(row).toContainText("Disabled");
  const me = await member.api.get("/api/v1/me");
  expect(me.orgs.map((o: { id: string }) => o.id)).not.toContain(org.id);
  await row.getByRole("button", { name: `Enable ${slug}` }).click();
  await expect(row).toContainText("Active");
  expect((await member.api.get("/api/v1/me")).orgs.map((o: { id: string }) => o.id)).toContain(org.id);
});
