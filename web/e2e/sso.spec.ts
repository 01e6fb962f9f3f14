// Signing in through an OpenID Connect provider in a real browser: scripts/dev-idp.sh's provider
// (over HTTPS with a throwaway CA), its dev login page, and Atrium's mapping rules landing the
// person in the right org and group; a cancelled sign-in comes back in words; sign-out goes on to
// the provider's logout.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expectAccessible } from "./a11y.ts";
import { ADMIN_PASSWORD, expect, test, tokenFor } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";

const DEV_IDP = resolve(import.meta.dirname, "../../scripts/dev-idp.sh");

test.use({ ignoreHTTPSErrors: true }); // the provider's throwaway CA

test("a researcher signs in with the institution's provider and lands in their org", async ({ browser }) => {
  test.setTimeout(120_000);  // dev-idp start waits up to 60 s for the provider under load
  const dir = mkdtempSync(join(tmpdir(), "atrium-e2e-idp-"));
  const toml = execFileSync(DEV_IDP, ["start", dir], { encoding: "utf8" });
  const oidc = toml.slice(toml.indexOf("[oidc.dev]"), toml.indexOf("[ldap.devldap]"));
  const config = join(dir, "atrium-e2e.toml");
  writeFileSync(
    config,
    oidc + '\n[[oidc.dev.rules]]\nclaim_group = "physics-staff"\norg = "physics"\nrole = "member"\ngroup = "staff"\n',
  );
  const server = await AtriumServer.start({ args: ["--config", config] });
  try {
    const admin = await tokenFor(server, "admin", ADMIN_PASSWORD);
    const org = await admin.post("/api/v1/orgs", { slug: "physics", name: "Physics" });
    const staff = await admin.post(`/api/v1/orgs/${org.id}/groups`, { slug: "staff", name: "Staff" });
    // The redirect URI is on server.public_url (localhost): the browser uses that origin throughout.
    const origin = `http://localhost:${server.port}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();

    // Cancelled at the provider: back on the sign-in page with a message.
    await page.goto(`${origin}/login?sso_error=access_denied`);
    await expect(page.getByRole("alert")).toContainText("cancelled at your identity provider");

    await page.goto(`${origin}/login?next=${encodeURIComponent("/physics")}`);
    const button = page.getByRole("link", { name: "Sign in with Dev OIDC (local)" });
    await expect(button).toBeVisible();
    await expectAccessible(page, "sign-in page with a provider");
    await button.click();
    // oidc-provider's development login and consent pages
    await page.locator('input[name="login"]').fill("alice");
    await page.locator('input[name="password"]').fill("any");
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]').click(); // consent
    await expect(page).toHaveURL(new RegExp(`^${origin}/physics$`));
    type Me = { username: string; orgs: unknown; groups: string[] };
    const me = await page.evaluate(async () => (await (await fetch("/api/v1/me")).json()) as Me);
    expect(me.username).toBe("alice");
    expect(JSON.stringify(me.orgs)).toContain('"slug":"physics"');
    expect(me.groups).toContain(staff.id);

    // Sign-out ends Atrium's session and goes on to the provider's logout.
    const logout = await page.evaluate(async () => {
      // (globalThis: this tsconfig has no DOM types)
      const doc = (globalThis as unknown as { document: { cookie: string } }).document;
      const csrf = doc.cookie.match(/atrium_csrf=([^;]+)/)?.[1] ?? "";
      const r = await fetch("/api/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: "{}",
      });
      return (await r.json()) as { logout_url?: string };
    });
    expect(logout.logout_url).toContain("post_logout_redirect_uri=");
    await context.close();
  } finally {
    await server.stop();
    execFileSync(DEV_IDP, ["stop", dir, "--rm"]);
  }
});
