// Shared helpers of the web benchmarks' browser halves: playwright-core from web/node_modules
// (no install of its own), Debian's chromium, the gzip measure of build-web's bundle-size.mjs, and
// the machine's CPU use from /proc.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(REPO, "web/package.json"));
const { chromium } = require("playwright-core");

export function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}

export function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

export async function launch() {
  return chromium.launch({ executablePath: env("CHROMIUM", "/usr/bin/chromium"), headless: true });
}

// kB (1000 B) after gzip at Node's default level: the measure of web/scripts/bundle-size.mjs.
export const gzKb = (buf) => Math.round(gzipSync(buf).length / 10) / 100;
export const kb = (n) => Math.round(n / 10) / 100;

export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

// Busy and total clock ticks of the whole machine so far (/proc/stat's first line).
export function cpuTicks() {
  const v = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1, 9).map(Number);
  return { busy: v[0] + v[1] + v[2] + v[5] + v[6], total: v.reduce((a, b) => a + b, 0) };
}
export function busyPct(a, b) {
  return b.total > a.total ? Math.round((100 * (b.busy - a.busy)) / (b.total - a.total)) : 0;
}
export const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// Every script a page load fetched (by the time `ready` resolves): [{url, bytes, gzipKb}], with
// the gzip measure applied to the decoded body.
export async function scriptsOf(page, url, ready) {
  const seen = [];
  page.on("response", (r) => {
    if (r.request().resourceType() === "script" && r.ok()) seen.push(r);
  });
  await page.goto(url);
  await ready(page);
  await page.waitForLoadState("networkidle");
  const out = [];
  for (const r of seen) {
    const body = await r.body();
    out.push({ url: r.url(), bytes: body.length, gzipKb: gzKb(body) });
  }
  return out;
}
