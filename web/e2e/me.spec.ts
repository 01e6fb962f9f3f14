// The account pages: profile (with a change made elsewhere), password, sessions, API tokens and
// usage; each checked with axe, and all of them once at 390 px in the dark theme.
import { request } from "@playwright/test";
import { expectAccessible } from "./a11y.ts";
import { expectNoSidewaysScroll, sessionFor } from "./auth-helpers.ts";
import { expect, signIn, test } from "./fixtures.ts";

test("profile: save, and a change made elsewhere is shown with a reload", async ({ page, world }, testInfo) => {
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me");
  await expect(page.getByRole("heading", { name: "Profile" })).toBeVisible();
  await expectAccessible(page, "/me");
  await page.getByRole("textbox", { name: "Display name" }).fill("Ada Lovelace");
  await page.getByRole("textbox", { name: "Email" }).fill("ada@example.org");
  await page.getByRole("button", { name: "Save profile" }).click();
  await expect(page.getByText("Profile saved.")).toBeVisible();
  await expect(page.getByRole("button", { name: /^Account menu for / })).toContainText("Ada Lovelace");
  // Someone (another tab, the CLI) changes it meanwhile: this form's version is stale.
  const now = await u.api.get(`/api/v1/users/${u.id}`);
  await u.api.call("PATCH", `/api/v1/users/${u.id}`, { display_name: "Countess" }, { "If-Match": now.etag });
  await page.getByRole("textbox", { name: "Display name" }).fill("Ada King");
  await page.getByRole("button", { name: "Save profile" }).click();
  await expect(page.getByRole("alert")).toContainText("changed elsewhere");
  await page.getByRole("button", { name: "Reload profile" }).click();
  await expect(page.getByRole("textbox", { name: "Display name" })).toHaveValue("Countess");
  await page.getByRole("textbox", { name: "Display name" }).fill("Ada King");
  await page.getByRole("button", { name: "Save profile" }).click();
  await expect(page.getByText("Profile saved.")).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("profile.png") });
});

test("password: errors at their fields, then changed", async ({ page, world, atrium }) => {
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me/password");
  await expectAccessible(page, "/me/password");
  const current = page.getByRole("textbox", { name: "Current password", exact: true });
  const next = page.getByRole("textbox", { name: "New password", exact: true });
  const repeat = page.getByRole("textbox", { name: "Repeat the new password", exact: true });
  const change = page.getByRole("button", { name: "Change password" });
  await current.fill("not-my-password");
  await next.fill("a-brand-new-password");
  await repeat.fill("a-brand-new-passwort");
  await change.click();
  await expect(page.getByText("The two new passwords differ")).toBeVisible();
  await repeat.fill("a-brand-new-password");
  await change.click();
  await expect(page.getByText("the current password is wrong")).toBeVisible();
  await current.fill(u.password);
  await change.click();
  await expect(page.getByText("Password changed.")).toBeVisible();
  const ctx = await request.newContext({ baseURL: atrium.url });
  const r = await ctx.post("/api/v1/auth/login", { data: { username: u.username, password: "a-brand-new-password" } });
  expect(r.status()).toBe(200);
  await ctx.dispose();
});

test("sessions: this one is marked, another is signed out", async ({ page, world, atrium }, testInfo) => {
  const u = await world.user();
  const other = await sessionFor(atrium.url, u.username, u.password);
  await signIn(page, u.username, u.password, "/me/sessions");
  // The fixture's own sign-in (it made the user's API token), `other`, and this page's session.
  const items = page.getByRole("region", { name: "Where you are signed in" }).getByRole("listitem");
  await expect(items).toHaveCount(3);
  await expect(page.getByRole("listitem", { name: /\(this session\)$/ })).toContainText("This session");
  await expectAccessible(page, "/me/sessions");
  // Listed oldest first: the last one with a sign-out button is `other`.
  await page.getByRole("button", { name: /^Sign out .* from / }).last().click();
  await expect(items).toHaveCount(2);
  expect((await other.get("/api/v1/me")).status()).toBe(401);
  await page.screenshot({ path: testInfo.outputPath("sessions.png") });
  await other.dispose();
});

test("API tokens: made with scopes and expiry, shown once, listed, revoked", async ({ page, world, atrium, context }, testInfo) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me/tokens");
  // The fixture made the user's "e2e" token.
  await expect(page.getByRole("listitem", { name: "Token e2e" })).toContainText("May do: Everything");
  await expectAccessible(page, "/me/tokens");
  await page.getByRole("textbox", { name: "Name" }).fill("laptop git");
  await page.getByRole("radiogroup", { name: "Code" }).getByText("Read and change").click();
  await page.getByRole("radiogroup", { name: "Jobs" }).getByText("Read", { exact: true }).click();
  await page.getByRole("combobox", { name: "Expires after" }).selectOption("7");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.getByTestId("new-token").textContent()) ?? "";
  expect(secret).toMatch(/^atr_/);
  await expect(page.getByText("it is shown only this once")).toBeVisible();
  await page.getByRole("button", { name: /^Copy token/ }).click();
  await expect(page.getByRole("button", { name: /^Copy token/ })).toHaveText("Copied");
  await page.mouse.move(0, 0); // axe measures the page as it is: not a hovered button
  await expectAccessible(page, "/me/tokens with a new token");
  await page.screenshot({ path: testInfo.outputPath("token-once.png") });
  await page.getByRole("button", { name: "I have copied it" }).click();
  await expect(page.getByTestId("new-token")).toHaveCount(0);
  const item = page.getByRole("listitem", { name: "Token laptop git" });
  await expect(item).toContainText("Projects (read), Code (read and change), Jobs (read)");
  // The token works, within its scopes.
  const api = await request.newContext({ baseURL: atrium.url, extraHTTPHeaders: { Authorization: `Bearer ${secret}` } });
  expect((await api.get("/api/v1/me")).status()).toBe(200);
  expect((await api.get("/api/v1/tokens")).status()).toBe(403); // tokens:read is not among its scopes
  const t = await u.api.get<{ items: { name: string; expires_at: string | null }[] }>("/api/v1/tokens");
  expect(t.items.find((x) => x.name === "laptop git")?.expires_at).toBeTruthy();
  await item.getByRole("button", { name: "Revoke token laptop git" }).click();
  await item.getByRole("button", { name: "Revoke now" }).click();
  await expect(item).toHaveCount(0);
  expect((await api.get("/api/v1/me")).status()).toBe(401);
  await api.dispose();
});

test("usage: CPU-hours by project as a chart and a table", async ({ page, world }, testInfo) => {
  const org = await world.org();
  const u = await world.user(org, "member");
  const p = await world.project(u, org, { name: "Usage Project" });
  await signIn(page, u.username, u.password, "/me/usage");
  await expect(page.getByText("No compute used in this period")).toBeVisible();
  const job = await u.api.post(`/api/v1/projects/${p.id}/jobs`, {
    command: ["true"],
    cpus: 1,
    mem_mb: 128,
    time_limit_s: 60,
  });
  await expect
    .poll(async () => (await u.api.get(`/api/v1/jobs/${job.id}`)).state, { timeout: 30_000 })
    .toBe("COMPLETED");
  await page.reload();
  const table = page.getByRole("table", { name: /^Usage by project/ });
  await expect(table.getByRole("row", { name: /Usage Project/ })).toBeVisible();
  await expect(page.getByTestId("usage-chart").locator("canvas")).toHaveCount(1);
  await page.getByRole("radiogroup", { name: "Measure" }).getByText("GPU-hours").click();
  await page.getByRole("radiogroup", { name: "Period" }).getByText("7 days").click();
  await expect(table.getByRole("row", { name: /Usage Project/ })).toBeVisible();
  await expectAccessible(page, "/me/usage");
  await page.screenshot({ path: testInfo.outputPath("usage.png") });
});

test("the account pages at 390 px in the dark theme", async ({ page, world }) => {
  const u = await world.user();
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page, u.username, u.password, "/me");
  for (const [path, heading] of [
    ["/me", "Profile"],
    ["/me/password", "Change your password"],
    ["/me/sessions", "Where you are signed in"],
    ["/me/tokens", "API tokens"],
    ["/me/usage", "Compute usage"],
  ]) {
    await page.goto(path);
    await expect(page.getByRole("heading", { name: heading, exact: true })).toBeVisible();
    await expectAccessible(page, `${path} dark 390px`);
    await expectNoSidewaysScroll(page);
  }
});
