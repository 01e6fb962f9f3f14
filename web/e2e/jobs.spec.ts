// Jobs in the browser against the real server and real sandboxes: submit from the form, the
// queue's live states, the live coloured log, cancel, hold/release, provenance, and the form's
// own and the server's errors at their fields.
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test, unique, type World } from "./fixtures.ts";
import { memberProject, type MemberProject } from "./project-helpers.ts";

type Setup = MemberProject;

// A member's project with one commit on main (so jobs are pinned to it).
const setup = (world: World): Promise<Setup> => memberProject(world, "# jobs\n");

function submit(s: Setup, body: Record<string, unknown>) {
  return s.user.api.post(`/api/v1/projects/${s.project.id}/jobs`, { mem_mb: 256, time_limit_s: 120, ...body });
}

test("a job from the form: live states in the queue, coloured log, provenance", async ({ page, world }, info) => {
  const s = await setup(world);
  const gate = await submit(s, { command: ["true"], hold: true, name: "gate" });
  await signIn(page, s.user.username, s.user.password, `${s.base}/jobs`);
  await expect(page.getByRole("status").filter({ hasText: "Live" })).toBeVisible();
  await expect(page.getByRole("listitem", { name: "Job gate" })).toBeVisible();
  await expectAccessible(page, "project jobs");

  await page.getByRole("button", { name: "New job" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill("colours");
  await page.locator("label", { hasText: /^Script$/ }).click();
  await page
    .getByRole("textbox", { name: "Script" })
    .fill("#!/bin/sh\nprintf '\\033[31mred alert\\033[0m\\n'\nsleep 1\necho 42 > result.txt\necho finished\n");
  await page.getByRole("textbox", { name: "Dependencies" }).fill(`afterok:${gate.id}`);
  await page.getByRole("textbox", { name: "Output dataset" }).fill("results");
  await page.getByRole("textbox", { name: "Output files (globs)" }).fill("*.txt");
  await page.getByRole("button", { name: "Submit job" }).click();
  const done = page.getByRole("status").filter({ hasText: "Submitted" });
  const id = (await done.getByRole("link").textContent())!;

  // PENDING on its dependency, in words; then RUNNING and COMPLETED arrive without a reload.
  const row = page.locator(`li[data-job="${id}"]`);
  await expect(row.getByText("PENDING", { exact: true })).toBeVisible();
  await expect(row).toContainText("Waiting for the jobs it depends on to finish.");
  await s.user.api.post(`/api/v1/jobs/${gate.id}/release`);
  await expect(row.getByText("RUNNING", { exact: true })).toBeVisible();
  await expect(row.getByText("COMPLETED", { exact: true })).toBeVisible();

  await row.getByRole("link", { name: "colours" }).click();
  await expect(page.getByRole("heading", { name: "colours" })).toBeVisible();
  const log = page.getByTestId("job-log");
  await expect(log.locator(".ansi-red-fg")).toHaveText("red alert");
  await expect(log).toContainText("finished");
  const prov = page.getByRole("region", { name: "Provenance" });
  await expect(prov.getByRole("link", { name: /^[0-9a-f]{12}$/ })).toHaveAttribute("href", /\/commit\/[0-9a-f]{40}$/);
  await expect(prov.getByRole("link", { name: "results v1" })).toHaveAttribute("href", `${s.base}/datasets/results?version=1`);
  await expect(page.getByRole("region", { name: "Events" })).toContainText("RUNNING → COMPLETED");
  await expectAccessible(page, "job page");
  await prov.scrollIntoViewIfNeeded();
  await page.screenshot({ path: info.outputPath("job-page.png") });
  await page.emulateMedia({ colorScheme: "dark" });
  await expectAccessible(page, "job page, dark");
});

test("a running job's live log, cancel; hold and release; 390 px", async ({ page, world }, info) => {
  const s = await setup(world);
  const long = await submit(s, {
    name: "long",
    command: ["sh", "-c", "printf '\\033[32mstarted\\033[0m\\n'; sleep 60"],
  });
  const later = await submit(s, { name: "later", command: ["true"], begin_time: "2099-01-01T00:00:00Z" });
  await signIn(page, s.user.username, s.user.password, `/jobs/${long.id}`);
  await expect(page.getByTestId("job-log").locator(".ansi-green-fg")).toHaveText("started");
  await expect(page.getByText("RUNNING", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "Hold" })).toHaveCount(0);
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByText("CANCELLED", { exact: true })).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Requeue" })).toBeVisible();

  await page.goto(`/jobs/${later.id}`);
  await expect(page.getByText("Waiting for its begin time.")).toBeVisible();
  await page.getByRole("button", { name: "Hold" }).click();
  await expect(page.getByText("PENDING (held)", { exact: true })).toBeVisible();
  await expect(page.getByText("Held: release it to let it run.")).toBeVisible();
  await page.getByRole("button", { name: "Release" }).click();
  await expect(page.getByRole("button", { name: "Hold" })).toBeVisible();

  await page.setViewportSize({ width: 390, height: 800 });
  await expectAccessible(page, "pending job page 390px");
  await page.goto("/jobs");
  await expect(page.getByRole("listitem", { name: "Job later" })).toBeVisible();
  await expectAccessible(page, "my jobs 390px");
  await page.getByRole("combobox", { name: "Filter by state" }).click();
  await page.getByRole("option", { name: "CANCELLED" }).click();
  await expect(page.getByRole("listitem", { name: "Job long" })).toBeVisible();
  await expect(page.getByRole("listitem", { name: "Job later" })).toHaveCount(0);
  await expect(page).toHaveURL(/state=CANCELLED/);
  await page.screenshot({ path: info.outputPath("my-jobs-390.png") });
});

test("the form's own errors before submit, the server's at its field", async ({ page, world }, info) => {
  const s = await setup(world);
  // This server alone: no partition picker.
  const partitions = page.waitForResponse((r) => r.url().includes("/api/v1/compute/partitions"));
  await signIn(page, s.user.username, s.user.password, `${s.base}/jobs?new=1`);
  await partitions;
  await expect(page.getByRole("textbox", { name: "Command" })).toBeVisible();
  await expect(page.getByLabel("Partition")).toHaveCount(0);
  await page.getByRole("textbox", { name: "Command" }).fill("echo hi");
  const array = page.getByRole("textbox", { name: "Array" });
  await array.fill("5-3");
  await expect(page.getByText('array item 1 "5-3": range start 5 is greater than its end 3')).toBeVisible();
  await expect(array).toHaveAttribute("aria-invalid", "true");
  await page.getByRole("textbox", { name: "CPUs" }).fill("0");
  await expect(page.getByText("CPUs must be between 1 and 4096")).toBeVisible();
  await page.getByRole("button", { name: "Submit job" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Submitted" })).toHaveCount(0);
  await expectAccessible(page, "submit form with errors");
  await array.fill("0-1");
  await page.getByRole("textbox", { name: "CPUs" }).fill("1");
  const ref = page.getByRole("textbox", { name: "Code ref" });
  await ref.fill(unique("nope"));
  await page.getByRole("button", { name: "Submit job" }).click();
  await expect(page.getByText(/names no branch, tag or commit/)).toBeVisible();
  await expect(ref).toHaveAttribute("aria-invalid", "true");
  await page.screenshot({ path: info.outputPath("form-errors.png") });
  await ref.fill("main");
  await page.getByRole("button", { name: "Submit job" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Array" })).toContainText("with 2 tasks");

  // A SLURM partition listed (the list faked here; no SLURM runs): the picker shows, and the
  // server's refusal of a partition it does not have lands at the picker.
  await page.route(/\/api\/v1\/compute\/partitions/, (route) =>
    route.fulfill({
      json: {
        items: [
          { name: "local", kind: "local", cluster: null, slurm_partition: null, limits: null, default: true },
          { name: "gpu", kind: "slurm", cluster: "lab", slurm_partition: "gpu", limits: { max_cpus: 8, max_mem_mb: 0, max_gpus: 2, max_time_s: 0 }, default: false },
        ],
      },
    }),
  );
  await page.reload();
  const picker = page.getByRole("combobox", { name: "Partition" });
  await expect(picker).toHaveValue("Default: local");
  await page.getByRole("textbox", { name: "Command" }).fill("echo hi");
  await picker.click();
  await page.getByRole("option", { name: "gpu (SLURM lab/gpu; up to 8 CPUs, 2 GPUs)" }).click();
  await page.getByRole("button", { name: "Submit job" }).click();
  await expect(picker).toHaveAttribute("aria-invalid", "true");
  await expectAccessible(page, "submit form with partitions");
});
