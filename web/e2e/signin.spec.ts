// Signing in and out: wrong passwords and the address's rate limit in words, `next` (pages of
// the app and environments), the first admin's one-time password changed first, invitations,
// sign out and sign out everywhere.
import { expectAccessible } from "./a11y.ts";
import { accountMenu, newPage, submitSignIn } from "./auth-helpers.ts";
import { ADMIN_PASSWORD, expect, signIn, test, unique } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";

test("the admin signs in and lands on the home page", async ({ page }) => {
  await signIn(page, "admin", ADMIN_PASSWORD);
  await expect(page.getByRole("link", { name: "Atrium home" })).toBeVisible();
});

test("a wrong password is refused in words", async ({ page, world }) => {
  const u = await world.user();
  await page.goto("/login");
  await submitSignIn(page, u.username, "not the password");
  await expect(page.getByRole("alert")).toContainText("Wrong username or password");
  await expect(page).toHaveURL(/\/login$/);
});

test("next is honoured, also for a visitor who is already signed in", async ({ page, world }, testInfo) => {
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me/tokens");
  await expect(page).toHaveURL(/\/me\/tokens$/);
  await page.goto("/login?next=%2Fme%2Fsessions");
  await expect(page).toHaveURL(/\/me\/sessions$/);
  // Another origin is never a destination.
  await page.goto("/login?next=%2F%2Fevil.example%2F");
  await expect(page).toHaveURL(/127\.0\.0\.1:\d+\/$/);
  // An environment is served by the proxy, not by this app: a full page load.
  const nav = page.waitForRequest((r) => r.isNavigationRequest() && r.url().includes("/env/e-x/lab"));
  await page.goto("/login?next=%2Fenv%2Fe-x%2Flab");
  await nav;
  await page.screenshot({ path: testInfo.outputPath("next.png") });
});

test("the sign-in page is accessible, light and dark, wide and narrow", async ({ page }) => {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 800 });
      await page.goto("/login");
      await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
      await expectAccessible(page, `/login ${scheme} ${width}px`);
    }
  }
});

test("the first admin changes the one-time password first; the address limit is in words", async ({
  browser,
}, testInfo) => {
  // Its own server: no ATRIUM_ADMIN_PASSWORD (it prints a one-time password), one sign-in a minute.
  const srv = await AtriumServer.start({ adminPassword: null, env: { ATRIUM_AUTH_LOGIN_IP_PER_MINUTE: "1" } });
  try {
    expect(srv.adminPassword).toMatch(/^\S{16,}$/);
    const { ctx, page } = await newPage(browser, srv.url);
    await page.goto("/login?next=%2Fme%2Ftokens");
    await submitSignIn(page, "admin", srv.adminPassword);
    await expect(page).toHaveURL(/\/me\/password\?next=%2Fme%2Ftokens$/);
    await expect(page.getByText("Choose your own password", { exact: true })).toBeVisible();
    await expectAccessible(page, "/me/password (forced)");
    // Nowhere else to go until it is changed.
    await page.goto("/");
    await expect(page).toHaveURL(/\/me\/password\?next=%2F$/);
    await page.getByRole("textbox", { name: "Current password", exact: true }).fill(srv.adminPassword);
    await page.getByRole("textbox", { name: "New password", exact: true }).fill("short");
    await page.getByRole("textbox", { name: "Repeat the new password", exact: true }).fill("short");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page.getByText("the password must be at least 10 characters")).toBeVisible();
    await page.getByRole("textbox", { name: "New password", exact: true }).fill("the-admins-own-password");
    await page.getByRole("textbox", { name: "Repeat the new password", exact: true }).fill("the-admins-own-password");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page).toHaveURL(/127\.0\.0\.1:\d+\/$/);
    await expect(page.getByRole("link", { name: "Atrium home" })).toBeVisible();
    await page.screenshot({ path: testInfo.outputPath("forced-password.png") });
    await ctx.close();

    // That sign-in spent this address's one attempt of the minute: the next is refused with the wait.
    const other = await newPage(browser, srv.url);
    await other.page.goto("/login");
    await submitSignIn(other.page, "admin", "the-admins-own-password");
    await expect(other.page.getByRole("alert")).toContainText(/Too many sign-in attempts.*try again in \d+ (seconds?|minutes?)/);
    await expectAccessible(other.page, "/login rate-limited");
    await other.ctx.close();
  } finally {
    await srv.stop();
  }
});

test("an invitation makes an account and signs it in", async ({ browser, atrium, world }, testInfo) => {
  const org = await world.org();
  const orgAdmin = await world.user(org, "org-admin");
  const inv = await orgAdmin.api.post(`/api/v1/orgs/${org.id}/invitations`, { role: "member" });
  expect(inv.url).toMatch(/\/invite#/);
  const { ctx, page } = await newPage(browser, atrium.url);
  await page.goto(`/invite#${inv.token}`);
  await expectAccessible(page, "/invite");
  const username = unique("newbie");
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Display name" }).fill("New Researcher");
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(username);
  await page.getByRole("button", { name: "Create my account" }).click();
  await expect(page.getByText("the password must not be the username")).toBeVisible();
  await page.getByRole("textbox", { name: "Password", exact: true }).fill("a-good-long-password");
  await page.getByRole("button", { name: "Create my account" }).click();
  await expect(page.getByRole("button", { name: `Account menu for ${username}` })).toContainText("New Researcher");
  await expect(page).toHaveURL(/127\.0\.0\.1:\d+\/$/);
  await page.screenshot({ path: testInfo.outputPath("invited.png") });
  await ctx.close();
  // The link works once.
  const again = await newPage(browser, atrium.url);
  await again.page.goto(`/invite#${inv.token}`);
  await again.page.getByRole("textbox", { name: "Username" }).fill(unique("late"));
  await again.page.getByRole("textbox", { name: "Password", exact: true }).fill("another-long-password");
  await again.page.getByRole("button", { name: "Create my account" }).click();
  await expect(again.page.getByRole("alert")).toContainText("used, expired or revoked");
  await again.ctx.close();
});

test("sign out, and sign out everywhere", async ({ browser, atrium, world }, testInfo) => {
  const u = await world.user();
  const a = await newPage(browser, atrium.url);
  const b = await newPage(browser, atrium.url);
  await signIn(a.page, u.username, u.password);
  await signIn(b.page, u.username, u.password);
  // Signing out here ends this session only.
  await accountMenu(a.page, "Sign out");
  await expect(a.page).toHaveURL(/\/login$/);
  await b.page.goto("/me");
  await expect(b.page.getByRole("heading", { name: "Profile" })).toBeVisible();
  // Everywhere: the other browser's next navigation lands on the sign-in page.
  await signIn(a.page, u.username, u.password);
  await accountMenu(a.page, "Sign out everywhere");
  await expect(a.page).toHaveURL(/\/login$/);
  await b.page.goto("/me/sessions");
  await expect(b.page).toHaveURL(/\/login\?next=%2Fme%2Fsessions$/);
  await expect(b.page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await b.page.screenshot({ path: testInfo.outputPath("signed-out-everywhere.png") });
  // API tokens stay.
  expect((await u.api.get("/api/v1/me")).username).toBe(u.username);
  await a.ctx.close();
  await b.ctx.close();
});
