// The instance administrator's compute pages against the real server: /admin/compute shows another
// org's pending job with its priority factors and the admin holds, releases and cancels it; a
// member's environment shows with its owner and the admin stops it from the page. /admin/apps: a
// web app added for one org only, then refused at launch in another org.
import { expectAccessible } from "./a11y.ts";
import { EnvTeardown } from "./envs-helpers.ts";
import { ADMIN_PASSWORD, expect, signIn, test, unique } from "./fixtures.ts";

const teardown = new EnvTeardown();
test.afterEach(async () => teardown.stopAll());

test("compute: a pending job's factors, hold, release, cancel; an environment stopped", async ({ page, world, admin }) => {
  const org = await world.org();
  const user = await world.user(org);
  const project = await world.project(user, org);
  teardown.add(user.api);
  const jobName = unique("later");
  const job = await user.api.post(`/api/v1/projects/${project.id}/jobs`, {
    name: jobName,
    command: ["true"],
    begin_time: "2099-01-01T00:00:00Z",
    time_limit_s: 60,
    mem_mb: 64,
  });
  // An app that never becomes ready: it stays up (STARTING) until it is stopped.
  const app = unique("sleeper");
  await admin.call("PUT", `/api/v1/apps/${app}`, { kind: "web", command: ["/bin/sleep", "300"], spawn_timeout_s: 600, defaults: { cpus: 1, mem_mb: 128 } });
  const env = await user.api.post(`/api/v1/projects/${project.id}/envs`, { app });

  await signIn(page, "admin", ADMIN_PASSWORD, "/admin/compute");
  await expect(page.getByText(/of \d+ +allocated/).first()).toBeVisible();
  const jobs = page.getByRole("table", { name: "Jobs across organisations" });
  const row = jobs.locator(`tr[data-job="${job.id}"]`);
  await expect(row).toContainText(jobName);
  await expect(row).toContainText(org.slug);
  await expect(row).toContainText(user.username);
  await expect(row).toContainText("Waiting for its begin time.");
  for (const f of ["age", "fair_share", "job_size", "qos", "priority"]) await expect(row.locator(`[data-factor="${f}"]`)).toHaveText(/\d/);
  await expect(row.locator('[data-factor="priority"]')).toContainText("in queue");
  const envs = page.getByRole("table", { name: "Environments across organisations" });
  const envRow = envs.locator(`tr[data-env="${env.id}"]`);
  await expect(envRow.locator("[data-owner]")).toHaveText(user.username);
  await expect(envRow).toContainText(app);
  await expectAccessible(page, "the instance's compute page");

  await row.getByRole("button", { name: `Hold ${jobName}` }).click();
  await expect(row).toContainText("PENDING (held)");
  await row.getByRole("button", { name: `Release ${jobName}` }).click();
  await expect(row.getByRole("button", { name: `Hold ${jobName}` })).toBeVisible();
  await expect(row).not.toContainText("(held)");
  await row.getByRole("button", { name: `Cancel ${jobName}` }).click();
  const dialog = page.getByRole("dialog", { name: `Cancel ${jobName}?` });
  await expect(dialog).toContainText(user.username);
  await expectAccessible(page, "the cancel dialog");
  await dialog.getByRole("button", { name: "Cancel the job" }).click();
  await expect(row).toHaveCount(0);
  expect((await user.api.get(`/api/v1/jobs/${job.id}`)).state).toBe("CANCELLED");

  await envRow.getByRole("button", { name: `Stop ${app} ${env.id}` }).click();
  await page.getByRole("dialog", { name: `Stop ${app}?` }).getByRole("button", { name: "Stop environment" }).click();
  await expect(envRow.getByRole("button", { name: /^Stop / })).toHaveCount(0);
  await expect.poll(async () => (await user.api.get(`/api/v1/envs/${env.id}`)).state).toMatch(/STOPPING|STOPPED/);
});

test("apps: a web app for one org only is refused at launch in another", async ({ page, world }) => {
  const orgA = await world.org();
  const orgB = await world.org();
  const userB = await world.user(orgB);
  const projectB = await world.project(userB, orgB);
  teardown.add(userB.api);
  const app = unique("web");

  await signIn(page, "admin", ADMIN_PASSWORD, "/admin/apps");
  const catalog = page.getByRole("table", { name: "App catalog" });
  await expect(catalog.locator('tr[data-app="jupyter"]')).toContainText("built-in");
  await expectAccessible(page, "the app catalog");

  await page.getByRole("button", { name: "Add a web app" }).click();
  const form = page.getByRole("dialog", { name: "Add a web app" });
  await form.getByRole("button", { name: "Add app" }).click();
  await expect(form.getByText("A web app needs a command")).toBeVisible();
  await form.getByRole("textbox", { name: "Name" }).fill(app);
  await form.getByRole("textbox", { name: "Title" }).fill("A web app for org A");
  await form.getByRole("textbox", { name: "Command" }).fill("/bin/sleep\n300");
  await form.getByRole("checkbox", { name: "Every organisation" }).uncheck();
  await form.getByRole("combobox", { name: "Organisations that may launch it" }).click();
  await page.getByRole("option", { name: new RegExp(orgA.slug) }).click();
  await form.getByRole("textbox", { name: "Idle timeout (minutes, 0: never)" }).fill("15");
  await expectAccessible(page, "the new app form");
  await form.getByRole("button", { name: "Add app" }).click();
  await expect(form).toHaveCount(0);
  const row = catalog.locator(`tr[data-app="${app}"]`);
  await expect(row.locator("[data-who]")).toHaveText(orgA.slug);
  await expect(row).toContainText("idle 15 min");
  // Adding under a taken name never overwrites: the name field says so.
  await page.getByRole("button", { name: "Add a web app" }).click();
  await form.getByRole("textbox", { name: "Name" }).fill(app);
  await form.getByRole("textbox", { name: "Command" }).fill("/bin/true");
  await form.getByRole("button", { name: "Add app" }).click();
  await expect(form.getByText("is in the catalog already")).toBeVisible();
  await form.getByRole("button", { name: "Cancel" }).click();
  await expect(row.locator("[data-who]")).toHaveText(orgA.slug);

  // Org B may not launch it: 403 with the problem saying why.
  const r = await userB.api.ctx.fetch(`/api/v1/projects/${projectB.id}/envs`, {
    method: "POST",
    data: { app },
    headers: { Authorization: `Bearer ${userB.api.token}` },
  });
  expect(r.status()).toBe(403);
  const problem = await r.json();
  expect(problem.type).toContain("app-not-enabled");
  expect(problem.detail).toContain("not enabled for this organisation");
  expect((await userB.api.get(`/api/v1/projects/${projectB.id}/envs`)).items).toHaveLength(0);
});
