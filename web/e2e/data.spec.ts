// The data pages: the file browser (drag-and-drop upload, rename, delete), a large upload that
// resumes after a reload from the server's offset, datasets (a version from a folder, a diff) and
// a one-time signed link.
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { expectAccessible } from "./a11y.ts";
import { fileNames, putFile, sha256 } from "./data-helpers.ts";
import { expect, signIn, test, type TestUser, type World } from "./fixtures.ts";

async function setup(world: World, page: import("@playwright/test").Page) {
  const org = await world.org();
  const user: TestUser = await world.user(org, "member");
  const project = await world.project(user, org);
  await signIn(page, user.username, user.password);
  return { org, user, project, base: `/${org.slug}/${project.slug}` };
}

test("files: drop several files, see them, rename into a folder, delete", async ({ page, world }, testInfo) => {
  const { org, user, project, base } = await setup(world, page);
  await world.admin.call("PUT", `/api/v1/orgs/${org.id}/quotas/user/${user.id}`, { storage_bytes: 1000 }, { "If-Match": "*" });
  await page.goto(`${base}/files`);
  await expect(page.getByText("No files yet")).toBeVisible();
  await expect(page.getByRole("group", { name: "Storage" })).toContainText("You: 0 B of 1.0 kB");

  const dt = await page.evaluateHandle(() => {
    // In the page (the e2e code is typed without the DOM's library).
    const g = globalThis as any;
    const dt = new g.DataTransfer();
    for (const [name, body] of [
      ["alpha.txt", "alpha"],
      ["bravo.txt", "bravo bravo"],
      ["charlie.csv", "c,h\n1,2\n"],
    ])
      dt.items.add(new g.File([body], name, { type: "text/plain" }));
    return dt;
  });
  await page.getByTestId("files-drop").dispatchEvent("drop", { dataTransfer: dt });
  for (const n of ["alpha.txt", "bravo.txt", "charlie.csv"])
    await expect(page.getByRole("link", { name: `Download ${n}` })).toBeVisible();
  await expect(page.getByText("Uploaded 11 B")).toBeVisible();
  expect(await fileNames(user.api, project.id)).toEqual(["alpha.txt", "bravo.txt", "charlie.csv"]);
  await expectAccessible(page, "files (listed, uploads shown)");

  // Rename into a folder: the folder appears; inside it, the file and the breadcrumbs.
  await page.getByRole("button", { name: "Rename alpha.txt" }).click();
  await page.getByRole("textbox", { name: "New path" }).fill("results/alpha-1.txt");
  await page.getByRole("button", { name: "Rename", exact: true }).click();
  await expect(page.getByRole("link", { name: "Folder results" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Download alpha.txt" })).toHaveCount(0);
  await page.getByRole("link", { name: "Folder results" }).click();
  await expect(page.getByRole("link", { name: "Download alpha-1.txt" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Folder" })).toContainText("results");
  await expect(page.getByRole("link", { name: "Download alpha-1.txt" })).toHaveAttribute(
    "href",
    `/api/v1/projects/${project.id}/files/results/alpha-1.txt`,
  );

  // Delete, after a confirmation.
  await page.goto(`${base}/files`);
  await page.getByRole("button", { name: "Delete bravo.txt" }).click();
  await expect(page.getByRole("dialog")).toContainText("Delete bravo.txt?");
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("link", { name: "Download bravo.txt" })).toHaveCount(0);
  expect(await fileNames(user.api, project.id)).toEqual(["charlie.csv", "results/alpha-1.txt"]);

  // Storage against the quota, and an upload over it refused in words.
  await expect(page.getByRole("group", { name: "Storage" })).toContainText("You: 13 B of 1.0 kB");
  await page.getByLabel("Choose files to upload").setInputFiles({ name: "big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(5000) });
  await expect(page.getByRole("alert").filter({ hasText: "Not enough storage" })).toContainText("quota would be exceeded");

  // Narrow screens, dark: the same page, still usable and accessible.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 390, height: 800 });
  await expect(page.getByRole("button", { name: "Upload files" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Download charlie.csv" })).toBeAttached();
  await expectAccessible(page, "files at 390 px, dark");
  await page.screenshot({ path: testInfo.outputPath("files-390.png"), fullPage: true });
});

test("a large upload resumes after a reload from the server's offset", async ({ page, world }, testInfo) => {
  const { user, project, base } = await setup(world, page);
  const file = testInfo.outputPath("report.bin");
  const data = randomBytes(64 << 20);
  writeFileSync(file, data);
  try {
    await page.goto(`${base}/files`);
    // The network fails after the first chunk: the page keeps retrying until the reload.
    let chunks = 0;
    await page.route("**/api/v1/uploads/*", (route) =>
      route.request().method() === "PATCH" && ++chunks > 1 ? route.abort("connectionreset") : route.fallback(),
    );
    await page.getByLabel("Choose files to upload").setInputFiles(file);
    await expect.poll(async () => (await user.api.get(`/api/v1/projects/${project.id}/uploads`)).items[0]?.offset ?? 0).toBeGreaterThan(0);
    await page.reload(); // the route still refuses the retries: the server stays at the first chunk
    await page.unrouteAll({ behavior: "ignoreErrors" });

    // After the reload the page knows the upload and says how to go on.
    await expect(page.getByText(/Resume: drop report\.bin again to continue from 17 MB/)).toBeVisible();
    await expectAccessible(page, "files with an interrupted upload");
    const offsets: number[] = [];
    page.on("request", (r) => {
      if (r.method() === "PATCH") offsets.push(Number(r.headers()["upload-offset"]));
    });
    await page.getByLabel("Choose files to upload").setInputFiles(file);
    await expect(page.getByText("(resumed at 17 MB)")).toBeVisible();
    await expect(page.getByText("Uploaded 67 MB")).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole("link", { name: "Download report.bin" })).toBeVisible();
    expect(offsets[0]).toBe(16 << 20); // it went on from the server's offset, not from 0
    const stat = await user.api.get(`/api/v1/projects/${project.id}/files/report.bin?stat=true`);
    expect(stat.size).toBe(data.length);
    expect(stat.sha256).toBe(sha256(data));
    await expect(page.getByText(/Resume: drop/)).toHaveCount(0);
    await page.screenshot({ path: testInfo.outputPath("resumed.png") });
  } finally {
    rmSync(file, { force: true });
  }
});

test("datasets: a version from a folder, a second one, and the diff", async ({ page, world }, testInfo) => {
  const { user, project, base } = await setup(world, page);
  await putFile(user.api, project.id, "raw/a.csv", "1,2\n");
  await putFile(user.api, project.id, "raw/b.csv", "3,4\n");
  await putFile(user.api, project.id, "other.txt", "not in the dataset");

  await page.goto(`${base}/datasets`);
  await expect(page.getByText("No datasets yet")).toBeVisible();
  await expectAccessible(page, "datasets (empty)");
  await page.getByRole("textbox", { name: "New dataset name" }).fill("Bad Name");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await expect(page.getByText(/name must be/)).toBeVisible();
  await page.getByRole("textbox", { name: "New dataset name" }).fill("measurements");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await expect(page).toHaveURL(new RegExp(`${base}/datasets/measurements$`));
  await expect(page.getByText("No versions yet")).toBeVisible();

  await page.getByRole("textbox", { name: "Folder" }).fill("raw");
  await page.getByRole("textbox", { name: "Message" }).fill("first run");
  await page.getByRole("button", { name: "Make version" }).click();
  const files1 = page.getByRole("table", { name: "Files of version 1" });
  await expect(files1.getByRole("link", { name: "Download a.csv of version 1" })).toBeVisible();
  await expect(files1.getByRole("row")).toHaveCount(3);

  // The folder changes: a.csv edited, b.csv removed, c.csv added.
  await putFile(user.api, project.id, "raw/a.csv", "1,2\n5,6\n", true);
  await user.api.call("DELETE", `/api/v1/projects/${project.id}/files/raw/b.csv`);
  await putFile(user.api, project.id, "raw/c.csv", "7,8\n");
  await page.getByRole("textbox", { name: "Folder" }).fill("raw");
  await page.getByRole("button", { name: "Make version" }).click();
  await expect(page.getByRole("table", { name: "Files of version 2" })).toBeVisible();

  await page.getByRole("button", { name: "Compare" }).click();
  const diff = page.getByLabel("Differences");
  await expect(diff).toContainText("1 added, 1 removed, 1 changed, 0 unchanged");
  await expect(page.getByRole("list", { name: "Added files" })).toContainText("c.csv");
  await expect(page.getByRole("list", { name: "Removed files" })).toContainText("b.csv");
  await expect(page.getByRole("list", { name: "Changed files" })).toContainText("a.csv");
  await expectAccessible(page, "dataset page with a diff");

  // A link to the whole version lists its files.
  await page.getByRole("button", { name: "Share version 2" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Make link" }).click();
  const url = (await page.getByLabel("Signed link", { exact: true }).textContent())!.trim();
  const listing = await page.request.get(url);
  expect((await listing.json()).files.map((f: { path: string }) => f.path)).toEqual(["a.csv", "c.csv"]);
  await page.screenshot({ path: testInfo.outputPath("dataset-diff.png"), fullPage: true });
});

test("a one-time signed link works once; links are listed and revoked", async ({ page, world, browser }, testInfo) => {
  const { user, project, base } = await setup(world, page);
  await putFile(user.api, project.id, "share.txt", "shared content");
  await page.goto(`${base}/files`);
  await page.getByRole("button", { name: "Share share.txt" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("combobox", { name: "Expires after" }).click();
  await page.getByRole("option", { name: "1 hour" }).click();
  await dialog.getByRole("checkbox", { name: /One-time/ }).check();
  await dialog.getByRole("button", { name: "Make link" }).click();
  await expect(dialog.getByRole("button", { name: /Copy link/ })).toBeVisible();
  await expectAccessible(page, "signed link dialog");
  const url = (await dialog.getByLabel("Signed link", { exact: true }).textContent())!.trim();
  expect(url).toMatch(/\/dl\/lnk/);
  await dialog.getByRole("button", { name: "Done" }).click();

  // From outside the session: the first download works, the second is refused.
  const anon = await browser.newContext();
  const first = await anon.request.get(url);
  expect(first.status()).toBe(200);
  expect(await first.text()).toBe("shared content");
  const second = await anon.request.get(url);
  expect(second.status()).toBe(404);
  await anon.close();

  // A second link, reusable, then revoked from the links page.
  await user.api.post(`/api/v1/projects/${project.id}/links`, { path: "share.txt" });
  await page.goto(`${base}/links`);
  await expect(page.getByRole("table", { name: "Signed links" }).getByText("used")).toBeVisible();
  await expectAccessible(page, "signed links");
  await page.getByRole("button", { name: "Revoke the link to share.txt" }).click();
  await expect(page.getByRole("table", { name: "Signed links" }).getByText("revoked")).toBeVisible();
  await expect(page.getByRole("button", { name: /Revoke the link/ })).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath("links.png") });
});
