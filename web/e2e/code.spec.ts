// Code: a repository pushed with real git, seen and edited in the browser: the README on the
// overview, the tree and a highlighted file, the history paged, one commit's diff, compare,
// branches, an edit committed from the browser, and a moved branch resolved as a conflict.
import { expectAccessible } from "./a11y.ts";
import { apiCommit, cloneUrl, LocalRepo } from "./code-helpers.ts";
import { expect, signIn, test } from "./fixtures.ts";

const README = `# Hello Atrium

A **research** project. See the [guide](docs/guide.md).

| step | what |
| ---- | ---- |
| 1    | clone |

<script>alert("no raw html")</script>
`;

const APP = `import os


def main(n: int) -> int:
    """Count to n."""
    return sum(range(n))  # 0..n-1
`;

test("the code views show a pushed repository", async ({ page, world }, testInfo) => {
  const org = await world.org();
  const owner = await world.user(org, "member");
  const p = await world.project(owner, org);
  const base = `/${org.slug}/${p.slug}`;
  const local = new LocalRepo(cloneUrl(world.server.url, org.slug, p.slug, owner.api.token));
  const first = local.commit("First commit", { "README.md": README, "src/app.py": APP, "docs/guide.md": "# Guide\n" });
  // 24 more commits: the history has two pages (20 a page).
  local.commitMany(24, "src/app.py", (i) => APP.replace("range(n)", `range(n + ${i})`));
  local.push();
  local.remove();
  await world.admin.post(`/api/v1/projects/${p.id}/repo/protected-branches`, { pattern: "main" });

  await signIn(page, owner.username, owner.password);
  // The overview: the README rendered (a table from GFM, no raw HTML), clone lines with copy buttons.
  await page.goto(base);
  const readme = page.getByRole("region", { name: "README.md" });
  await expect(readme.getByRole("heading", { name: "Hello Atrium" })).toBeVisible();
  await expect(readme.getByRole("table")).toBeVisible();
  await expect(readme.locator("script")).toHaveCount(0);
  await expect(readme.getByRole("link", { name: "guide" })).toHaveAttribute("href", `${base}/blob/main/docs/guide.md`);
  await expect(page.getByRole("button", { name: /^Copy the clone url/ })).toBeVisible();
  await expect(page.getByRole("button", { name: /^Copy the clone with the cli/ })).toBeVisible();
  await expect(page.getByText(`atrium repo clone ${org.slug}/${p.slug}`)).toBeVisible();
  await expect(page.getByText("Step 24")).toBeVisible();
  await expectAccessible(page, "project overview");

  // The tree: folders first, then the file view with Python highlighted by CodeMirror.
  await page.getByRole("tab", { name: "Code" }).click();
  const files = page.getByRole("table", { name: /Files in/ });
  await expect(files.getByRole("row").nth(1)).toContainText("docs/");
  await expect(files.getByRole("row").nth(3)).toContainText("README.md");
  await expectAccessible(page, "tree");
  await files.getByRole("link", { name: "src/" }).click();
  await expect(page.getByRole("navigation", { name: "Path" })).toContainText("src");
  await page.getByRole("link", { name: "app.py" }).click();
  await expect(page).toHaveURL(`${base}/blob/main/src/app.py`);
  const code = page.getByRole("textbox", { name: "Contents of src/app.py" });
  await expect(code).toContainText("def main");
  await expect(code.locator(".cm-line span").first()).toBeVisible(); // highlighted tokens
  await expect(page.locator("[data-language=Python]")).toBeVisible();
  await expect(page.getByRole("link", { name: "Download" })).toHaveAttribute("download", "app.py");
  await expectAccessible(page, "file view");

  // The history, paged with the API's cursor.
  await page.goto(`${base}/commits/main`);
  const log = page.getByRole("list", { name: "Commits" });
  await expect(log.getByRole("listitem")).toHaveCount(20);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(log.getByRole("listitem")).toHaveCount(25);
  await expect(log.getByRole("link", { name: "First commit" })).toBeVisible();
  await expectAccessible(page, "commit log");

  // One commit: its message, parent and diff with line numbers.
  await log.getByRole("link", { name: "Step 24" }).click();
  await expect(page.getByRole("heading", { name: "Step 24" })).toBeVisible();
  const change = page.getByRole("region", { name: "Changes to src/app.py" });
  await expect(change).toContainText("+1 −1");
  await expect(change.getByRole("table")).toContainText("-    return sum(range(n + 23))");
  await expect(change.getByRole("table")).toContainText("+    return sum(range(n + 24))");
  await expectAccessible(page, "one commit");
  await page.screenshot({ path: testInfo.outputPath("commit.png") });

  // The first commit: everything added.
  await page.goto(`${base}/commit/${first}`);
  await expect(page.getByRole("region", { name: "Changes to docs/guide.md" })).toContainText("+# Guide");

  // Compare the first commit with main; branches and tags with main protected.
  await page.goto(`${base}/compare?base=${first}&head=main`);
  await expect(page.getByRole("region", { name: "Changes to src/app.py" })).toBeVisible();
  await expectAccessible(page, "compare");
  await page.goto(`${base}/branches`);
  await expect(page.getByRole("region", { name: "Branches" }).getByText("protected")).toBeVisible();
  await expect(page.getByRole("region", { name: "Tags" })).toContainText("No tags");
  await expectAccessible(page, "branches");

  // 390 px wide.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(base);
  await expect(readme.getByRole("heading", { name: "Hello Atrium" })).toBeVisible();
  await expect(page.getByText("Step 24")).toBeVisible();
  await expectAccessible(page, "overview at 390 px");
  await page.goto(`${base}/blob/main/src/app.py`);
  await expect(code.locator(".cm-line span").first()).toBeVisible();
  await expectAccessible(page, "file at 390 px");
  await page.emulateMedia({ colorScheme: "dark" });
  await expectAccessible(page, "file at 390 px, dark");
  await page.screenshot({ path: testInfo.outputPath("narrow.png") });
});

test("edit in the browser, and resolve a branch that moved meanwhile", async ({ page, world }, testInfo) => {
  const org = await world.org();
  const owner = await world.user(org, "member");
  const p = await world.project(owner, org);
  const base = `/${org.slug}/${p.slug}`;
  await signIn(page, owner.username, owner.password);

  // An empty repository says how to push, and offers a README written in the browser.
  await page.goto(base);
  await expect(page.getByText("This repository is empty")).toBeVisible();
  await expect(page.getByRole("button", { name: /^Copy the push commands/ })).toBeVisible();
  await expectAccessible(page, "empty repository");
  await page.getByRole("link", { name: "Create README" }).first().click();
  await expect(page.getByRole("textbox", { name: "File path" })).toHaveValue("README.md");
  const editor = page.getByRole("textbox", { name: "Contents of README.md" });
  await editor.click();
  await page.keyboard.type("# Made in the browser\n");
  // Keyboard only: Tab leaves the editor (it does not indent) for the message, then the button.
  await page.keyboard.press("Tab");
  await expect(page.getByRole("textbox", { name: "Commit message" })).toBeFocused();
  await page.keyboard.type("Start the README");
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "Commit to main" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(`${base}/blob/main/README.md`);

  // Edit it: the commit shows in the history the API serves.
  await page.getByRole("link", { name: "Edit" }).click();
  const edit = page.getByRole("textbox", { name: "Contents of README.md" });
  await expect(edit).toContainText("Made in the browser");
  await edit.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("Second line.\n");
  await page.getByRole("textbox", { name: "Commit message" }).fill("Say more in the README");
  await expectAccessible(page, "editor");
  await page.getByRole("button", { name: "Commit to main" }).click();
  await expect(page).toHaveURL(`${base}/blob/main/README.md`);
  let log = await owner.api.get(`/api/v1/projects/${p.id}/repo/commits?ref=main`);
  expect(log.items[0].subject).toBe("Say more in the README");

  // The branch moves (an API commit) between opening the editor and committing: a conflict.
  await page.goto(`${base}/edit/main/README.md`);
  await expect(edit).toContainText("Second line.");
  const theirs = await apiCommit(owner.api, p.id, "README.md", "# Theirs\n", "Their change");
  await edit.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("Mine.\n");
  await page.getByRole("button", { name: "Commit to main" }).click();
  const conflict = page.getByRole("alert").filter({ hasText: "has changed since you started editing" });
  await expect(conflict).toBeVisible();
  await expect(conflict.getByRole("table", { name: /Their version/ })).toContainText("+Mine.");
  await expect(conflict.getByRole("table", { name: /Their version/ })).toContainText("-# Theirs");
  await expectAccessible(page, "editor conflict");
  await page.screenshot({ path: testInfo.outputPath("conflict.png") });
  await conflict.getByRole("button", { name: "Keep mine and commit on top" }).click();
  await expect(page).toHaveURL(`${base}/blob/main/README.md`);
  log = await owner.api.get(`/api/v1/projects/${p.id}/repo/commits?ref=main`);
  expect(log.items[0].parents).toEqual([theirs.commit]);

  // Again, and this time take theirs: the editor holds their text, and committing it changes nothing.
  await page.goto(`${base}/edit/main/README.md`);
  await expect(edit).toContainText("Mine.");
  await apiCommit(owner.api, p.id, "README.md", "# Theirs again\n", "Their second change");
  await edit.click();
  await page.keyboard.type("x");
  await page.getByRole("button", { name: "Commit to main" }).click();
  await conflict.getByRole("button", { name: "Take theirs" }).click();
  await expect(edit).toContainText("# Theirs again");
  await expect(conflict).toHaveCount(0);
});
