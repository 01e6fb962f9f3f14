// The web UI's weight, from a build directory: the initial JavaScript (what index.html loads
// before any page: its module script and the chunks it preloads), every chunk and the CSS, in kB
// (1000 B) after gzip at Node's default level. Prints JSON; build-web.sh keeps it beside the build.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dir = process.argv[2];
if (!dir) throw new Error("usage: bundle-size.mjs <build-dir>");
const kb = (n) => Math.round(n / 10) / 100;
const gz = (file) => gzipSync(readFileSync(join(dir, file))).length;

const html = readFileSync(join(dir, "index.html"), "utf8");
const initial = [
  ...html.matchAll(/<script[^>]+src="\/([^"]+\.js)"/g),
  ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+\.js)"/g),
].map((m) => m[1]);
const assets = readdirSync(join(dir, "assets")).filter((f) => f.endsWith(".js") || f.endsWith(".css"));
const chunks = Object.fromEntries(
  assets.filter((f) => f.endsWith(".js")).map((f) => [f.replace(/-[\w-]{8}\.js$/, ""), kb(gz(`assets/${f}`))]),
);
const sum = (files) => files.reduce((n, f) => n + gz(f), 0);
console.log(
  JSON.stringify(
    {
      initial_js_gzip_kb: kb(sum(initial)),
      initial_files: initial,
      all_js_gzip_kb: kb(sum(assets.filter((f) => f.endsWith(".js")).map((f) => `assets/${f}`))),
      css_gzip_kb: kb(sum(assets.filter((f) => f.endsWith(".css")).map((f) => `assets/${f}`))),
      files: assets.length,
      chunks,
    },
    null,
    1,
  ),
);
