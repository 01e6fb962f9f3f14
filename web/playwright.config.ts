import { defineConfig, devices } from "@playwright/test";

// Debian's chromium (scripts/install-deps.sh installs it); never a browser download.
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: "e2e",
  outputDir: process.env.PW_OUTPUT_DIR ?? "test-results",
  forbidOnly: !!process.env.CI,
  // In CI (2 cores shared with the integration suites and SLURM daemons) a locator has twice
  // timed out under load on a spec that passes alone: one retry there, reported as flaky in the
  // closing line, so a load spike does not fail the run and a real failure (twice) still does.
  retries: process.env.CI ? 1 : 0,
  // On 2 cores one worker was as fast as two (chromium and the server share them); each worker
  // runs its own atrium server (e2e/fixtures.ts).
  workers: Number(process.env.PW_WORKERS ?? 1),
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"], ["./e2e/summary-reporter.ts"]],
  use: {
    trace: process.env.PW_TRACE ? "retain-on-failure" : "off",
    screenshot: "only-on-failure",
    viewport: { width: 1280, height: 800 },
    // No transitions (the UI honours prefers-reduced-motion): axe then never sees a dialog
    // half faded in, whose text would measure as low contrast.
    reducedMotion: "reduce",
  },
  projects: [
    {
      name: "chromium",
      use: { ...devices["Desktop Chrome"], viewport: { width: 1280, height: 800 }, launchOptions: { executablePath } },
    },
  ],
});
