import { expectAccessible } from "./a11y.ts";
import { ADMIN_PASSWORD, expect, signIn, test } from "./fixtures.ts";

test("the admin signs in and lands on the home page", async ({ page }) => {
  await signIn(page, "admin", ADMIN_PASSWORD);
  await expect(page.getByRole("link", { name: "Atrium home" })).toBeVisible();
});

test("a wrong password is refused in words", async ({ page }) => {
  await page.goto("/login");
  await page.getByRole("textbox", { name: "Username" }).fill("admin");
  await page.getByRole("textbox", { name: "Password", exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("Wrong username or password");
});

test("the sign-in page is accessible, light and dark, wide and narrow", async ({ page }) => {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 800 });
      await page.goto("/login");
      await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
      await expectAccessible(page, `/login ${scheme} ${width}px`);
    }
  }
});
