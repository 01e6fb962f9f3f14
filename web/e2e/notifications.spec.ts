// The account's Notifications tab: mail per kind and the mail language, saved with If-Match.
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test } from "./fixtures.ts";

test("notifications: turn job mails off and choose German", async ({ page, world }) => {
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me/notifications");
  await expect(page.getByRole("heading", { name: "Notifications" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Notifications" })).toHaveAttribute("aria-current", "page");
  await expectAccessible(page, "/me/notifications");
  // The e2e server has no SMTP server: the page says so, and the choices are kept for later.
  await expect(page.getByRole("note")).toContainText("Mail is not set up");
  const jobs = page.getByRole("checkbox", { name: "Jobs" });
  await expect(jobs).toBeChecked();
  await expect(page.getByRole("checkbox", { name: "Quotas" })).toBeChecked();
  await jobs.uncheck();
  await page.getByRole("combobox", { name: "Language of mails" }).selectOption({ label: "Deutsch" });
  await page.getByRole("button", { name: "Save notification settings" }).click();
  await expect(page.getByText("Notification settings saved.")).toBeVisible();
  const now = await u.api.get("/api/v1/me/notifications");
  expect(now.locale).toBe("de");
  expect(now.kinds.job_end.email).toBe(false);
  expect(now.kinds.env_cull_warning.email).toBe(true);
  // Changed elsewhere meanwhile: this page's version is stale, and says so.
  await u.api.call("PUT", "/api/v1/me/notifications", { locale: null }, { "If-Match": now.etag });
  await page.getByRole("checkbox", { name: "Quotas" }).uncheck();
  await page.getByRole("button", { name: "Save notification settings" }).click();
  await expect(page.getByRole("alert")).toContainText("changed elsewhere");
  await page.getByRole("button", { name: "Reload notification settings" }).click();
  await expect(page.getByRole("combobox", { name: "Language of mails" })).toHaveValue("");
  await page.reload();
  await expect(page.getByRole("checkbox", { name: "Jobs" })).not.toBeChecked();
});
