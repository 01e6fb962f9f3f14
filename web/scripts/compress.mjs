// Writes NAME.gz and NAME.br beside every compressible file of the build, so that the server
// sends them as they are (it never compresses at request time).
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dir = process.argv[2];
if (!dir) throw new Error("usage: compress.mjs <dir>");
const compressible = /\.(js|mjs|css|html|svg|json|txt|map|wasm)$/;

function walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (compressible.test(name)) {
      const raw = readFileSync(p);
      if (raw.length < 256) continue;
      writeFileSync(p + ".gz", gzipSync(raw, { level: 9 }));
      writeFileSync(
        p + ".br",
        brotliCompressSync(raw, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
        }),
      );
    }
  }
}
walk(dir);
