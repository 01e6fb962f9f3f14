// Helpers of the sign-in and account specs (signin.spec.ts, me.spec.ts).
import { request, type APIRequestContext, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { expect } from "./fixtures.ts";

// A second, cookie-authenticated session of a user (another device), made over the API.
export async function sessionFor(baseURL: string, username: string, password: string): Promise<APIRequestContext> {
  const ctx = await request.newContext({ baseURL });
  const r = await ctx.post("/api/v1/auth/login", { data: { username, password } });
  if (!r.ok()) throw new Error(`login ${username}: ${r.status()} ${await r.text()}`);
  return ctx;
}

export async function newPage(browser: Browser, baseURL: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } });
  return { ctx, page: await ctx.newPage() };
}

export async function accountMenu(page: Page, item: string): Promise<void> {
  await page.getByRole("button", { name: /^Account menu for / }).click();
  await page.getByRole("menuitem", { name: item, exact: true }).click();
}

// Fills the sign-in form (the page must be on /login).
export async function submitSignIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

// The page fits the viewport's width (no sideways scrolling at 390 px).
export async function expectNoSidewaysScroll(page: Page): Promise<void> {
  // A string: the e2e code is type-checked without the DOM's types.
  const [scroll, width] = await page.evaluate<number[]>("[document.documentElement.scrollWidth, window.innerWidth]");
  expect(scroll, "page wider than the viewport").toBeLessThanOrEqual(width + 1);
}
