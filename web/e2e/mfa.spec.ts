// Two-factor authentication in the browser: enrol on the Security page (current password, QR code,
// key, confirm), recovery codes shown once; sign out; sign in with the app's code (computed here
// from the key with node:crypto), and with a recovery code, which works once.
import { createHmac } from "node:crypto";
import { expectAccessible } from "./a11y.ts";
import { accountMenu, submitSignIn } from "./auth-helpers.ts";
import { expect, signIn, test } from "./fixtures.ts";

function base32(s: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s.replace(/=+$/, "")) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret: string, step: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

// The authenticator app: each step is accepted once, and one step either side of now.
class Device {
  private last = 0;
  private readonly secret: string;
  constructor(secret: string) {
    this.secret = secret;
  }
  async code(): Promise<string> {
    for (;;) {
      const cur = Math.floor(Date.now() / 30_000);
      // The server reads its clock after us: its step is ours or the next, so ours and the next
      // one are inside its window (one step either side).
      const step = Math.max(cur, this.last + 1);
      if (step <= cur + 1) {
        this.last = step;
        return totp(this.secret, step);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

test("enrol, then sign in with a code and with a recovery code (once)", async ({ page, world }, testInfo) => {
  const u = await world.user();
  await signIn(page, u.username, u.password, "/me/security");
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
  await expectAccessible(page, "/me/security");
  // A wrong current password starts nothing.
  await page.getByLabel("Your current password").fill("not-the-password");
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(page.getByText("the password is wrong")).toBeVisible();
  await expect(page.getByRole("img", { name: "QR code of the authenticator key" })).toHaveCount(0);
  await page.getByLabel("Your current password").fill(u.password);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(page.getByRole("img", { name: "QR code of the authenticator key" })).toBeVisible();
  const device = new Device(await page.getByRole("textbox", { name: "Key" }).inputValue());
  await expectAccessible(page, "/me/security (enrolling)");
  await page.getByRole("textbox", { name: "Code from the app" }).fill("000000");
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByText("the code does not match")).toBeVisible();
  await page.getByRole("textbox", { name: "Code from the app" }).fill(await device.code());
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  const codesBlock = page.getByLabel("Recovery codes", { exact: true });
  await expect(codesBlock).toBeVisible();
  const codes = (await codesBlock.innerText()).split("\n").filter((c) => c.trim());
  expect(codes).toHaveLength(10);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download .txt" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("atrium-recovery-codes.txt");
  await expectAccessible(page, "/me/security (recovery codes)");
  await page.screenshot({ path: testInfo.outputPath("recovery-codes.png") });
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByText("Two-factor authentication is on")).toBeVisible();
  await expect(page.getByText("Recovery codes left: 10")).toBeVisible();

  // Sign out; the password alone now leads to the second step.
  await accountMenu(page, "Sign out");
  await expect(page).toHaveURL(/\/login/);
  await submitSignIn(page, u.username, u.password);
  const codeBox = page.getByRole("textbox", { name: "Code from your authenticator app" });
  await expect(codeBox).toBeVisible();
  await expectAccessible(page, "/login (second step)");
  await codeBox.fill(await device.code());
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).not.toHaveURL(/\/login/);

  // A recovery code signs in once.
  for (const expectOk of [true, false]) {
    await accountMenu(page, "Sign out");
    await expect(page).toHaveURL(/\/login/);
    await submitSignIn(page, u.username, u.password);
    await page.getByRole("button", { name: "Use a recovery code" }).click();
    await page.getByRole("textbox", { name: "Recovery code" }).fill(codes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    if (expectOk) await expect(page).not.toHaveURL(/\/login/);
    else await expect(page.getByRole("alert")).toContainText("wrong or was already used");
  }
});

test("an org that requires it sends a member to the Security page first", async ({ page, world, admin }) => {
  const org = await world.org();
  const u = await world.user(org);
  const policy = await admin.get(`/api/v1/orgs/${org.id}/mfa-policy`);
  await admin.call("PUT", `/api/v1/orgs/${org.id}/mfa-policy`, { require_mfa: true }, { "If-Match": policy.etag });
  await page.goto("/login?next=%2Fjobs");
  await submitSignIn(page, u.username, u.password);
  await expect(page).toHaveURL(/\/me\/security\?next=%2Fjobs/);
  await expect(page.getByText("Your account must use two-factor authentication")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Account" })).toHaveCount(0);
  await expectAccessible(page, "/me/security (required)");
  await page.getByLabel("Your current password").fill(u.password);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const device = new Device(await page.getByRole("textbox", { name: "Key" }).inputValue());
  await page.getByRole("textbox", { name: "Code from the app" }).fill(await device.code());
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/jobs$/);
});
