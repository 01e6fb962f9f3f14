// The instance admin's Health page against a real server sampling every 250 ms: the charts fill
// and follow the requests served, each with its current value, a table view and CSV; the data
// store's garbage collection runs as a dry run, then for real behind a confirmation. A member is
// refused the page.
import { readFileSync } from "node:fs";
import { expectAccessible } from "./a11y.ts";
import { ADMIN_PASSWORD, expect, signIn, test as base } from "./fixtures.ts";
import { AtriumServer } from "./server.ts";

const test = base.extend<object, object>({
  atrium: [
    // oxlint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const s = await AtriumServer.start({ env: { ATRIUM_HEALTH_PERIOD_MS: "250" } });
      await use(s);
      await s.stop();
    },
    { scope: "worker", timeout: 60_000 },
  ],
});

test("live charts with current values, tables and CSV; garbage collection", async ({ page, admin }, info) => {
  await signIn(page, "admin", ADMIN_PASSWORD, "/admin/health");
  await expect(page.getByRole("heading", { name: "Health", exact: true })).toBeVisible();
  for (const name of ["Requests per second", "Latency", "Error rate", "Database time", "Open connections", "Memory (resident)", "Disk free"])
    await expect(page.getByRole("region", { name, exact: true })).toBeVisible();
  const latency = page.getByRole("region", { name: "Latency", exact: true });
  await expect(latency.getByTestId("chart-latency").locator("canvas")).toBeVisible();
  await expect(page.getByTestId("current-memory")).toContainText(/\d+(\.\d+)? (MiB|GiB)/);

  // Requests show in the figures the page polls.
  for (let i = 0; i < 40; i++) await admin.get("/healthz");
  await expect(page.getByTestId("current-latency")).toContainText(/p50 \d+\.\d ms/);

  // The table view: the same numbers, newest first, growing as samples arrive.
  await latency.getByRole("button", { name: "Show table of latency" }).click();
  const rows = latency.getByRole("table", { name: "Latency, the last hour, newest first" }).locator("tbody tr");
  const before = await rows.count();
  await expect.poll(() => rows.count()).toBeGreaterThan(before);
  await expectAccessible(page, "/admin/health with a table shown");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    latency.getByRole("button", { name: "Download CSV of latency" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("atrium-health-latency.csv");
  const csv = readFileSync(await download.path(), "utf8").split("\r\n");
  expect(csv[0]).toBe("time (UTC),p50 (ms),p95 (ms),p99 (ms)");
  expect(csv.length).toBeGreaterThan(3);
  await page.screenshot({ path: info.outputPath("health.png"), fullPage: true });

  // Garbage collection: the collection is offered after a dry run, and confirmed.
  const gc = page.getByRole("region", { name: "Data store garbage collection" });
  const collect = gc.getByRole("button", { name: "Collect garbage" });
  await expect(collect).toBeDisabled();
  await gc.getByRole("button", { name: "Dry run" }).click();
  await expect(gc.getByRole("table", { name: "Dry run: what a collection would remove" })).toBeVisible();
  await collect.click();
  const dialog = page.getByRole("dialog", { name: "Collect garbage?" });
  await expect(dialog).toContainText("unreferenced blobs");
  await expectAccessible(page, "/admin/health, the collection's confirmation");
  await dialog.getByRole("button", { name: "Collect" }).click();
  await expect(dialog).toBeHidden();
  await expect(gc.getByRole("status")).toContainText("Garbage collected");
  await expect(gc.getByRole("table", { name: "Collected" })).toBeVisible();
  await expect(collect).toBeDisabled();  // another collection takes another dry run first
});

test("a member is refused the page and its API", async ({ page, world }) => {
  const u = await world.user(await world.org());
  await signIn(page, u.username, u.password, "/admin/health");
  await expect(page.getByRole("alert")).toContainText("Not allowed");
  const r = await page.request.get("/api/v1/admin/health");
  expect(r.status()).toBe(403);
});
