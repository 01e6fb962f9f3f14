// An org's Usage page: seeded jobs (rows written into the server's database with known run times)
// shown as a stacked bar chart by group per day and a table of the same numbers; the CSV export,
// storage by project and the fair-share tree; axe on the page.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expectAccessible } from "./a11y.ts";
import { expect, signIn, test, type World } from "./fixtures.ts";

const H = 3_600_000;

function seedJob(world: World, row: { org: string; project: string; group: string; user: string; start: number; hours: number; cpus: number }) {
  const id = `seed${Math.random().toString(36).slice(2, 10)}`;
  const end = row.start + row.hours * H;
  const sql =
    "INSERT INTO jobs (id, org_id, project_id, group_id, user_id, name, qos, nice, argv, script, env, uid, cpus, mem_mb, gpus," +
    " time_limit_ms, dependency, array_spec, state, held, reason, reason_detail, submit_ms, start_ms, end_ms, exit_code," +
    " alloc_cpus, alloc_mem_mb, alloc_gpus, requeue_count, version) VALUES " +
    `('${id}', '${row.org}', '${row.project}', '${row.group}', '${row.user}', 'seeded', 'normal', 0, '["true"]', '', '{}',` +
    ` 2000001, ${row.cpus}, 128, 0, 86400000, '', '', 'COMPLETED', 0, '', '', ${row.start}, ${row.start}, ${end}, 0,` +
    ` ${row.cpus}, 128, '[]', 0, 1);`;
  execFileSync("sqlite3", ["-cmd", ".timeout 10000", join(world.server.dataDir, "atrium.db"), sql]);
}

test("org usage: chart and table agree; storage and fair share listed", async ({ page, world }) => {
  const org = await world.org();
  const admin = await world.user(org, "org-admin");
  const member = await world.user(org, "member");
  const group = await admin.api.post(`/api/v1/orgs/${org.id}/groups`, { slug: "lab", name: "Lab" });
  const p = await world.project(admin, org, { name: "Usage Project" });
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const yesterday = today - 24 * H;
  seedJob(world, { org: org.id, project: p.id, group: group.id, user: member.id, start: yesterday + 10 * H, hours: 2, cpus: 2 });
  seedJob(world, { org: org.id, project: p.id, group: "", user: admin.id, start: yesterday + 10 * H, hours: 3, cpus: 1 });

  await signIn(page, admin.username, admin.password, `/orgs/${org.slug}/usage`);
  const chart = page.getByTestId("org-usage-chart");
  await expect(chart).toHaveAttribute("data-rendered", "true");
  const table = page.getByRole("table", { name: "CPU-hours per day by group" });
  const day = new Date(yesterday).toISOString().slice(0, 10);
  const row = table.getByRole("row", { name: new RegExp(`^${day}`) });
  // Columns: the period, then the series (largest first: Lab 4, no group 3), then the total.
  await expect(table.getByRole("columnheader")).toHaveText(["Period starting", "Lab (lab)", "(no group)", "Total"]);
  await expect(row.getByRole("cell")).toHaveText(["4.00", "3.00", "7.00"]);
  await expect(chart).toHaveAttribute("data-total", "7.00");
  const totals = page.getByRole("table", { name: /^Totals by group/ });
  await expect(totals.getByRole("row", { name: /Lab/ }).getByRole("cell").nth(1)).toHaveText("4.00");

  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export CSV" }).first().click();
  const csv = await (await download).createReadStream();
  let text = "";
  for await (const chunk of csv) text += chunk;
  expect(text).toContain(`${day},4,3,7`);

  // By user: the same hours under the two users' names.
  await page.getByRole("radiogroup", { name: "By" }).getByText("User").click();
  const byUser = page.getByRole("table", { name: "CPU-hours per day by user" });
  await expect(byUser.getByRole("columnheader")).toHaveCount(4);
  await expect(byUser.getByRole("row", { name: new RegExp(`^${day}`) }).getByRole("cell").last()).toHaveText("7.00");

  await expect(page.getByRole("table", { name: "Storage by project" }).or(page.getByText("No data stored"))).toBeVisible();
  const fs = page.getByRole("table", { name: "Fair-share tree" });
  await expect(fs.getByRole("row").nth(1)).toContainText(`Org ${org.slug}`);
  await expectAccessible(page, `/orgs/${org.slug}/usage`);
});
