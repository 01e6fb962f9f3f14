// Home: empty states that say what to do, then a user's projects, pending jobs and activity.
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test } from "./fixtures.ts";

test("a new user's home says what to do next", async ({ page, world }) => {
  const org = await world.org();
  const u = await world.user(org, "member");
  await signIn(page, u.username, u.password);
  await expect(page.getByRole("heading", { level: 1, name: `Welcome, ${u.username}` })).toBeVisible();
  await expect(page.getByText("No projects yet")).toBeVisible();
  await expect(page.getByText("No running or pending jobs")).toBeVisible();
  await expect(page.getByText("No active environments")).toBeVisible();
  await expectAccessible(page, "empty home");
});

test("home shows my pending job, my projects and what happened in them", async ({ page, world }, info) => {
  const org = await world.org();
  const owner = await world.user(org, "member");
  const colleague = await world.user(org, "member");
  const p = await world.project(owner, org);
  await owner.api.post(`/api/v1/projects/${p.id}/members`, { user_id: colleague.id, role: "member" });
  // Held: it stays PENDING, with its reason, for as long as the test looks.
  const job = await colleague.api.post(`/api/v1/projects/${p.id}/jobs`, { command: ["true"], name: "held-one", hold: true });
  await signIn(page, colleague.username, colleague.password);
  const jobs = page.getByRole("list", { name: "Running and pending jobs" });
  await expect(jobs.getByRole("link", { name: "held-one" })).toHaveAttribute("href", `/jobs/${job.id}`);
  await expect(jobs.getByText("PENDING (held)")).toBeVisible();
  await expect(jobs.getByText("Held: release it to let it run.")).toBeVisible();
  await expect(page.getByRole("list", { name: "Your projects" }).getByRole("link", { name: p.name })).toBeVisible();
  const activity = page.getByRole("list", { name: "Recent activity" });
  await expect(activity.getByText("submitted a job (held-one)")).toBeVisible();
  await expect(activity.getByText("added a member (member)")).toBeVisible();
  await expectAccessible(page, "home");
  // Live, without a reload: a job submitted now appears, a released one changes state.
  await colleague.api.post(`/api/v1/projects/${p.id}/jobs`, { command: ["true"], name: "second-one", hold: true });
  await expect(jobs.getByRole("link", { name: "second-one" })).toBeVisible();
  await colleague.api.post(`/api/v1/jobs/${job.id}/release`);
  const row = jobs.getByRole("listitem").filter({ hasText: "held-one" });
  await expect(row.getByText(/^(RUNNING|COMPLETED|FAILED)$/)).toBeVisible();
  await page.screenshot({ path: info.outputPath("home.png"), fullPage: true });
});
