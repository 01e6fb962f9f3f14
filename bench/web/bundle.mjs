// The browser half of bench/web/bundle.sh: the JavaScript a first page loads, for Atrium's UI and
// the reference pages, with one measure: every script response's decoded body gzipped at Node's
// default level (the measure of web/scripts/bundle-size.mjs), in kB (1000 B). Also the "entry"
// figure: only the scripts the page's HTML names (<script src>, modulepreload), fetched by URL.
// Prints the Markdown tables; BENCH_PAGES is a JSON list of {name, url, login?, ready?: heading}.
import { readFileSync } from "node:fs";
import { env, gzKb, launch, log, scriptsOf } from "./browser.mjs";

const pages = JSON.parse(env("BENCH_PAGES"));
const sizes = JSON.parse(readFileSync(env("BENCH_BUNDLE_JSON"), "utf8"));

async function entryOf(url, request) {
  const html = await (await request.get(url)).text();
  const srcs = [
    ...html.matchAll(/<script[^>]+src=["']([^"']+)["']/g),
    ...html.matchAll(/<link[^>]+rel=["']modulepreload["'][^>]+href=["']([^"']+)["']/g),
  ].map((m) => new URL(m[1], url).href);
  let total = 0;
  for (const s of srcs) total += gzKb(await (await request.get(s)).body());
  const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].filter((m) => m[1].trim()).length;
  return { files: srcs.length, kb: Math.round(total * 100) / 100, inline };
}

const browser = await launch();
const rows = [];
for (const p of pages) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (p.login) {
    const r = await ctx.request.post(new URL("/api/v1/auth/login", p.url).href, { data: p.login });
    if (!r.ok()) throw new Error(`${p.name}: login ${r.status()}`);
  }
  const page = await ctx.newPage();
  const scripts = await scriptsOf(page, p.url, async (pg) => {
    if (!p.ready) return;
    // A page whose heading changed still counts its scripts (at network idle); the log says so.
    await pg
      .getByRole("heading", { name: p.ready })
      .first()
      .waitFor({ timeout: 15_000 })
      .catch(() => log(`${p.name}: no heading "${p.ready}" within 15 s; counting at network idle`));
  });
  const entry = await entryOf(p.url, ctx.request);
  const total = scripts.reduce((n, s) => n + s.gzipKb, 0);
  const raw = scripts.reduce((n, s) => n + s.bytes, 0);
  rows.push({ ...p, scripts, entry, total, raw });
  log(`${p.name}: ${scripts.length} scripts, ${total.toFixed(1)} kB gzip`);
  await ctx.close();
}
await browser.close();

const f = (x) => x.toFixed(1);
const chunks = Object.entries(sizes.chunks).sort((a, b) => b[1] - a[1]);
console.log(
  [
    "| page | scripts the HTML names: files, kB gzip | all JS the page loaded until rendered: files, kB gzip | same, uncompressed kB | inline scripts |",
    "|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.entry.files}, **${f(r.entry.kb)}** | ${r.scripts.length}, **${f(r.total)}** | ${f(r.raw / 1000)} | ${r.entry.inline} |`,
    ),
  ].join("\n"),
);
console.log(
  `\nAtrium's build (\`build/web-gen/bundle-size.json\`, web/scripts/bundle-size.mjs): initial JS **${sizes.initial_js_gzip_kb} kB** ` +
    `(${sizes.initial_files.join(", ")}), all ${Object.keys(sizes.chunks).length} JS chunks ${sizes.all_js_gzip_kb} kB, CSS ${sizes.css_gzip_kb} kB (gzip).`,
);
console.log(`\n| chunk | kB gzip |\n|---|---|\n${chunks.map(([n, k]) => `| ${n} | ${k} |`).join("\n")}`);
for (const r of rows) {
  const list = r.scripts
    .map((s) => `${new URL(s.url).pathname.split("/").pop().replace(/-[\w-]{8}\.js$/, ".js")} ${f(s.gzipKb)}`)
    .join(", ");
  console.log(`\n${r.name}: ${list}.`);
}
