// Environments in the browser, against the real server with real sandboxes: Jupyter launched
// from the catalog and followed live to READY, opened in a new tab on its own origin, shared with
// a guest link opened in a fresh browser without an Atrium session (then revoked), reached from a
// signed-out browser through /login?next=, stopped; the terminal page (xterm.js on the terminal
// environment's own origin): a command, a resize, a dropped connection and a shell that ended.
import { expectAccessible } from "./a11y.ts";
import { chromiumArgs, envHost, EnvTeardown } from "./envs-helpers.ts";
import { expect, signIn, test, USER_PASSWORD } from "./fixtures.ts";

test.use({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: chromiumArgs } });

const teardown = new EnvTeardown();
test.afterEach(async () => teardown.stopAll());

test("launch Jupyter live, open it, share it, sign in to it, stop it", async ({ page, browser, world }, testInfo) => {
  const org = await world.org();
  const user = await world.user(org);
  const project = await world.project(user, org);
  teardown.add(user.api);
  await signIn(page, user.username, user.password);
  await page.goto(`/${org.slug}/${project.slug}/envs`);
  await expect(page.getByRole("article", { name: "jupyter" })).toBeVisible();
  await expect(page.getByText("No environment is running")).toBeVisible();

  // The launch form checks as the user types, within the app's maxima.
  await page.getByRole("button", { name: "Launch jupyter…" }).click();
  const cpus = page.getByRole("textbox", { name: "CPUs" });
  await cpus.fill("999");
  await expect(page.getByText(/At most \d+ CPUs for jupyter/)).toBeVisible();
  await cpus.fill("1");
  await page.getByRole("textbox", { name: "Memory (GB)" }).fill("1");
  await expectAccessible(page, "a project's environments with the launch form");
  await page.getByRole("button", { name: "Launch jupyter", exact: true }).click();

  // Live from the event stream: QUEUED, STARTING, READY, each kept on the timeline.
  const progress = page.getByLabel("Launch progress");
  await expect(progress).toContainText("Queued");
  await expect(progress).toContainText("Ready", { timeout: 45_000 });
  await expect(progress).toContainText("Starting");
  const id = (await page.locator(".mono", { hasText: /^env_/ }).first().textContent())!.trim();

  // Open: a new tab on the environment's own origin, Jupyter's own UI.
  const [tab] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Open jupyter" }).first().click()]);
  await expect(tab).toHaveURL(new RegExp(`^http://${envHost(id)}:\\d+/tree`));
  await expect(tab.locator("#notebook_list")).toBeAttached();
  await tab.close();

  // Share: a guest link, shown once, opened in a browser with no Atrium session; then revoked.
  await page.getByRole("button", { name: `Share jupyter ${id}` }).click();
  const dialog = page.getByRole("dialog", { name: "Share jupyter" });
  await dialog.getByRole("combobox", { name: "Valid for" }).selectOption({ label: "15 minutes" });
  await dialog.getByRole("button", { name: "Create link" }).click();
  const linkBox = dialog.getByRole("textbox", { name: "Guest link (shown only now)" });
  await expect(linkBox).toHaveValue(/\?atrium_guest=/);
  const link = await linkBox.inputValue();
  await expect(dialog.getByRole("button", { name: /^Copy link/ })).toBeVisible();
  await expectAccessible(page, "the share dialog");
  const guest = await browser.newContext();
  const guestPage = await guest.newPage();
  await guestPage.goto(link);
  await expect(guestPage).toHaveURL(new RegExp(`^http://${envHost(id)}:\\d+/tree`));
  await expect(guestPage.locator("#notebook_list")).toBeAttached();
  await dialog.getByRole("button", { name: /^Revoke the link/ }).click();
  await expect(dialog.getByText("revoked")).toBeVisible();
  await guestPage.reload();
  await expect(guestPage).toHaveURL(/\/login\?next=/); // the link no longer opens it
  await guest.close();
  await page.keyboard.press("Escape");

  // A signed-out browser sent to sign in by the proxy comes back to the environment afterwards.
  const fresh = await browser.newContext({ baseURL: world.server.url });
  const p2 = await fresh.newPage();
  await p2.goto(`/env/${id}/`);
  await expect(p2).toHaveURL(/\/login\?next=%2Fenv%2F/);
  await p2.getByRole("textbox", { name: "Username" }).fill(user.username);
  await p2.getByRole("textbox", { name: "Password", exact: true }).fill(USER_PASSWORD);
  await p2.getByRole("button", { name: "Sign in" }).click();
  await expect(p2).toHaveURL(new RegExp(`^http://${envHost(id)}:\\d+/tree`));
  await expect(p2.locator("#notebook_list")).toBeAttached();
  await fresh.close();

  // Stop, after a confirmation; the list follows live.
  await page.getByRole("button", { name: `Stop jupyter ${id}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Stop environment" }).click();
  await expect(page.getByRole("table", { name: "Environments" }).getByText("Stopped")).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: testInfo.outputPath("envs-project.png"), fullPage: true });
  await page.getByRole("button", { name: "Switch to dark theme" }).click();
  await expectAccessible(page, "a project's environments, dark");
  await page.setViewportSize({ width: 390, height: 800 });
  await expectAccessible(page, "a project's environments at 390 px, dark");
  await page.screenshot({ path: testInfo.outputPath("envs-project-390.png"), fullPage: true });
});

test("the terminal page: a command, resize, reconnect", async ({ page, world }, testInfo) => {
  const org = await world.org();
  const user = await world.user(org);
  const project = await world.project(user, org);
  const env = await user.api.post(`/api/v1/projects/${project.id}/envs`, { app: "terminal", mem_mb: 256 });
  teardown.add(user.api);
  // Every WebSocket of the page goes through here, so that the test can drop one.
  const sockets: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/websocket$/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await signIn(page, user.username, user.password);
  await page.goto("/envs");
  await expect(page.getByRole("table", { name: "Environments" }).getByText(env.id)).toBeVisible();
  await expectAccessible(page, "my environments");

  // The way in waits for READY, then hands over to the environment's own origin.
  await page.goto(`/envs/${env.id}/terminal`);
  await expect(page).toHaveURL(new RegExp(`^http://${envHost(env.id)}:\\d+/_atrium/terminal$`), { timeout: 30_000 });
  const state = page.getByRole("status");
  await expect(state).toHaveText("Connected");
  const rows = page.locator(".xterm-rows");
  await page.locator(".xterm").click();
  await page.keyboard.type("echo hi-$((40+2))\n");
  await expect(rows).toContainText("hi-42");
  await expectAccessible(page, "the terminal page");

  // Paste (the button, from the clipboard), and F6 between the terminal and the buttons.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(page.url()).origin });
  await page.evaluate('navigator.clipboard.writeText("echo pasted-$((3*3))")');
  await page.keyboard.press("F6");
  await expect(page.getByRole("button", { name: "Copy" })).toBeFocused();
  await page.getByRole("button", { name: "Paste" }).click();
  await expect(rows).toContainText("echo pasted-$((3*3))");
  await page.keyboard.press("Enter");
  await expect(rows).toContainText("pasted-9");

  // Resize: the window shrinks, the shell's size follows.
  const before = await page.getByLabel("Terminal size").textContent();
  await page.setViewportSize({ width: 390, height: 600 });
  await expect(page.getByLabel("Terminal size")).not.toHaveText(before!);
  const [cols, rowsN] = (await page.getByLabel("Terminal size").textContent())!.split("×");
  await page.keyboard.type("clear; echo size-$(stty size | tr ' ' x)\n");
  await expect(rows).toContainText(`size-${rowsN}x${cols}`);
  await page.screenshot({ path: testInfo.outputPath("terminal-390.png") });

  // A dropped connection: visibly reconnecting, then a new shell.
  await sockets[0].close();
  await expect(state).toContainText(/Connection lost|Reconnecting/);
  await expect(state).toHaveText("Connected");
  await page.locator(".xterm").click();
  await page.keyboard.type("echo again-$((1+1))\n");
  await expect(rows).toContainText("again-2");

  // The shell ends by itself: Reconnect starts a new one.
  await page.keyboard.type("exit\n");
  await expect(state).toContainText("The shell ended");
  await page.getByRole("button", { name: "Reconnect" }).click();
  await expect(state).toHaveText("Connected");
  await page.keyboard.type("echo back-$((2+3))\n");
  await expect(rows).toContainText("back-5");
  await page.screenshot({ path: testInfo.outputPath("terminal.png") });
});
