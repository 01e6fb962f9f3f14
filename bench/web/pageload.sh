#!/usr/bin/env bash
# Web UI page-load benchmark: navigation start -> a project page fully rendered with its data, in
# Debian's chromium on loopback, against the real server, p50/p90 over ATRIUM_BENCH_RUNS loads, warm
# (one signed-in page, second load onwards) and cold (a new browser context per load); the anchor is
# the raw API time of the same data: the page's own API calls replayed with Node's fetch. Prints a
# markdown section and appends it to bench/RESULTS.md. Gitea's repository page is not measured: Gitea
# is not installed here (no Debian 12 package) and cannot be fetched. Never a pass/fail gate: it fails
# only when something is broken (the server does not start, the page never shows the project).
#
# Knobs (environment):
#   ATRIUM_BENCH_RUNS             loads per kind (warm, cold) and API replays    (default 20)
#   ATRIUM_BENCH_README_WAIT_MS   how long the probe load waits for the README   (default 5000)
#   ATRIUM_BENCH_RESULTS          file to append the section to (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN                    atrium binary, copied to the temp dir first    (default <repo>/build/src/atrium)
#   ATRIUM_BENCH_WEB_DIR          the built UI                                   (default the binary's build dir /web)
#   CHROMIUM                      the browser                                    (default /usr/bin/chromium)
#   ATRIUM_SERVER_* and other server settings are passed to the server unchanged.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${ATRIUM_BENCH_RUNS:-20}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
WEB_DIR=${ATRIUM_BENCH_WEB_DIR:-$(cd "$(dirname "$SRC_BIN")/.." && pwd)/web}
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goal (issue 16): p50 ≤ 300 ms from navigation to the project page rendered with its data'

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=seed.sh
source "$REPO/bench/web/seed.sh"

CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|CHROMIUM$)' bench/web/pageload.sh "$@")
need_tools "" git curl python3 node "${CHROMIUM:-/usr/bin/chromium}"
need_atrium
need_web_ui

bench_init atrium-bench-pageload
copy_atrium
cp -r "$WEB_DIR" "$TMP/web"  # a rebuild of the UI cannot change it mid-run either
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

start_atrium web "ATRIUM_WEB_ASSETS_DIR=$TMP/web"
setup_atrium web bench ocean-model
THREADS=$(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-web/stderr.log" || echo "default threads")
expect_200 atrium "$ATR_PID" "$ATR_BASE/bench/ocean-model"
seed_project bench ocean-model
log "atrium: pid $ATR_PID, $ATR_BASE ($THREADS); project seeded; $RUNS loads per kind (load $LOAD_START)"

BENCH_BASE=$ATR_BASE BENCH_ORG=bench BENCH_PROJECT=ocean-model BENCH_PROJECT_NAME="Benchmark ocean-model" \
  BENCH_README_TITLE=$README_TITLE BENCH_README_TEXT=$README_TEXT BENCH_USER=admin BENCH_PASSWORD=$PASSWORD \
  BENCH_RUNS=$RUNS BENCH_README_WAIT_MS=${ATRIUM_BENCH_README_WAIT_MS:-5000} BENCH_OUT=$TMP/pageload.json \
  node "$REPO/bench/web/pageload.mjs" >"$TMP/table.md" &
MEASURE_PID=$!
PIDS+=("$MEASURE_PID")
wait "$MEASURE_PID" || die "the measurements failed"
unset 'PIDS[-1]'
kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the run"
[[ -n ${BENCH_KEEP_TMP:-} ]] && log "screenshot of the page: $TMP/pageload-page.png"

SECTION=$(cat <<EOF
## Web UI: project page load in Chromium vs the raw API — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine)
- Atrium: copy of \`$SRC_BIN\` (built $BIN_STAMP) at $(git_rev "$REPO"), UI from \`$WEB_DIR\`; $THREADS; access log off.
  Browser: $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -n 1) headless through playwright-core (web/node_modules), 1280×800, loopback.
- Page: \`/bench/ocean-model\` of a project with a git repository (README.md with a table, a code block and a task list; 8 files,
  pushed with \`git push\` over HTTP), 5 data files and 5 held jobs; signed in as the admin (session cookie).
  Time: from navigation start to the animation frame after the awaited elements are in the document and visible (an init
  script's MutationObserver; \`performance.now()\`). Warm: one page, the first load not counted; cold: a new browser context
  (empty cache, new connections, the saved session cookie) per load. "As Playwright sees it": \`page.goto\` until the marker,
  including the driver's round trips.
- Anchor: the GETs the page made (recorded in a probe load) with Node's \`fetch\` and the same session cookie.
  Gitea's repository page is not measured: Gitea is not installed here (no Debian 12 package, not on npm).
- $GOAL

$(cat "$TMP/table.md")
EOF
)
publish_section "$SECTION"
