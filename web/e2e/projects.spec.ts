// Projects in the browser: create from the UI, find it on home and in search, settings with a
// conflict, members, archive, delete with confirmation; another tenant never sees any of it.
import type { Browser, Page } from "@playwright/test";
import { expectAccessible } from "./a11y.ts";
import { ADMIN_PASSWORD, expect, signIn, test, unique, type TestUser } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";

// A signed-in page of its own for a second user in the same test.
async function pageFor(browser: Browser, url: string, u: TestUser, next?: string): Promise<Page> {
  const ctx = await browser.newContext({ baseURL: url, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await signIn(page, u.username, u.password, next);
  return page;
}

test("a member creates a project from the UI and finds it on home and in search", async ({ page, world }, info) => {
  const org = await world.org();
  const alice = await world.user(org, "member");
  const word = unique("glacier").replace(/-/g, "");
  await signIn(page, alice.username, alice.password);
  await expect(page.getByText("No projects yet")).toBeVisible();

  await page.getByRole("link", { name: "New project" }).first().click();
  await expect(page).toHaveURL(/\/new$/);
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(`Ice ${word}`);
  const slug = page.getByRole("textbox", { name: "Slug" });
  await expect(slug).toHaveValue(`ice-${word}`);
  // The slug is checked as it is typed, with the API's rule.
  await slug.fill("Ice Sheet");
  await expect(page.getByText("Start with a lowercase letter or a digit")).toBeVisible();
  await slug.fill("ice sheet");
  await expect(page.getByText('Only a-z, 0-9, - _ and . are allowed (not " ")')).toBeVisible();
  await slug.fill(`ice-${word}`);
  await page.getByRole("radio", { name: /^Organisation:/ }).check();
  await page.getByRole("textbox", { name: "Description" }).fill(`Mass balance of the ${word} sheet`);
  const tags = page.getByRole("combobox", { name: "Tags" });
  await tags.fill("Climate");
  await tags.press("Enter");
  await expectAccessible(page, "/new");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page).toHaveURL(new RegExp(`/${org.slug}/ice-${word}$`));
  await expect(page.getByRole("heading", { level: 1, name: `Ice ${word}` })).toBeVisible();
  await expect(page.getByRole("tab", { name: "Settings" })).toBeVisible();

  // The same slug again: the server's answer at the slug field.
  await page.goto("/new");
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(`Ice ${word}`);
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByText(`a project with slug 'ice-${word}' exists in this organisation`)).toBeVisible();

  // Home: the project, and the activity.
  await page.getByRole("link", { name: "Atrium home" }).click();
  const mine = page.getByRole("list", { name: "Your projects" });
  await expect(mine.getByRole("link", { name: `Ice ${word}` })).toBeVisible();
  await expect(page.getByRole("list", { name: "Recent activity" }).getByText("created the project")).toBeVisible();
  await expectAccessible(page, "home");

  // Search from the header: the match is highlighted.
  await page.getByRole("textbox", { name: "Search projects" }).fill(word.slice(0, 8));
  await page.getByRole("textbox", { name: "Search projects" }).press("Enter");
  await expect(page).toHaveURL(/\/search\?q=/);
  const results = page.getByRole("list", { name: "Search results" });
  await expect(results.getByRole("link", { name: `Ice ${word}` })).toBeVisible();
  await expect(results.locator("mark").first()).toHaveText(word.slice(0, 8));
  await expectAccessible(page, "/search");
  await page.getByRole("textbox", { name: /Words in a project/ }).fill(`${word} nothingmatchesthis`);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(page.getByText(/No project you can see matches/)).toBeVisible();
  await page.screenshot({ path: info.outputPath("search.png") });
});

test("settings: a conflict, a member who then sees it, archive, delete", async ({ page, browser, world, atrium }, info) => {
  const org = await world.org();
  const owner = await world.user(org, "member");
  const bob = await world.user(org, "member");
  const p = await world.project(owner, org, { description: "first words" });
  const base = `/${org.slug}/${p.slug}`;
  await signIn(page, owner.username, owner.password, `${base}/settings`);
  const name = page.getByRole("textbox", { name: "Name", exact: true });
  await expect(name).toHaveValue(p.name);
  await expectAccessible(page, "settings (owner)");

  // Someone else saves first: 412, shown as a conflict; reload and save again.
  await name.fill("Renamed here");
  await owner.api.call("PATCH", `/api/v1/projects/${p.id}`, { description: "changed elsewhere" }, { "If-Match": p.etag });
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Someone else changed this project meanwhile")).toBeVisible();
  await page.getByRole("button", { name: "Reload the project" }).click();
  await expect(page.getByRole("textbox", { name: "Description" })).toHaveValue("changed elsewhere");
  await expect(name).toHaveValue(p.name);
  await name.fill("Renamed here");
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Saved.")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1, name: "Renamed here" })).toBeVisible();

  // Members: a wrong username is refused at the field; bob is added as a viewer.
  const username = page.getByRole("textbox", { name: "Username" });
  await username.fill("nobody-here");
  await page.getByRole("button", { name: "Add member" }).click();
  await expect(page.getByText("the user must be a member of the project's organisation")).toBeVisible();
  await username.fill(bob.username);
  await page.getByRole("combobox", { name: "Role", exact: true }).click();
  await page.getByRole("option", { name: "viewer" }).click();
  await page.getByRole("button", { name: "Add member" }).click();
  const members = page.getByRole("table", { name: "Project members" });
  await expect(members.getByRole("row", { name: new RegExp(bob.username) })).toBeVisible();

  // Bob sees it on his home page, and its settings read-only.
  const bobPage = await pageFor(browser, atrium.url, bob);
  await expect(bobPage.getByRole("list", { name: "Your projects" }).getByRole("link", { name: "Renamed here" })).toBeVisible();
  await bobPage.goto(`${base}/settings`);
  await expect(bobPage.getByText("its settings are read-only for you")).toBeVisible();
  await expect(bobPage.getByRole("button", { name: "Save changes" })).toHaveCount(0);
  await expect(bobPage.getByRole("button", { name: "Delete project" })).toHaveCount(0);
  await expectAccessible(bobPage, "settings (viewer)");
  await bobPage.context().close();

  // Archive, then unarchive.
  await page.getByRole("button", { name: "Archive project" }).click();
  await expect(page.getByText("archived", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "Save changes" })).toHaveCount(0);
  await page.getByRole("button", { name: "Unarchive project" }).click();
  await expect(page.getByRole("button", { name: "Archive project" })).toBeVisible();

  // Delete: only once the slug is typed.
  await page.getByRole("button", { name: "Delete project" }).click();
  const dialog = page.getByRole("dialog");
  const confirm = dialog.getByRole("button", { name: "Delete this project" });
  await expect(confirm).toBeDisabled();
  await expectAccessible(page, "delete dialog");
  await dialog.getByRole("textbox", { name: /Type the project's slug/ }).fill(p.slug);
  await page.screenshot({ path: info.outputPath("delete.png") });
  await confirm.click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText("No projects yet")).toBeVisible();
  await page.goto(base);
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
});

test("another tenant's user never sees the project", async ({ page, world }, info) => {
  const org = await world.org();
  const word = unique("fjord").replace(/-/g, "");
  const p = await world.admin.post(`/api/v1/orgs/${org.id}/projects`, {
    slug: unique("fjord"),
    name: `Fjord ${word}`,
    description: `the ${word} survey`,
    visibility: "org",
  });
  const other = await world.org();
  const eve = await world.user(other, "org-admin");
  await signIn(page, eve.username, eve.password);
  await expect(page.getByText("No projects yet")).toBeVisible();
  await expect(page.getByText(word)).toHaveCount(0);
  await page.goto(`/search?q=${word}`);
  await expect(page.getByText(/No project you can see matches/)).toBeVisible();
  for (const path of [`/${org.slug}/${p.slug}`, `/${org.slug}/${p.slug}/settings`, `/${org.slug}`]) {
    await page.goto(path);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  }
  await expectAccessible(page, "not found");
  await page.screenshot({ path: info.outputPath("not-found.png") });
});

test("home, settings and the org page at 390 px, dark", async ({ page, world }, info) => {
  const org = await world.org();
  const owner = await world.user(org, "member");
  const p = await world.project(owner, org, { description: "narrow", tags: ["a", "b"] });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page, owner.username, owner.password);
  await expect(page.getByRole("link", { name: p.name })).toBeVisible();
  await expectAccessible(page, "home 390 dark");
  await page.goto(`/${org.slug}/${p.slug}/settings`);
  await expect(page.getByRole("textbox", { name: "Name", exact: true })).toHaveValue(p.name);
  // The tabs scroll inside their row; the page itself is no wider than the screen.
  await expect(page.getByRole("tab", { name: "Settings" })).toBeAttached();
  expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
  await expectAccessible(page, "settings 390 dark");
  await page.goto(`/${org.slug}`);
  await expect(page.getByRole("list", { name: /Projects of/ }).getByRole("link", { name: p.name })).toBeVisible();
  await expectAccessible(page, "org page 390 dark");
  await page.screenshot({ path: info.outputPath("org-390-dark.png"), fullPage: true });
});

test("on a fresh server the instance admin creates the first organisation, then a project", async ({ browser }, testInfo) => {
  const srv = await AtriumServer.start();
  try {
    const ctx = await browser.newContext({ baseURL: srv.url, viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await signIn(page, "admin", ADMIN_PASSWORD);
    await page.goto("/new");
    await expect(page.getByRole("heading", { name: "Create the first organisation" })).toBeVisible();
    await expectAccessible(page, "/new without an org");
    await page.getByRole("textbox", { name: "Organisation slug" }).fill("Not a slug");
    await page.getByRole("textbox", { name: "Organisation name" }).fill("Ocean lab");
    await page.getByRole("button", { name: "Create organisation" }).click();
    await expect(page.getByText(/slug/i).locator("visible=true").first()).toBeVisible();
    await page.getByRole("textbox", { name: "Organisation slug" }).fill("ocean");
    await page.getByRole("button", { name: "Create organisation" }).click();
    // The project form, with the new org chosen.
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("Tides");
    await page.getByRole("button", { name: "Create project" }).click();
    await expect(page).toHaveURL(/\/ocean\/tides$/);
    await page.screenshot({ path: testInfo.outputPath("first-org-and-project.png") });
    await ctx.close();
  } finally {
    await srv.stop();
  }
});
