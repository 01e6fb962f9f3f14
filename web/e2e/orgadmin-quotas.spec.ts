// Org administration, Quotas and Audit: an org admin lowers a member's CPU-hours below what the
// member used; the member's next job is refused with the quota's message (problem JSON); a save
// over someone else's change says so; the audit page filters to the refusal's event, verifies the
// org's share of the chain and exports what it shows.
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test } from "./fixtures.ts";

const JOB = { command: ["true"], cpus: 1, mem_mb: 128, time_limit_s: 60 };

test("a quota lowered below use refuses the next job; the audit page finds the refusal", async ({ page, world }) => {
  const org = await world.org();
  const admin = await world.user(org, "org-admin");
  const member = await world.user(org, "member");
  const p = await world.project(member, org);
  // Some use first: a short job that ends (its CPU-hours count against the period).
  const job = await member.api.post(`/api/v1/projects/${p.id}/jobs`, JOB);
  await expect
    .poll(async () => (await member.api.get(`/api/v1/jobs/${job.id}`)).state, { timeout: 30_000 })
    .toBe("COMPLETED");

  await signIn(page, admin.username, admin.password, `/orgs/${org.slug}/quotas`);
  await expect(page.getByRole("heading", { name: "Quotas", level: 2 })).toBeVisible();
  const table = page.getByRole("table", { name: "Quotas and their use" });
  await expect(table.getByRole("rowheader", { name: `Organisation Org ${org.slug}` })).toBeVisible();
  await expectAccessible(page, "org quotas");

  // The member's CPU-hours: 0, below what they used.
  await page.getByRole("combobox", { name: "Member" }).click();
  await page.getByRole("option", { name: member.username }).click();
  await page.getByRole("button", { name: "Set limits" }).click();
  const dialog = page.getByRole("dialog", { name: `Limits of User ${member.username}` });
  await dialog.getByRole("textbox", { name: "CPU-hours per period" }).fill("0");
  await expectAccessible(page, "quota editor");
  await dialog.getByRole("button", { name: "Save limits" }).click();
  await expect(dialog).toHaveCount(0);
  const row = table.getByRole("row", { name: new RegExp(`User ${member.username}`) });
  await expect(row.getByText(/ of 0 \(over the limit\)$/)).toBeVisible();
  await expect(row.getByRole("progressbar", { name: /^CPU-hours: .* of 0$/ })).toBeVisible();

  // The next submission is refused with the quota's message.
  const r = await member.api.ctx.fetch(`/api/v1/projects/${p.id}/jobs`, {
    method: "POST",
    data: JOB,
    headers: { Authorization: `Bearer ${member.api.token}` },
  });
  expect(r.status()).toBe(507);
  expect(r.headers()["content-type"]).toContain("application/problem+json");
  const problem = await r.json();
  expect(problem.type).toContain("quota-exceeded");
  expect(problem.detail).toContain(`user ${member.id} has used`);
  expect(problem.detail).toContain("CPU-hours this period");

  // Someone else saves meanwhile: this save says so, and a reload shows theirs.
  await row.getByRole("button", { name: `Edit limits of User ${member.username}` }).click();
  const q = await admin.api.get(`/api/v1/orgs/${org.id}/quotas/user/${member.id}`);
  await admin.api.call("PUT", `/api/v1/orgs/${org.id}/quotas/user/${member.id}`, { cpu_hours: 0, concurrent_jobs: 5 }, {
    "If-Match": q.etag,
  });
  await dialog.getByRole("textbox", { name: "Concurrent jobs" }).fill("3");
  await dialog.getByRole("button", { name: "Save limits" }).click();
  await expect(dialog.getByRole("alert").filter({ hasText: "Changed meanwhile" })).toBeVisible();
  await dialog.getByRole("button", { name: "Reload" }).click();
  await expect(dialog.getByRole("textbox", { name: "Concurrent jobs" })).toHaveValue("5");
  await dialog.getByRole("button", { name: "Cancel" }).click();

  // The audit page: filtered to quota refusals, it holds the one refusal, by the member.
  await page.getByRole("link", { name: "Audit" }).click();
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
  await page.getByRole("textbox", { name: "Action" }).fill("quota.exceeded");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await expect(page).toHaveURL(/action=quota.exceeded/);
  const events = page.getByRole("table", { name: "Audit events" });
  await expect(events.getByRole("row")).toHaveCount(2); // the header and the refusal
  const refusal = events.getByRole("row").nth(1);
  await expect(refusal).toContainText(member.username);
  await expect(refusal).toContainText("quota.exceeded");
  await expect(refusal).toContainText(problem.detail);
  const exp = page.getByRole("link", { name: "Export NDJSON" });
  await expect(exp).toHaveAttribute("href", new RegExp(`org=${org.id}.*action=quota.exceeded`));
  await page.getByRole("button", { name: "Verify this organisation's events" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Intact: this organisation's events" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Verify the whole chain" })).toHaveCount(0);
  await expectAccessible(page, "org audit");

  // The export holds the same event (the browser's session, same filters).
  const nd = await page.request.get(await exp.getAttribute("href") ?? "");
  const lines = (await nd.text()).trim().split("\n").map((l) => JSON.parse(l));
  expect(lines.map((e) => e.action)).toEqual(["quota.exceeded"]);
});
