// Signing in with an LDAP directory: the sign-in form offers the directory by its display name,
// a wrong directory password is refused in words, the right one signs in. The directory is the
// slapd of scripts/dev-idp.sh, on a server of its own configured with its [ldap.devldap] section.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expectAccessible } from "./a11y.ts";
import { newPage, submitSignIn } from "./auth-helpers.ts";
import { expect, test } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";

const script = resolve(import.meta.dirname, "../../scripts/dev-idp.sh");

test("a directory account signs in from the sign-in page", async ({ browser }, testInfo) => {
  const dir = mkdtempSync(join(tmpdir(), "e2e-ldap-"));
  const toml = execFileSync(script, ["start", join(dir, "idp")], { encoding: "utf8" });
  let srv: AtriumServer | undefined;
  try {
    const section = toml.slice(toml.indexOf("[ldap.devldap]"));
    writeFileSync(join(dir, "atrium.toml"), section);
    srv = await AtriumServer.start({ args: ["--config", join(dir, "atrium.toml")] });
    const { ctx, page } = await newPage(browser, srv.url);
    await page.goto("/login");
    const choice = page.getByRole("radiogroup", { name: "Account to sign in with" });
    await choice.getByText("Dev LDAP (local)").click();
    await expect(page.getByText("Your Dev LDAP (local) username and password")).toBeVisible();
    await expectAccessible(page, "/login with a directory");
    await submitSignIn(page, "alice", "not alice's password");
    await expect(page.getByRole("alert")).toContainText("Wrong username or password");
    await submitSignIn(page, "alice", "alice-pw");
    await expect(page.getByRole("link", { name: "Atrium home" })).toBeVisible();
    await page.screenshot({ path: testInfo.outputPath("signed-in.png") });
    await ctx.close();
  } finally {
    await srv?.stop();
    execFileSync(script, ["stop", join(dir, "idp")]);
    rmSync(dir, { recursive: true, force: true });
  }
});
