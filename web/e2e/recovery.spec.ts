// Account recovery in the browser: "Forgot password?" → the link in the mail (a local SMTP sink) or
// an admin's link (a server without mail) → a new password → every old session ended → sign in with
// the new password; the same link refused the second time; the pages' a11y.
import { expectAccessible } from "./a11y.ts";
import { newPage, sessionFor, submitSignIn } from "./auth-helpers.ts";
import { ADMIN_PASSWORD, expect, test, tokenFor, unique } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";
import { SmtpSink } from "./smtp-sink.ts";

const NEW_PASSWORD = "a-brand-new-password-42";
const OLD_PASSWORD = "old-password-1234";

test("a reset link sets a new password once and signs the account out everywhere", async ({
  browser,
  atrium,
  world,
}, testInfo) => {
  const u = await world.user(await world.org());
  const other = await sessionFor(atrium.url, u.username, u.password); // another device
  expect((await other.get("/api/v1/me")).status()).toBe(200);
  const link = await world.admin.post(`/api/v1/users/${u.id}/password-reset`);
  expect(link.mailed).toBe(false);

  const { ctx, page } = await newPage(browser, atrium.url);
  // The token is in the fragment: the page load never sends it to the server.
  const loads: string[] = [];
  page.on("request", (r) => loads.push(r.url()));
  await page.goto(new URL(link.url).pathname + new URL(link.url).hash);
  await expect(page.getByText(`Choose a new password for ${u.username}`)).toBeVisible();
  expect(loads.filter((l) => l.includes(link.token.split(".")[1]))).toEqual([]);
  await expectAccessible(page, "/reset-password");
  await page.getByLabel("New password").fill("short");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText(/at least 10 characters/).last()).toBeVisible();
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("status")).toContainText("signed out everywhere");
  await page.screenshot({ path: testInfo.outputPath("after-reset.png") });

  // The other device's session ended; the old password no longer works; the new one does.
  expect((await other.get("/api/v1/me")).status()).toBe(401);
  await submitSignIn(page, u.username, u.password);
  await expect(page.getByRole("alert")).toContainText("Wrong username or password");
  await submitSignIn(page, u.username, NEW_PASSWORD);
  await expect(page).not.toHaveURL(/\/login/);

  // The same link a second time: refused in words, no form.
  const { ctx: ctx2, page: again } = await newPage(browser, atrium.url);
  await again.goto(new URL(link.url).pathname + new URL(link.url).hash);
  await expect(again.getByRole("alert")).toContainText("invalid, has expired or was used already");
  await expect(again.getByRole("button", { name: "Change password" })).toHaveCount(0);
  await expectAccessible(again, "/reset-password used");
  await Promise.all([ctx.close(), ctx2.close(), other.dispose()]);
});

test("recovery pages without their link, and the forgot-password page", async ({ page }) => {
  await page.goto("/reset-password");
  await expect(page.getByRole("alert")).toContainText("including the part after “#”");
  await page.goto("/verify-email#art_nothing.here");
  await expect(page.getByRole("alert")).toContainText("invalid, has expired or was used already");
  await expectAccessible(page, "/verify-email refused");
  // Without mail the sign-in page offers no reset, and asking says why.
  await page.goto("/login");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Forgot password?" })).toHaveCount(0);
  await page.goto("/forgot-password");
  await expectAccessible(page, "/forgot-password");
  await page.getByLabel("Username or email").fill("nobody");
  await page.getByRole("button", { name: "Mail me a link" }).click();
  await expect(page.getByRole("alert")).toContainText("sends no mail");
});

// A server that mails through its own SMTP sink, and a user with an email address there.
async function withMail(
  fn: (srv: AtriumServer, sink: SmtpSink, user: { username: string; email: string }) => Promise<void>,
): Promise<void> {
  const sink = await SmtpSink.start();
  const srv = await AtriumServer.start({ env: sink.env() });
  try {
    const admin = await tokenFor(srv, "admin", ADMIN_PASSWORD);
    const username = unique("mailed");
    const email = `${username}@example.org`;
    const u = await admin.post("/api/v1/users", { username, password: OLD_PASSWORD });
    await admin.call("PATCH", `/api/v1/users/${u.id}`, { email }, { "If-Match": u.etag });
    await admin.ctx.dispose();
    await fn(srv, sink, { username, email });
  } finally {
    await srv.stop();
    await sink.stop();
  }
}

test("the profile asks to verify the email address; the mailed link verifies it", async ({ browser }) => {
  await withMail(async (srv, sink, { username, email }) => {
    const { ctx, page } = await newPage(browser, srv.url);
    await page.goto("/login?next=%2Fme");
    await submitSignIn(page, username, OLD_PASSWORD);
    await expect(page.getByText("Verify your email address")).toBeVisible();
    await expectAccessible(page, "/me with the verify prompt");
    await page.getByRole("button", { name: "Mail me a verification link" }).click();
    await expect(page.getByRole("status").filter({ hasText: "We mailed a link" })).toBeVisible();
    const link = (await sink.linksTo(email)).find((l) => l.includes("/verify-email#"));
    const target = new URL(link!);
    await page.goto(target.pathname + target.hash);
    await expect(page.getByRole("status")).toContainText(`${email} is verified`);
    await page.goto("/me");
    await expect(page.getByRole("heading", { name: "Profile" })).toBeVisible();
    await expect(page.getByText("Verify your email address")).toHaveCount(0);
    await ctx.close();
  });
});

test("forgot password: the mailed link resets once and ends every session", async ({ browser }, testInfo) => {
  await withMail(async (srv, sink, { username, email }) => {
    const other = await sessionFor(srv.url, username, OLD_PASSWORD);

    const { ctx, page } = await newPage(browser, srv.url);
    await page.goto("/login");
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await expect(page).toHaveURL(/\/forgot-password$/);
    await page.getByLabel("Username or email").fill(email);
    await page.getByRole("button", { name: "Mail me a link" }).click();
    await expect(page.getByRole("status")).toContainText("mailed it a link");
    await expectAccessible(page, "/forgot-password sent");

    const link = (await sink.linksTo(email)).find((l) => l.includes("/reset-password#"));
    expect(link).toBeTruthy();
    const target = new URL(link!);
    await page.goto(target.pathname + target.hash);
    await page.getByLabel("New password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await expect(page).toHaveURL(/\/login$/);
    expect((await other.get("/api/v1/me")).status()).toBe(401);
    await submitSignIn(page, username, NEW_PASSWORD);
    await expect(page).not.toHaveURL(/\/login/);
    await page.screenshot({ path: testInfo.outputPath("signed-in-after-mail-reset.png") });

    await page.goto(target.pathname + target.hash);
    await expect(page.getByRole("alert")).toContainText("invalid, has expired or was used already");
    await Promise.all([ctx.close(), other.dispose()]);
  });
});
