// The "done when", as one journey: a new user, given only the URL and an invitation,
// signs in, creates a project, commits code from the browser editor, uploads data, runs a job on
// it and reads its log live, opens Jupyter and a terminal, shares the environment and sees their
// usage. Only the invitation is arranged over the API; everything else is done through the UI, in
// a fresh browser, as that user would.
import type { Page } from "@playwright/test";
import { chromiumArgs, envHost, EnvTeardown } from "./envs-helpers.ts";
import { expect, test, tokenFor, unique } from "./fixtures.ts";

test.use({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: chromiumArgs } });

const teardown = new EnvTeardown();
test.afterEach(async () => teardown.stopAll());

test("a new user, from an invitation to their usage", async ({ browser, atrium, world }, testInfo) => {
  test.setTimeout(120_000);
  const shot = (page: Page, name: string) => page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });

  // The invitation: the one thing arranged over the API.
  const org = await world.org();
  const inv = await world.admin.post(`/api/v1/orgs/${org.id}/invitations`, { role: "member" });
  const invite = new URL(inv.url);

  const ctx = await browser.newContext({ baseURL: atrium.url, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();

  // 1. Accept the invitation: choose a username and a password, land signed in.
  await page.goto(`${invite.pathname}${invite.hash}`);
  const username = unique("ada");
  const password = "a-good-long-password";
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(password);
  await page.getByRole("button", { name: "Create my account" }).click();
  await expect(page.getByRole("button", { name: `Account menu for ${username}` })).toBeVisible();
  await expect(page.getByText("No projects yet")).toBeVisible();
  teardown.add(await tokenFor(atrium, username, password)); // only to stop the environments afterwards
  await shot(page, "1-signed-in");

  // 2. Create a project.
  await page.getByRole("link", { name: "New project" }).first().click();
  await expect(page).toHaveURL(/\/new$/);
  const name = unique("Glacier");
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(name);
  await page.getByRole("button", { name: "Create project" }).click();
  const slug = name.toLowerCase();
  const base = `/${org.slug}/${slug}`;
  await expect(page).toHaveURL(new RegExp(`${base}$`));
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await shot(page, "2-project");

  // 3. Code from the browser editor: the empty repository offers a README.
  await expect(page.getByText("This repository is empty")).toBeVisible();
  await page.getByRole("link", { name: "Create README" }).first().click();
  await expect(page.getByRole("textbox", { name: "File path" })).toHaveValue("README.md");
  await page.getByRole("textbox", { name: "Contents of README.md" }).click();
  await page.keyboard.type("# Glacier mass balance\n");
  await page.getByRole("textbox", { name: "Commit message" }).fill("Start the README");
  await page.getByRole("button", { name: "Commit to main" }).click();
  await expect(page).toHaveURL(`${base}/blob/main/README.md`);
  await expect(page.getByRole("textbox", { name: "Contents of README.md" })).toContainText("Glacier mass balance");
  await shot(page, "3-committed");

  // 4. Upload data on the Files tab.
  await page.getByRole("tab", { name: "Files" }).click();
  await expect(page.getByText("No files yet")).toBeVisible();
  await page.getByLabel("Choose files to upload").setInputFiles({
    name: "obs.csv",
    mimeType: "text/csv",
    buffer: Buffer.from("site,mass\nA,-1.2\nB,-0.4\nC,0.3\n"),
  });
  await expect(page.getByRole("link", { name: "Download obs.csv" })).toBeVisible();
  await shot(page, "4-uploaded");

  // Jobs see data as datasets (/data/<name>), not the project's files: make one from the upload.
  await page.getByRole("tab", { name: "Datasets" }).click();
  await page.getByRole("textbox", { name: "New dataset name" }).fill("obs");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await expect(page).toHaveURL(new RegExp(`${base}/datasets/obs$`));
  await page.getByRole("button", { name: "Make version" }).click();
  await expect(page.getByRole("table", { name: "Files of version 1" }).getByRole("link", { name: /Download obs\.csv/ })).toBeVisible();
  await shot(page, "4-dataset");

  // 5. A job that reads the data and the code, its log followed live on its page.
  await page.getByRole("tab", { name: "Jobs" }).click();
  await page.getByRole("button", { name: "New job" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill("count");
  await page.locator("label", { hasText: /^Script$/ }).click();
  await page
    .getByRole("textbox", { name: "Script" })
    .fill('#!/bin/sh\nhead -1 README.md\necho "sites: $(tail -n +2 /data/obs/obs.csv | wc -l)"\nsleep 5\necho done\n');
  await page.getByRole("combobox", { name: "Datasets" }).click();
  await page.getByRole("option", { name: "obs (latest, v1)" }).click();
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.getByRole("status").filter({ hasText: "Submitted" }).getByRole("link").click();
  await expect(page.getByRole("heading", { name: "count" })).toBeVisible();
  const log = page.getByTestId("job-log");
  // Live: the printed lines show while the job still runs.
  await expect(log).toContainText("sites: 3", { timeout: 30_000 });
  await expect(page.getByText("RUNNING", { exact: true })).toBeVisible();
  await expect(log).toContainText("# Glacier mass balance");
  await expect(log).not.toContainText("done");
  await expect(page.getByText("COMPLETED", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(log).toContainText("done");
  await shot(page, "5-job");

  // 6. Jupyter from the Environments tab, opened in a new tab on its own origin.
  await page.goto(base);
  await page.getByRole("tab", { name: "Environments" }).click();
  await page.getByRole("button", { name: "Launch jupyter…" }).click();
  await page.getByRole("textbox", { name: "CPUs" }).fill("1");
  await page.getByRole("textbox", { name: "Memory (GB)" }).fill("1");
  await page.getByRole("button", { name: "Launch jupyter", exact: true }).click();
  const progress = page.getByLabel("Launch progress");
  await expect(progress).toContainText("Ready", { timeout: 45_000 });
  const id = (await page.locator(".mono", { hasText: /^env_/ }).first().textContent())!.trim();
  const [lab] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Open jupyter" }).first().click()]);
  await expect(lab).toHaveURL(new RegExp(`^http://${envHost(id)}:\\d+/tree`));
  await expect(lab.locator("#notebook_list")).toBeAttached();
  await shot(lab, "6-jupyter");
  await lab.close();

  // 7. A terminal: launched the same way, its page opened, a command run.
  await page.getByRole("button", { name: "Launch terminal…" }).click();
  await page.getByRole("button", { name: "Launch terminal", exact: true }).click();
  await expect(progress).toContainText("Ready", { timeout: 45_000 });
  const [term] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Open terminal" }).first().click()]);
  await expect(term).toHaveURL(/\/_atrium\/terminal$/, { timeout: 30_000 });
  await expect(term.getByRole("status")).toHaveText("Connected");
  await term.locator(".xterm").click();
  await term.keyboard.type("echo hello-$((6*7))\n");
  await expect(term.locator(".xterm-rows")).toContainText("hello-42");
  await shot(term, "7-terminal");
  await term.close();

  // 8. Share Jupyter with a guest link, opened in a browser with no Atrium session.
  await page.getByRole("button", { name: `Share jupyter ${id}` }).click();
  const dialog = page.getByRole("dialog", { name: "Share jupyter" });
  await dialog.getByRole("button", { name: "Create link" }).click();
  const linkBox = dialog.getByRole("textbox", { name: "Guest link (shown only now)" });
  await expect(linkBox).toHaveValue(/\?atrium_guest=/);
  const guest = await browser.newContext();
  const guestPage = await guest.newPage();
  await guestPage.goto(await linkBox.inputValue());
  await expect(guestPage).toHaveURL(new RegExp(`^http://${envHost(id)}:\\d+/tree`));
  await expect(guestPage.locator("#notebook_list")).toBeAttached();
  await shot(guestPage, "8-guest");
  await guest.close();
  await page.keyboard.press("Escape");

  // 9. Their usage: the job's project in the table, and the chart.
  await page.getByRole("button", { name: `Account menu for ${username}` }).click();
  await page.getByRole("menuitem", { name: "Profile" }).click();
  await page.getByRole("link", { name: "Usage" }).click();
  await expect(page).toHaveURL(/\/me\/usage$/);
  await expect(page.getByRole("table", { name: /^Usage by project/ }).getByRole("row", { name: new RegExp(name) })).toBeVisible();
  await expect(page.getByTestId("usage-chart").locator("canvas")).toHaveCount(1);
  await shot(page, "9-usage");
  await ctx.close();
});
