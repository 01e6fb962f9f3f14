// /admin/alerts against a server that samples its health every 200 ms and mails through a local
// SMTP sink: a rule on disk free with a threshold every disk meets (disk_free_ratio < 1.01) fires,
// its mail arrives, the page shows it firing; a bad threshold is named on its field; a webhook's
// signing secret is shown once; raising the bar resolves it and the history shows both events.
import { expectAccessible } from "./a11y.ts";
import { newPage } from "./auth-helpers.ts";
import { ADMIN_PASSWORD, expect, signIn, test } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";
import { SmtpSink } from "./smtp-sink.ts";

test("an alert on disk free fires, mails and resolves", async ({ browser }, testInfo) => {
  const sink = await SmtpSink.start();
  const srv = await AtriumServer.start({ env: { ...sink.env(), ATRIUM_HEALTH_PERIOD_MS: "200" } });
  try {
    const { ctx, page } = await newPage(browser, srv.url);
    await signIn(page, "admin", ADMIN_PASSWORD);
    await page.goto("/admin/alerts");
    await expect(page.getByRole("heading", { name: "Alerts", exact: true })).toBeVisible();
    await expect(page.getByText("Nothing is firing")).toBeVisible();
    await expectAccessible(page, "/admin/alerts empty");

    // A threshold that is not a number: the server names the field, the form shows it there.
    await page.getByRole("button", { name: "New rule" }).click();
    const form = page.getByRole("dialog", { name: "New alert rule" });
    await form.getByRole("textbox", { name: "Name" }).fill("disk nearly full");
    await form.getByRole("textbox", { name: "Threshold" }).fill("lots");
    await form.getByRole("textbox", { name: "Email addresses" }).fill("ops@example.org");
    await form.getByRole("button", { name: "Create rule" }).click();
    await expect(form.getByText("threshold must be a number")).toBeVisible();
    await expectAccessible(page, "/admin/alerts rule form with an error");
    await form.getByRole("textbox", { name: "Threshold" }).fill("1.01");
    await form.getByRole("button", { name: "Create rule" }).click();
    await expect(form).toBeHidden();

    // It fires: shown on the page, and its mail arrives at the sink.
    const firing = page.getByRole("table", { name: "Alerts firing now" });
    await expect(firing.getByRole("row", { name: /disk nearly full.*firing/ })).toBeVisible({ timeout: 15_000 });
    const links = await sink.linksTo("ops@example.org");
    expect(links.some((l) => l.endsWith("/admin/alerts"))).toBe(true);
    const mail = sink.mails.find((m) => m.to.includes("ops@example.org"))!;
    expect(mail.subject).toBe("[warning] Alert firing: disk nearly full");
    expect(mail.text).toContain("disk_free_ratio < 1.01");
    await expect(page.getByRole("table", { name: "Alert history" }).getByRole("row", { name: /disk nearly full.*firing/ })).toBeVisible();
    await expectAccessible(page, "/admin/alerts firing");
    await page.screenshot({ path: testInfo.outputPath("alerts-firing.png"), fullPage: true });

    // A webhook's signing secret is shown once, with a copy button.
    await page.getByRole("button", { name: "New rule" }).click();
    const hook = page.getByRole("dialog", { name: "New alert rule" });
    await hook.getByRole("textbox", { name: "Name" }).fill("disk gone");
    await hook.getByRole("textbox", { name: "Threshold" }).fill("-1");
    await hook.getByRole("textbox", { name: "Webhook URL" }).fill("http://127.0.0.1:9/hook");
    await hook.getByRole("button", { name: "Create rule" }).click();
    const secret = page.getByRole("dialog", { name: "Webhook signing secret" });
    await expect(secret.getByRole("textbox", { name: "Webhook signing secret" })).toHaveValue(/^whsec_/);
    await expect(secret.getByRole("button", { name: /Copy secret/ })).toBeVisible();
    await expectAccessible(page, "/admin/alerts secret shown once");
    await secret.getByRole("button", { name: "Done" }).click();

    // Raising the bar (nothing is below 0) resolves it; the history has both events.
    await page.getByRole("button", { name: "Edit disk nearly full" }).click();
    const edit = page.getByRole("dialog", { name: "Edit disk nearly full" });
    await edit.getByRole("textbox", { name: "Threshold" }).fill("0");
    await edit.getByRole("button", { name: "Save rule" }).click();
    await expect(page.getByText("Nothing is firing")).toBeVisible({ timeout: 15_000 });
    await page.reload();
    const history = page.getByRole("table", { name: "Alert history" });
    await expect(history.getByRole("row", { name: /disk nearly full.*resolved/ })).toBeVisible();
    await expect(history.getByRole("row", { name: /disk nearly full.*firing.*email:ops@example.org: delivered/ })).toBeVisible();
    await expectAccessible(page, "/admin/alerts history");
    await ctx.close();
  } finally {
    await srv.stop();
    await sink.stop();
  }
});
