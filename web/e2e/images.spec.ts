// Images in the browser against the real server: pull the tiny busybox image from a registry the
// test starts (e2e/test-registry.py), see it become ready with its digest and software, make it
// the project's default, run a job on it that reads the image's /etc/os-release, not the host's;
// the job, its provenance and the dataset version it made name the image; delete it after a
// confirmation.
import { readFileSync } from "node:fs";
import { expectAccessible } from "./a11y.ts";
import { putFile } from "./data-helpers.ts";
import { test as base, expect, signIn } from "./fixtures.ts";
import { startRegistry, type TestRegistry } from "./images-helpers.ts";
import { memberProject } from "./project-helpers.ts";
import { AtriumServer } from "./server.ts";

// A server of its own that may reach the test registry over plain HTTP.
const test = base.extend<object, { registry: TestRegistry }>({
  registry: [
    // oxlint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const r = await startRegistry();
      await use(r);
      await r.stop();
    },
    { scope: "worker", timeout: 60_000 },
  ],
  atrium: [
    async ({ registry }, use) => {
      const s = await AtriumServer.start({ env: { ATRIUM_IMAGES_INSECURE_REGISTRIES: registry.host } });
      await use(s);
      await s.stop();
    },
    { scope: "worker", timeout: 60_000 },
  ],
});

test("pull an image, make it the default, a job runs on it", async ({ page, world, registry }, info) => {
  const s = await memberProject(world, "# images\n");
  const short = registry.digest.slice(0, "sha256:".length + 12);
  await signIn(page, s.user.username, s.user.password, `${s.base}/images`);
  await expect(page.getByText("No images yet")).toBeVisible();
  await expectAccessible(page, "project images, none yet");

  await page.getByRole("textbox", { name: "Image name" }).fill("busybox");
  await page.getByRole("textbox", { name: "Source" }).fill(`docker://${registry.host}/${registry.repo}:${registry.tag}`);
  await page.getByRole("checkbox", { name: "Set as default" }).check();
  await page.getByRole("button", { name: "Pull image" }).click();
  // Pending, then ready without a reload: its digest (shortened, copyable), software and size.
  const row = page.getByRole("row").filter({ hasText: "busybox" });
  await expect(row.getByText("ready", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(row.getByText(short, { exact: true })).toBeVisible();
  await expect(row.getByRole("button", { name: `Copy digest: ${registry.digest.slice(0, 40)}` })).toBeVisible();
  await expect(row).toContainText("Atrium test image");
  await expect(row).toContainText(`docker://${registry.host}/${registry.repo}:${registry.tag}`);
  await expect(row.getByText("default", { exact: true })).toBeVisible();
  await expect(page.getByText("Jobs that name none run on busybox.")).toBeVisible();
  await expectAccessible(page, "project images");
  await page.screenshot({ path: info.outputPath("images.png") });

  // The launch form and the submit form preselect the default image; the job sees its os-release.
  const preselected = `busybox (${short}), the project's default`;
  await page.goto(`${s.base}/envs`);
  await page.getByRole("button", { name: "Launch jupyter…" }).click();
  await expect(page.getByRole("combobox", { name: "Image" })).toHaveValue(preselected);
  await page.goto(`${s.base}/jobs?new=1`);
  const picker = page.getByRole("combobox", { name: "Image" });
  await expect(picker).toHaveValue(preselected);
  await page.getByRole("textbox", { name: "Command" }).fill("sh -c 'cat /etc/os-release; cat /etc/os-release > os.txt'");
  await page.getByRole("textbox", { name: "Output dataset" }).fill("made");
  await page.getByRole("textbox", { name: "Output files (globs)" }).fill("os.txt");
  await page.getByRole("button", { name: "Submit job" }).click();
  const id = (await page.getByRole("status").filter({ hasText: "Submitted" }).getByRole("link").textContent())!;
  await page.goto(`/jobs/${id}`);
  await expect(page.getByTestId("job-log")).toContainText("ID=atrium-test", { timeout: 30_000 });
  await expect(page.getByText("COMPLETED", { exact: true })).toBeVisible();
  await expect(page.getByText(`busybox ${short}`).first()).toBeVisible();
  const prov = page.getByRole("region", { name: "Provenance" });
  await expect(prov.getByRole("link", { name: `busybox ${short}` })).toHaveAttribute("href", `${s.base}/images`);
  // The dataset version the job made names the image it ran on.
  // (The version is captured as the job ends: reload until the page has it.)
  const made = prov.getByRole("link", { name: "made v1" });
  await expect(async () => {
    await page.reload();
    await expect(made).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await made.click();
  await expect(page.getByRole("row").filter({ hasText: `job ${id} on image busybox ${short}` })).toBeVisible();

  // Delete, after a confirmation that says what it does.
  await page.goto(`${s.base}/images`);
  await page.getByRole("button", { name: "Delete busybox" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete the image busybox?" });
  await expect(dialog).toContainText("It is the project's default");
  await expectAccessible(page, "delete image dialog");
  await dialog.getByRole("button", { name: "Delete busybox" }).click();
  await expect(page.getByText("No images yet")).toBeVisible();
});

test("a tag the registry does not have is refused at its field; the host system stays the default", async ({ page, world, registry }) => {
  const s = await memberProject(world, "# images\n");
  await signIn(page, s.user.username, s.user.password, `${s.base}/images`);
  await page.getByRole("textbox", { name: "Image name" }).fill("missing");
  const source = page.getByRole("textbox", { name: "Source" });
  await source.fill(`docker://${registry.host}/${registry.repo}:no-such-tag`);
  await page.getByRole("button", { name: "Pull image" }).click();
  await expect(page.getByText(`${registry.host}/${registry.repo}:no-such-tag does not exist`)).toBeVisible();
  await expect(source).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByText("No images yet")).toBeVisible();
  await expectAccessible(page, "images, a refused pull");
  await expect(page.getByText("Jobs that name none run on the host system.")).toBeVisible();
  await page.goto(`${s.base}/jobs?new=1`);
  await expect(page.getByRole("combobox", { name: "Image" })).toHaveValue("Host system (the project has no default image)");
});

test("import a squashfs file of the project", async ({ page, world, registry }) => {
  const s = await memberProject(world, "# import\n");
  await putFile(s.user.api, s.project.id, "images/busybox.squashfs", readFileSync(registry.squashfs));
  await signIn(page, s.user.username, s.user.password, `${s.base}/images`);
  await page.getByText("Import a file").click();
  await page.getByRole("textbox", { name: "Image name" }).fill("imported");
  await page.getByRole("combobox", { name: "Project file" }).click();
  await page.getByRole("option", { name: "images/busybox.squashfs" }).click();
  await expectAccessible(page, "images, the import form");
  await page.getByRole("button", { name: "Import" }).click();
  const row = page.getByRole("row").filter({ hasText: "imported" });
  await expect(row.getByText("ready", { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(row).toContainText("Atrium test image");
  await expect(row.getByText(/^sha256:[0-9a-f]{12}$/)).toBeVisible();
});
