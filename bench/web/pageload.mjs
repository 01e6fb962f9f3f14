// The browser half of bench/web/pageload.sh: loads /{org}/{project} in Debian's chromium and times
// navigation start -> "fully rendered with data", warm (one signed-in page, second load onwards) and
// cold (a new context per load, signed in through the saved cookies), then replays the page's own
// API calls with Node's fetch as the anchor. Prints the Markdown tables; writes every run as JSON.
//
// "Rendered" is measured inside the page: an init script's MutationObserver notes (performance.now(),
// whose origin is the navigation's start) when each awaited element is in the document and visible,
// and the load ends at the next animation frame after the last of them. Awaited: the project's name
// as a heading, and the README's first heading when the page renders it (found by a probe load
// before the measurements: the README wait switches itself on once the overview shows it; text of
// the README's body, or any [data-ready] element, count too).
import { writeFileSync } from "node:fs";
import { busyPct, cpuTicks, env, launch, loadavg, log, quantile } from "./browser.mjs";

const base = env("BENCH_BASE");
const org = env("BENCH_ORG");
const slug = env("BENCH_PROJECT");
const runs = Number(env("BENCH_RUNS", "20"));
const probeMs = Number(env("BENCH_README_WAIT_MS", "5000"));
const out = env("BENCH_OUT");
const path = `/${org}/${slug}`;

const CANDIDATES = {
  title: { heading: env("BENCH_PROJECT_NAME") },
  readme: { heading: env("BENCH_README_TITLE") },
  readmeText: { text: env("BENCH_README_TEXT") },
  ready: { selector: "[data-ready]" },
};

// Runs in the page before any of its scripts (CDP, so the CSP does not apply).
function benchInit({ targets, required }) {
  const b = { marks: {}, frame: null, done: false };
  window.__bench = b;
  const vis = (e) => (e.checkVisibility ? e.checkVisibility() : e.getClientRects().length > 0);
  const found = (t) => {
    if (t.selector) {
      const e = document.querySelector(t.selector);
      return !!e && vis(e);
    }
    if (t.heading) {
      for (const e of document.querySelectorAll("h1,h2,h3,h4,h5,h6,[role=heading]"))
        if (e.textContent.trim() === t.heading && vis(e)) return true;
      return false;
    }
    return !!document.body && document.body.textContent.includes(t.text);
  };
  const check = () => {
    for (const [n, t] of Object.entries(targets)) if (b.marks[n] === undefined && found(t)) b.marks[n] = performance.now();
    if (b.allAt === undefined && required.every((n) => b.marks[n] !== undefined)) {
      b.allAt = performance.now();
      requestAnimationFrame(() => {
        b.frame = performance.now();
        b.done = true;
      });
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
}

const short = (u) => {
  const x = new URL(u, base);
  const p = x.pathname + x.search;
  return p.replace(/^\/assets\/(.+)-[\w-]{8}\.(js|css)$/, "$1.$2");
};

// The page's resources from Resource Timing: what was fetched, when (ms from navigation start).
function timings() {
  const nav = performance.getEntriesByType("navigation")[0];
  const rows = [{ name: location.pathname, type: "document", start: 0, end: nav.responseEnd, size: nav.transferSize }];
  for (const e of performance.getEntriesByType("resource"))
    rows.push({ name: e.name, type: e.initiatorType, start: e.startTime, end: e.responseEnd, size: e.transferSize });
  return rows;
}

async function measure(page, targets, required) {
  const t0 = performance.now();
  await page.goto(path, { waitUntil: "commit" });
  try {
    await page.waitForFunction(() => window.__bench && window.__bench.done, undefined, { timeout: 20_000, polling: 20 });
  } catch (e) {
    await page.screenshot({ path: out.replace(/\.json$/, "-failed.png") });
    log(`the page never showed ${required.join(" + ")}: ${JSON.stringify(await page.evaluate(() => window.__bench))}; ${page.url()}`);
    throw e;
  }
  const outer = performance.now() - t0;
  const b = await page.evaluate(() => window.__bench);
  const res = (await page.evaluate(timings)).map((r) => ({ ...r, name: short(r.name) }));
  return { ms: b.frame, outer, marks: b.marks, required, resources: res };
}

const browser = await launch();
const ctx0 = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
const login = await ctx0.request.post("/api/v1/auth/login", {
  data: { username: env("BENCH_USER"), password: env("BENCH_PASSWORD") },
});
if (!login.ok()) throw new Error(`login: ${login.status()} ${await login.text()}`);
const storage = await ctx0.storageState();

// Probe (the first, cold load of the warm context): which of the candidates does the page show?
await ctx0.addInitScript(benchInit, { targets: CANDIDATES, required: ["title"] });
const page = await ctx0.newPage();
const apiCalls = [];
page.on("request", (r) => {
  const u = new URL(r.url());
  if (u.pathname.startsWith("/api/")) apiCalls.push({ method: r.method(), path: u.pathname + u.search });
});
const probe = await measure(page, CANDIDATES, ["title"]);
const deadline = Date.now() + probeMs;
let marks = probe.marks;
while (Date.now() < deadline && !(marks.readme !== undefined && marks.ready !== undefined)) {
  await page.waitForTimeout(50);
  marks = await page.evaluate(() => window.__bench.marks);
}
await page.screenshot({ path: out.replace(/\.json$/, "-page.png") });
const required = ["title"];
if (marks.readme !== undefined) required.push("readme");
else if (marks.readmeText !== undefined) required.push("readmeText");
if (marks.ready !== undefined) required.push("ready");
const seenApi = [...apiCalls];
log(`the page shows: ${Object.keys(marks).join(", ")}; waiting on: ${required.join(" + ")}; API calls: ${seenApi.map((c) => c.path).join(", ")}`);

const targets = Object.fromEntries(required.map((n) => [n, CANDIDATES[n]]));
await ctx0.close();

async function block(kind) {
  const a = cpuTicks();
  const l0 = loadavg();
  const rows = [];
  if (kind === "warm") {
    const ctx = await browser.newContext({ baseURL: base, storageState: storage, viewport: { width: 1280, height: 800 } });
    await ctx.addInitScript(benchInit, { targets, required });
    const p = await ctx.newPage();
    await measure(p, targets, required); // the first load fills the cache; not counted
    for (let i = 0; i < runs; i++) rows.push(await measure(p, targets, required));
    await ctx.close();
  } else {
    for (let i = 0; i < runs; i++) {
      const ctx = await browser.newContext({ baseURL: base, storageState: storage, viewport: { width: 1280, height: 800 } });
      await ctx.addInitScript(benchInit, { targets, required });
      rows.push(await measure(await ctx.newPage(), targets, required));
      await ctx.close();
    }
  }
  return { rows, busy: busyPct(a, cpuTicks()), load: [l0, loadavg()] };
}

// The anchor: the same API calls with Node's fetch (keep-alive, the session cookie), one after the
// other as the page's data needs them, and all at once (the floor for any client).
async function replay() {
  const cookie = storage.cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  const gets = seenApi.filter((c) => c.method === "GET");
  const one = async (c) => {
    const r = await fetch(base + c.path, { headers: { cookie, accept: "application/json" } });
    await r.arrayBuffer();
    if (!r.ok) throw new Error(`${c.path}: ${r.status}`);
  };
  const seq = [];
  const par = [];
  const a = cpuTicks();
  for (let i = 0; i <= runs; i++) {
    let t = performance.now();
    for (const c of gets) await one(c);
    if (i) seq.push(performance.now() - t);
    t = performance.now();
    await Promise.all(gets.map(one));
    if (i) par.push(performance.now() - t);
  }
  return { calls: gets.map((c) => c.path), seq, par, busy: busyPct(a, cpuTicks()) };
}

const warm = await block("warm");
const cold = await block("cold");
const api = await replay();
await browser.close();

const f = (x) => (Number.isFinite(x) ? x.toFixed(0) : "–");
const f1 = (x) => x.toFixed(1);
const ms = (b) => b.rows.map((r) => r.ms);
const line = (name, b) =>
  `| ${name} | ${f(quantile(ms(b), 0.5))} | ${f(quantile(ms(b), 0.9))} | ${f(Math.min(...ms(b)))} | ${f(Math.max(...ms(b)))} | ` +
  `${f(quantile(b.rows.map((r) => r.outer), 0.5))} | ${b.busy} % | ${ms(b).map(f).join(" ")} |`;
const table = [
  `| load of ${path} (${runs} each) | p50 ms | p90 ms | min | max | p50 ms as Playwright sees it | machine busy | each run, ms |`,
  "|---|---|---|---|---|---|---|---|",
  line("warm (same page, 2nd load on)", warm),
  line("cold (new context each)", cold),
  `| anchor: the page's ${api.calls.length} API GETs in a row (Node fetch, keep-alive) | ${f1(quantile(api.seq, 0.5))} | ${f1(quantile(api.seq, 0.9))} | ${f1(Math.min(...api.seq))} | ${f1(Math.max(...api.seq))} | | ${api.busy} % | |`,
  `| anchor: the same GETs all at once | ${f1(quantile(api.par, 0.5))} | ${f1(quantile(api.par, 0.9))} | ${f1(Math.min(...api.par))} | ${f1(Math.max(...api.par))} | | | |`,
].join("\n");

// The waterfall of the median run of each kind: every fetch, start -> end, ms from navigation start.
function waterfall(b) {
  const sorted = [...b.rows].sort((x, y) => x.ms - y.ms);
  const r = sorted[Math.floor((sorted.length - 1) / 2)];
  const lines = r.resources
    .sort((x, y) => x.start - y.start)
    .map((e) => `| ${e.name} | ${e.type} | ${f(e.start)} | ${f(e.end)} | ${e.size ? (e.size / 1000).toFixed(1) : "cache"} |`);
  const m = Object.entries(r.marks).map(([k, v]) => `${k} ${f(v)} ms`).join(", ");
  return [`| ${f(r.ms)} ms load: fetched | as | start ms | end ms | kB over the wire |`, "|---|---|---|---|---|", ...lines, "", `Seen at: ${m}; next frame ${f(r.ms)} ms.`].join("\n");
}

const summary = {
  path,
  runs,
  waited_on: required,
  probe_saw: Object.keys(marks),
  api_calls: api.calls,
  warm_p50_ms: quantile(ms(warm), 0.5),
  cold_p50_ms: quantile(ms(cold), 0.5),
  api_seq_p50_ms: quantile(api.seq, 0.5),
  api_par_p50_ms: quantile(api.par, 0.5),
};
writeFileSync(out, JSON.stringify({ summary, warm, cold, api }, null, 1));
console.log(table);
console.log(`\nWaited on: ${required.join(" + ")} (the probe load saw: ${Object.keys(marks).join(", ")}). The page's API calls: ${seenApi.map((c) => `\`${c.method} ${c.path}\``).join(", ")}.`);
console.log(`\nWaterfall, median warm load:\n\n${waterfall(warm)}\n\nWaterfall, median cold load:\n\n${waterfall(cold)}`);
