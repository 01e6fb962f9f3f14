#!/usr/bin/env bash
# Web UI bundle-size benchmark: the JavaScript Atrium's UI loads (the build's own figure from
# build/web-gen/bundle-size.json: the initial JS that index.html loads, and every chunk), next to
# what a first page of the reference UIs obtainable here loads, measured the same way in the same
# run: each page opened in Debian's chromium on loopback, every script it fetched until rendered
# (network idle) gzipped at Node's default level, kB = 1000 B. Prints a markdown section and appends
# it to bench/RESULTS.md. Never a pass/fail gate: it fails only when something is broken.
#
# References: Jupyter Notebook 6.4 (Debian's python3-notebook) and nbclassic 0.3 on jupyter_server
# (python3-nbclassic), their file browser (/tree), the first page a Jupyter user sees. JupyterLab's
# and Gitea's built bundles cannot be had here: neither is a Debian 12 package, PyPI (the jupyterlab
# wheel holds JupyterLab's static/*.js) does not answer from this machine, and npm has only
# JupyterLab's unbundled library packages and no Gitea front end (the `gitea` package is an API client).
#
# Knobs (environment):
#   ATRIUM_BENCH_RESULTS   file to append the section to (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN             atrium binary, copied to the temp dir first (default <repo>/build/src/atrium)
#   ATRIUM_BENCH_WEB_DIR   the built UI (default the binary's build dir /web); its bundle-size.json
#                          is read from the sibling web-gen/
#   CHROMIUM               the browser (default /usr/bin/chromium)
#   JUPYTER_PYTHON         the Python with Debian's notebook and jupyter_server (default /usr/bin/python3)
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
WEB_DIR=${ATRIUM_BENCH_WEB_DIR:-$(cd "$(dirname "$SRC_BIN")/.." && pwd)/web}
SIZES=$WEB_DIR/../web-gen/bundle-size.json
JPY=${JUPYTER_PYTHON:-/usr/bin/python3}
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goal (issue 16): initial JavaScript of the first page ≤ 150 kB gzip'

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=seed.sh
source "$REPO/bench/web/seed.sh"

CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$|CHROMIUM$|JUPYTER_PYTHON$)' bench/web/bundle.sh "$@")
need_tools "" git curl python3 node "$JPY" "${CHROMIUM:-/usr/bin/chromium}"
need_atrium
[[ -f $WEB_DIR/index.html && -f $SIZES ]] || die "no built UI in $WEB_DIR with $SIZES (build web_ui)"

bench_init atrium-bench-bundle
copy_atrium
cp -r "$WEB_DIR" "$TMP/web"
cp "$SIZES" "$TMP/bundle-size.json"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

start_atrium web "ATRIUM_WEB_ASSETS_DIR=$TMP/web"
setup_atrium web bench ocean-model
expect_200 atrium "$ATR_PID" "$ATR_BASE/login"
seed_project bench ocean-model

# The Jupyter servers: loopback, a token, their own config/data/runtime dirs, an empty notebook dir.
JTOKEN=bench-$RANDOM$RANDOM
mkdir -p "$TMP/jupyter/nb"
printf '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n' >"$TMP/jupyter/nb/analysis.ipynb"
start_jupyter() {  # start_jupyter NAME PORT ARGS...: sets JPID
  local name=$1 port=$2
  shift 2
  JUPYTER_CONFIG_DIR=$TMP/jupyter/cfg JUPYTER_DATA_DIR=$TMP/jupyter/data JUPYTER_RUNTIME_DIR=$TMP/jupyter/rt \
    "$JPY" -m "$@" --allow-root --no-browser --ip=127.0.0.1 --port="$port" >"$TMP/jupyter/$name.log" 2>&1 &
  JPID=$!
  PIDS+=("$JPID")
  expect_200 "$name" "$JPID" "http://127.0.0.1:$port/tree?token=$JTOKEN"
}
NB_PORT=$(free_port)
start_jupyter notebook "$NB_PORT" notebook --NotebookApp.token="$JTOKEN" --notebook-dir="$TMP/jupyter/nb"
NBC_PORT=$(free_port)
start_jupyter nbclassic "$NBC_PORT" jupyter_server --ServerApp.token="$JTOKEN" --ServerApp.root_dir="$TMP/jupyter/nb" \
  --ServerApp.jpserver_extensions="{'nbclassic': True}"
NB_VER=$("$JPY" -c 'import notebook; print(notebook.__version__)')
NBC_VER=$(dpkg-query -W -f '${Version}' python3-nbclassic 2>/dev/null || echo '?')
JS_VER=$("$JPY" -c 'import jupyter_server; print(jupyter_server.__version__)')

PAGES=$(python3 - "$ATR_BASE" "$PASSWORD" "$NB_PORT" "$NBC_PORT" "$JTOKEN" "$NB_VER" "$NBC_VER" <<'EOF'
import json, sys
base, pw, nb, nbc, tok, nbv, nbcv = sys.argv[1:]
print(json.dumps([
    {"name": "Atrium: sign-in page (`/login`, signed out)", "url": f"{base}/login", "ready": "Sign in"},
    {"name": "Atrium: project page (`/bench/ocean-model`, signed in)", "url": f"{base}/bench/ocean-model",
     "login": {"username": "admin", "password": pw}, "ready": "Benchmark ocean-model"},
    {"name": f"Jupyter Notebook {nbv}: file browser (`/tree`)", "url": f"http://127.0.0.1:{nb}/tree?token={tok}"},
    {"name": f"Jupyter Notebook {nbv}: a notebook (`/notebooks/analysis.ipynb`)",
     "url": f"http://127.0.0.1:{nb}/notebooks/analysis.ipynb?token={tok}"},
    {"name": f"nbclassic {nbcv}: file browser (`/tree`)", "url": f"http://127.0.0.1:{nbc}/tree?token={tok}"},
]))
EOF
)
BENCH_PAGES=$PAGES BENCH_BUNDLE_JSON=$TMP/bundle-size.json node "$REPO/bench/web/bundle.mjs" >"$TMP/table.md" &
MEASURE_PID=$!
PIDS+=("$MEASURE_PID")
wait "$MEASURE_PID" || die "the measurements failed"
unset 'PIDS[-1]'

SECTION=$(cat <<EOF
## Web UI: JavaScript a first page loads vs Jupyter Notebook — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); load average $LOAD_START at the start (sizes do not depend on it)
- Atrium: UI from \`$WEB_DIR\` at $(git_rev "$REPO"), served by a copy of \`$SRC_BIN\`; the project page of a project with a
  README, 5 data files and 5 jobs. References on this machine, same run: Jupyter Notebook $NB_VER (Debian's python3-notebook) and
  nbclassic $NBC_VER on jupyter_server $JS_VER (python3-nbclassic), each a server on loopback with a token.
- Measure: every script response the page fetched in $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -n 1)
  (headless, empty cache) until it was rendered and the network idle, its decoded body gzipped at Node's default level
  (the measure of \`web/scripts/bundle-size.mjs\`), kB = 1000 B; "the HTML names": only the \`<script src>\` and
  \`modulepreload\` files of the page's HTML, which misses what those load on their own (RequireJS modules, Vite's lazy chunks).
- Not measured: JupyterLab's and Gitea's page bundles. Neither is a Debian 12 package; PyPI, where the \`jupyterlab\` wheel
  carries JupyterLab's built \`static/*.js\`, does not answer from this machine; npm has JupyterLab only as unbundled
  library packages and no Gitea front end.
- $GOAL

$(cat "$TMP/table.md")
EOF
)
publish_section "$SECTION"
