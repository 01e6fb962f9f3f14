// One upload of a file through the web UI in Chromium (Debian's, driven by playwright-core): sign
// in, open the project's Files page, choose the file with the picker, and time from the choice to
// the server's answer to /complete (the file is stored). Prints {"bytes", "wall_s", "chunks"}.
//   node bench/web/upload.mjs BASE_URL USERNAME PASSWORD ORG PROJECT FILE DEST_NAME
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(pathToFileURL(resolve(here, "../../web/node_modules/playwright-core/index.mjs")).href);
const [base, user, password, org, project, file] = process.argv.slice(2);
const size = statSync(file).size;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" });
try {
  const context = await browser.newContext({ baseURL: base });
  const login = await context.request.post("/api/v1/auth/login", { data: { username: user, password } });
  if (!login.ok()) throw new Error(`login: ${login.status()} ${await login.text()}`);
  const page = await context.newPage();
  await page.goto(`/${org}/${project}/files`);
  const picker = page.getByLabel("Choose files to upload");
  await picker.waitFor({ state: "attached" });
  let chunks = 0;
  page.on("request", (r) => {
    if (r.method() === "PATCH") chunks += 1;
  });
  page.on("crash", () => console.error("upload.mjs: the page crashed"));
  page.on("pageerror", (e) => console.error(`upload.mjs: page error: ${e.message}`));
  const done = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/complete"), {
    timeout: 600_000,
  });
  done.catch(() => undefined); // a failure before it (setInputFiles) is the error to report
  const t0 = performance.now();
  await picker.setInputFiles(file);
  const r = await done;
  const wall = (performance.now() - t0) / 1000;
  if (r.status() !== 201) throw new Error(`complete: ${r.status()} ${await r.text()}`);
  console.log(JSON.stringify({ bytes: size, wall_s: wall, chunks }));
} finally {
  await browser.close();
}
