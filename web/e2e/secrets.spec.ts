// Secrets in the browser: add one of the user's own and one of the project's (the values in
// password fields, never shown again), replace and delete, the project's warning; a job that names
// them gets the user's as a variable and the project's as a file.
import { createHash } from "node:crypto";
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test } from "./fixtures.ts";
import { memberProject } from "./project-helpers.ts";

test("secrets are never shown again; a job that names them gets them", async ({ page, world }, info) => {
  const { user, base } = await memberProject(world, "# secrets\n");
  const mine = `mine-${Math.random().toString(36).slice(2)}`;
  const theirs = `proj-${Math.random().toString(36).slice(2)}`;

  // The user's own: saved, the field emptied, the value nowhere on the page, even after a reload.
  await signIn(page, user.username, user.password, "/me/secrets");
  await expect(page.getByText("No secrets yet")).toBeVisible();
  await expectAccessible(page, "my secrets, none yet");
  await page.getByRole("textbox", { name: "Name" }).fill("my_token");
  await expect(page.getByRole("textbox", { name: "Name" })).toHaveValue("MY_TOKEN");
  await page.getByLabel("Value").fill(mine);
  await page.getByRole("textbox", { name: "Description" }).fill("for the e2e job");
  await page.getByRole("button", { name: "Add secret" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved MY_TOKEN" })).toBeVisible();
  await expect(page.getByLabel("Value")).toHaveValue("");
  const row = page.getByRole("row").filter({ hasText: "MY_TOKEN" });
  await expect(row).toContainText("for the e2e job");
  await page.reload();
  await expect(row).toBeVisible();
  expect(await page.content()).not.toContain(mine);
  await expectAccessible(page, "my secrets");

  // Replace it (the old value is not shown), then a spare one deleted after a confirmation.
  await page.getByRole("button", { name: "Replace MY_TOKEN" }).click();
  const dialog = page.getByRole("dialog", { name: "Replace MY_TOKEN" });
  await expect(dialog.getByLabel("New value")).toHaveValue("");
  await expectAccessible(page, "replace secret dialog");
  await dialog.getByLabel("New value").fill(`${mine}-2`);
  await dialog.getByRole("button", { name: "Replace" }).click();
  await expect(dialog).toBeHidden();
  await page.getByRole("textbox", { name: "Name" }).fill("SPARE");
  await page.getByLabel("Value").fill("spare-value");
  await page.getByRole("button", { name: "Add secret" }).click();
  await page.getByRole("button", { name: "Delete SPARE" }).click();
  await page.getByRole("dialog", { name: "Delete SPARE?" }).getByRole("button", { name: "Delete SPARE" }).click();
  await expect(page.getByRole("row").filter({ hasText: "SPARE" })).toHaveCount(0);

  // The project's: the warning that whoever runs a job here can read it.
  await page.goto(`${base}/secrets`);
  await expect(page.getByText("Whoever runs a job here can read these")).toBeVisible();
  await page.getByRole("textbox", { name: "Name" }).fill("PROJ_KEY");
  await page.getByLabel("Value").fill(theirs);
  await page.getByRole("button", { name: "Add secret" }).click();
  await expect(page.getByRole("row").filter({ hasText: "PROJ_KEY" })).toBeVisible();
  expect(await page.content()).not.toContain(theirs);
  await expectAccessible(page, "project secrets");
  await page.screenshot({ path: info.outputPath("project-secrets.png") });

  // A job names both: MY_TOKEN as a variable, PROJ_KEY as a file; it prints their hashes.
  await page.goto(`${base}/jobs?new=1`);
  await page.getByRole("textbox", { name: "Command" }).fill(
    `sh -c 'printf %s "$MY_TOKEN" | sha256sum; sha256sum < /run/secrets/PROJ_KEY'`,
  );
  const secrets = page.getByRole("combobox", { name: "Secrets" });
  await secrets.click();
  await page.getByRole("option", { name: "MY_TOKEN (variable)" }).click();
  await page.getByRole("option", { name: "PROJ_KEY as /run/secrets/PROJ_KEY" }).click();
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Submit job" }).click();
  const id = (await page.getByRole("status").filter({ hasText: "Submitted" }).getByRole("link").textContent())!;
  await page.goto(`/jobs/${id}`);
  const sha = (v: string) => createHash("sha256").update(v).digest("hex");
  const log = page.getByTestId("job-log");
  await expect(log).toContainText(sha(`${mine}-2`), { timeout: 30_000 });
  await expect(log).toContainText(sha(theirs));
  await expect(page.getByText("MY_TOKEN, PROJ_KEY:file")).toBeVisible();
  expect(await page.content()).not.toContain(mine);
});
