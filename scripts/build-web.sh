#!/usr/bin/env bash
# Builds the web UI (web/) into OUT: npm ci when the lockfile changed, the API's types generated
# from the server's own OpenAPI document (a field the UI uses that the API no longer has fails
# tsc), the type check, vite's build and the .gz/.br copies the server sends as they are.
# Skips all of it when neither web/ nor the OpenAPI document changed since the last build.
#   scripts/build-web.sh <atrium-binary> <out-dir> <gen-dir>
set -euo pipefail
bin="$1"
out="$(mkdir -p "$2" && cd "$2" && pwd)"
gen="$(mkdir -p "$3" && cd "$3" && pwd)"
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
cd "$web"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "build-web: Node.js 20 and npm are needed to build the web UI (make deps installs them)" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "build-web: Node.js $(node --version) is too old: Vite 8 needs 20.19 or newer" >&2
  exit 1
fi

# 1. Dependencies, exactly as package-lock.json says.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# 2. The API's OpenAPI document, from the server binary just built (port 0, a scratch data dir).
tmp="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
env -u ATRIUM_CONFIG ATRIUM_ADMIN_PASSWORD=build-web-only-password "$bin" server --listen 127.0.0.1:0 \
  --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's|^atrium: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/out")"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; echo "build-web: the server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "build-web: the server did not listen" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/api/v1/openapi.json" -o "$tmp/openapi.json"
kill "$pid"
wait "$pid" 2>/dev/null || true

# 3. Anything to do?
stamp="$out/.build-stamp"
if [ -f "$stamp" ] && [ -f src/api/schema.d.ts ] && cmp -s "$tmp/openapi.json" "$gen/openapi.json" &&
   [ -z "$(find src e2e public index.html terminal.html vite.config.ts tsconfig*.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
cp "$tmp/openapi.json" "$gen/openapi.json"
npx openapi-typescript "$gen/openapi.json" -o src/api/schema.d.ts --silent
npx tsc -b
ATRIUM_WEB_OUT="$out" npx vite build --logLevel warn
node scripts/compress.mjs "$out"
node scripts/bundle-size.mjs "$out" >"$gen/bundle-size.json"
touch "$stamp"
echo "build-web: $(node -p "const s=require('$gen/bundle-size.json'); 'initial JS ' + s.initial_js_gzip_kb + ' kB gzip, ' + s.files + ' files'") -> $out"
