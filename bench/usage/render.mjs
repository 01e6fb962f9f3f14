// The browser half of bench/usage/run.sh: loads an org's Usage page in Debian's chromium and times
// navigation start -> the usage chart drawn (its data-rendered="true", set on ECharts' `finished`
// event) with the table of the same numbers in the document, p50/p90 over BENCH_RUNS loads of one
// signed-in page (the first load, which fetches the scripts, not counted), and the render alone:
// the usage answer's last byte -> the chart drawn with its table (what the browser does with the
// server's aggregate, apart from the API call the bench times on its own). Prints JSON.
import { env, launch, log, quantile } from "../web/browser.mjs";

const base = env("BENCH_BASE");
const path = env("BENCH_PATH");
const runs = Number(env("BENCH_RUNS", "10"));

// Runs in the page before its scripts: notes performance.now() (origin: navigation start) when the
// chart says it is drawn and its table has rows.
function benchInit() {
  const b = { done: false };
  window.__bench = b;
  const check = () => {
    if (b.done) return;
    const chart = document.querySelector('[data-testid="org-usage-chart"][data-rendered="true"]');
    const table = document.querySelector('table[aria-label^="CPU-hours per"] tbody tr');
    if (chart && table) {
      b.at = performance.now();
      b.done = true;
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
}

const browser = await launch();
const ctx = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
const login = await ctx.request.post("/api/v1/auth/login", {
  data: { username: env("BENCH_USER"), password: env("BENCH_PASSWORD") },
});
if (!login.ok()) throw new Error(`login: ${login.status()} ${await login.text()}`);
await ctx.addInitScript(benchInit);
const page = await ctx.newPage();
const times = [];
let apiMs = [];
const renderMs = [];
for (let i = 0; i <= runs; i++) {
  await page.goto(path, { waitUntil: "commit" });
  await page.waitForFunction(() => window.__bench && window.__bench.done, undefined, { timeout: 30_000, polling: 20 });
  const at = await page.evaluate(() => window.__bench.at);
  const api = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .filter((e) => e.name.includes("/usage?"))
      .map((e) => ({ took: e.responseEnd - e.startTime, end: e.responseEnd })),
  );
  const render = at - Math.max(...api.map((x) => x.end));
  if (i > 0) {
    times.push(at);
    apiMs = apiMs.concat(api.map((x) => x.took));
    renderMs.push(render);
  }
  log(`load ${i}${i === 0 ? " (warm-up)" : ""}: ${at.toFixed(0)} ms (usage API in the page ${api.map((x) => x.took.toFixed(0)).join(", ")} ms, render ${render.toFixed(0)} ms)`);
}
if (process.env.BENCH_SCREENSHOT) await page.screenshot({ path: process.env.BENCH_SCREENSHOT, fullPage: true });
await browser.close();
console.log(
  JSON.stringify({
    p50: quantile(times, 0.5),
    p90: quantile(times, 0.9),
    api_in_page_p50: quantile(apiMs, 0.5),
    render_p50: quantile(renderMs, 0.5),
    render_p90: quantile(renderMs, 0.9),
    runs: times.length,
    times,
  }),
);
