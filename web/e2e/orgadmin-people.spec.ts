// An org's people, run from the browser by its org admin: invite someone by a link made in the UI
// (they accept it and appear among the members), and make a custom role in the matrix editor, give
// it to a member, who can then do exactly what it allows and no more.
import type { Browser, Page } from "@playwright/test";
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test, unique, type TestUser } from "./fixtures.ts";

async function signedIn(browser: Browser, baseURL: string, u: TestUser, next: string): Promise<Page> {
  const ctx = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await signIn(page, u.username, u.password, next);
  return page;
}

test("an org admin invites a user, who accepts and appears among the members", async ({ browser, atrium, world }) => {
  const org = await world.org();
  const boss = await world.user(org, "org-admin");
  const page = await signedIn(browser, atrium.url, boss, `/orgs/${org.slug}/members`);
  const members = page.getByRole("table", { name: "Organisation members" });
  await expect(members.getByRole("row", { name: new RegExp(boss.username) })).toContainText("Last org admin (protected)");
  await expect(page.getByRole("combobox", { name: `Role of ${boss.username}` })).toBeDisabled();
  await expect(page.getByRole("button", { name: `Remove ${boss.username} from the organisation` })).toBeDisabled();
  await expectAccessible(page, "org members");

  // The link, shown once with a copy button.
  await page.getByRole("button", { name: "Create invitation link" }).click();
  const link = page.getByTestId("invitation-link");
  await expect(link).toContainText("/invite#");
  await expect(page.getByRole("button", { name: /^Copy link/ })).toBeVisible();
  await expectAccessible(page, "org members with a new invitation link");
  const url = new URL((await link.textContent()) ?? "");
  await page.getByRole("button", { name: "I have copied it" }).click();
  await expect(link).toHaveCount(0);

  // The invitee, in a browser of their own.
  const guestCtx = await browser.newContext({ baseURL: atrium.url });
  const guest = await guestCtx.newPage();
  await guest.goto(`${url.pathname}${url.hash}`);
  const username = unique("newbie");
  await guest.getByRole("textbox", { name: "Username" }).fill(username);
  await guest.getByRole("textbox", { name: "Password", exact: true }).fill("a-good-long-password");
  await guest.getByRole("button", { name: "Create my account" }).click();
  await expect(guest.getByRole("button", { name: `Account menu for ${username}` })).toBeVisible();
  await guestCtx.close();

  // They appear (search finds them), with the invitation's role; the invitation is used.
  await page.reload();
  await page.getByRole("textbox", { name: "Search members" }).fill(username.slice(0, 10));
  await expect(members.getByRole("row")).toHaveCount(2); // the header and them
  await expect(page.getByRole("combobox", { name: `Role of ${username}` })).toHaveValue("member");
  await expect(page.getByRole("table", { name: "Invitations" }).getByRole("row").nth(1)).toContainText("used");

  // A second link, revoked before anyone uses it.
  await page.getByRole("button", { name: "Create invitation link" }).click();
  await page.getByRole("button", { name: "I have copied it" }).click();
  await page.getByRole("button", { name: /^Revoke the member invitation/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("table", { name: "Invitations" }).getByRole("row").nth(2)).toContainText("revoked");
  await page.context().close();
});

test("a custom role, made in the editor and granted, allows exactly what it grants", async ({ browser, atrium, world }) => {
  const org = await world.org();
  const boss = await world.user(org, "org-admin");
  const grantee = await world.user(org, "member");
  const page = await signedIn(browser, atrium.url, boss, `/orgs/${org.slug}/roles`);
  await expect(page.getByRole("table", { name: "Built-in roles" })).toContainText("members:*:org");
  await expectAccessible(page, "org roles");

  // The editor offers only what the org admin holds: it cannot give orgs:delete.
  await page.getByRole("button", { name: "New role" }).click();
  await expect(page.getByText("orgs delete: not yours to grant")).toHaveCount(1);
  await expect(page.getByRole("combobox", { name: "orgs delete", exact: true })).toHaveCount(0);
  const role = unique("keeper");
  await page.getByRole("textbox", { name: "Name" }).fill(role);
  await page.getByRole("textbox", { name: "Description" }).fill("Looks after the groups");
  for (const cell of ["orgs read", "groups read", "groups create", "groups write"])
    await page.getByRole("combobox", { name: cell, exact: true }).selectOption("org");
  await expectAccessible(page, "role editor");
  await page.getByRole("button", { name: "Create role" }).click();
  const custom = page.getByRole("table", { name: "Custom roles" });
  await expect(custom).toContainText("groups:create:org");

  // Granted on the members page, then listed among its holders.
  await page.goto(`/orgs/${org.slug}/members`);
  await page.getByRole("combobox", { name: `Role of ${grantee.username}` }).click();
  await page.getByRole("option", { name: role }).click();
  await expect(page.getByRole("combobox", { name: `Role of ${grantee.username}` })).toHaveValue(role);
  await page.goto(`/orgs/${org.slug}/roles`);
  await page.getByRole("button", { name: `Who holds ${role}` }).click();
  await expect(page.getByRole("list", { name: `Holders of ${role}` })).toContainText(grantee.username);
  await page.context().close();

  // The grantee manages groups in the UI...
  const g = await signedIn(browser, atrium.url, grantee, `/orgs/${org.slug}/groups`);
  const slug = unique("lab");
  await g.getByRole("textbox", { name: "Slug" }).fill(slug);
  await g.getByRole("textbox", { name: "Name" }).fill(`Lab ${slug}`);
  await g.getByRole("button", { name: "Create group" }).click();
  await expect(g.getByRole("table", { name: "Groups" })).toContainText(`Lab ${slug}`);
  await expectAccessible(g, "org groups");
  // ...and nothing else: no members page, and the API refuses an invitation.
  await expect(g.getByRole("link", { name: "Members" })).toHaveCount(0);
  await g.goto(`/orgs/${org.slug}/members`);
  await expect(g.getByRole("alert")).toContainText("Not allowed");
  const r = await grantee.api.ctx.fetch(`/api/v1/orgs/${org.id}/invitations`, {
    method: "POST",
    data: { role: "viewer" },
    headers: { Authorization: `Bearer ${grantee.api.token}` },
  });
  expect(r.status(), await r.text()).toBe(404); // not even shown to it: invitations are not its business
  await g.context().close();
});
