#!/usr/bin/env bash
# Org usage benchmark (issue 20): GET /api/v1/orgs/{org}/usage over 100k jobs, and the browser render
# of the org's Usage page, measured separately; the anchor, in the same run, is the same aggregation
# as one sqlite3 GROUP BY on a copy of the server's database (no split of runs at midnight: less work
# than the server does). The jobs are written straight into the stopped server's database (the jobs
# table as the jobs store writes it), spread over the last 30 days among 8 groups, 24 users and 12
# projects; the server is then started again on it (its scheduler loads the finished ones for fair
# share). Prints a markdown section and appends it to bench/RESULTS.md. Never a pass/fail gate.
#
# Knobs (environment):
#   ATRIUM_BENCH_JOBS      jobs seeded                                  (default 100000)
#   ATRIUM_BENCH_RUNS      API calls, anchor queries and page loads      (default 20; page loads: half)
#   ATRIUM_BENCH_RESULTS   file to append the section to (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN             atrium binary, copied to the temp dir first   (default <repo>/build/src/atrium)
#   ATRIUM_BENCH_WEB_DIR   the built UI                                  (default the binary's build dir /web)
#   CHROMIUM               the browser                                   (default /usr/bin/chromium)
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JOBS=${ATRIUM_BENCH_JOBS:-100000}
RUNS=${ATRIUM_BENCH_RUNS:-20}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
WEB_DIR=${ATRIUM_BENCH_WEB_DIR:-$(cd "$(dirname "$SRC_BIN")/.." && pwd)/web}
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goal (issue 20): p50 ≤ 500 ms for the API call and for the page render, each, over 100k jobs'
ORG=bench
QUERY="by=group&bucket=day"

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"

CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$|CHROMIUM$)' bench/usage/run.sh "$@")
need_tools "" curl python3 node "${CHROMIUM:-/usr/bin/chromium}"
need_atrium
need_web_ui

bench_init atrium-bench-usage
copy_atrium
cp -r "$WEB_DIR" "$TMP/web"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DB=$TMP/atrium-usage/data/atrium.db

# 1. The org, its groups, users and projects through the API.
start_atrium usage "ATRIUM_WEB_ASSETS_DIR=$TMP/web"
setup_atrium usage $ORG p0
AUTH=(-H "Authorization: Bearer $ATR_TOKEN")
ORG_ID=$(api 200 GET "$ATR_BASE/api/v1/orgs/$ORG" '' "${AUTH[@]}" | json_get id)
GROUPS_=()
for g in 1 2 3 4 5 6 7 8; do
  GROUPS_+=("$(api 201 POST "$ATR_BASE/api/v1/orgs/$ORG/groups" "{\"slug\":\"g$g\",\"name\":\"Group $g\"}" "${AUTH[@]}" | json_get id)")
done
PROJECTS=("$ATR_PROJECT")
for p in $(seq 1 11); do
  PROJECTS+=("$(api 201 POST "$ATR_BASE/api/v1/orgs/$ORG/projects" "{\"slug\":\"p$p\",\"name\":\"Project $p\"}" "${AUTH[@]}" | json_get id)")
done
ASSOC="["
for u in $(seq 1 24); do
  uid=$(api 201 POST "$ATR_BASE/api/v1/users" "{\"username\":\"u$u\",\"password\":\"bench-user-password-$u\"}" "${AUTH[@]}" | json_get id)
  api 201 POST "$ATR_BASE/api/v1/orgs/$ORG/members" "{\"user_id\":\"$uid\",\"role\":\"member\"}" "${AUTH[@]}" >/dev/null
  g=${GROUPS_[$((u % 8))]}
  api 201 POST "$ATR_BASE/api/v1/groups/$g/members" "{\"user_id\":\"$uid\"}" "${AUTH[@]}" >/dev/null
  for k in 0 1; do ASSOC+="[\"$uid\",\"$g\",\"${PROJECTS[$(((u + 5 * k) % 12))]}\"],"; done
done
ASSOC="${ASSOC%,}]"

# 2. Stop it, seed the jobs into its database, start it again on the same data.
stop_pid "$ATR_PID"
unset 'PIDS[-1]'
T0=$(date +%s.%N)
python3 "$REPO/bench/usage/seed.py" seed "$DB" "$ORG_ID" "$JOBS" 30 "$ASSOC"
SEED_S=$(python3 -c "print(round($(date +%s.%N) - $T0, 1))")
mv "$TMP/atrium-usage/stdout.log" "$TMP/atrium-usage/stdout.first.log"
T0=$(date +%s.%N)
start_atrium usage "ATRIUM_WEB_ASSETS_DIR=$TMP/web"
expect_200 atrium "$ATR_PID" "$ATR_BASE/api/v1/orgs/$ORG/usage" "${AUTH[@]}"
START_S=$(python3 -c "print(round($(date +%s.%N) - $T0, 1))")
THREADS=$(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-usage/stderr.log" | tail -n 1 || echo "default threads")
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$ATR_PID/status"; }
RSS_START=$(rss)
log "seeded $JOBS jobs in ${SEED_S} s; server up again in ${START_S} s (load $LOAD_START)"

# 3. The API call: RUNS calls, one after the other (curl: a new connection each, loopback).
api_times() {  # api_times QUERY -> p50 p90 (ms) and the body size of the last answer
  local q=$1 i
  for ((i = 0; i <= RUNS; i++)); do
    curl -s -o "$TMP/usage.json" -w '%{time_total} %{size_download}\n' "${AUTH[@]}" "$ATR_BASE/api/v1/orgs/$ORG/usage?$q"
  done | tail -n +2 | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
t = sorted(float(r[0]) * 1000 for r in rows)
print(f"{statistics.median(t):.1f} {t[int(0.9 * (len(t) - 1))]:.1f} {rows[-1][1]}")'
}
read -r API_P50 API_P90 API_BYTES < <(api_times "$QUERY")
read -r APIU_P50 APIU_P90 APIU_BYTES < <(api_times "by=user&bucket=week")
read -r APIM_P50 APIM_P90 APIM_BYTES < <(api_times "by=project&bucket=month&from=$(date -u -d '-365 days' +%F)")
ITEMS=$(curl -s "${AUTH[@]}" "$ATR_BASE/api/v1/orgs/$ORG/usage?$QUERY" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(len(a["items"]), round(a["totals"]["cpu_hours"]))')
read -r FROM_MS TO_MS < <(curl -s "${AUTH[@]}" "$ATR_BASE/api/v1/orgs/$ORG/usage?$QUERY" | python3 -c '
import datetime, json, sys
a = json.load(sys.stdin)
ms = lambda s: int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
print(ms(a["from"]), ms(a["to"]))')
log "API p50 $API_P50 ms ($QUERY), $APIU_P50 ms (by user per week), $APIM_P50 ms (by project per month, a year)"

# 4. The anchor: one GROUP BY on a copy of the database (the server keeps running).
cp "$DB" "$TMP/copy.db"
[[ -f $DB-wal ]] && cp "$DB-wal" "$TMP/copy.db-wal"
ANCHOR=$(python3 "$REPO/bench/usage/seed.py" anchor "$TMP/copy.db" "$ORG_ID" "$FROM_MS" "$TO_MS" "$RUNS")
read -r ANC_P50 ANC_P90 ANC_ROWS FETCHED FETCH_MS < <(echo "$ANCHOR" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print("%.1f %.1f %s %s %.1f" % (a["p50"], a["p90"], a["groups"], a["runs_fetched"], a["fetch_ms"]))')
PLAN=$(echo "$ANCHOR" | json_get plan)
log "anchor p50 $ANC_P50 ms; plan: $PLAN"

# 5. The page in Chromium.
PAGE_RUNS=$(( RUNS / 2 > 3 ? RUNS / 2 : 3 ))
RENDER=$(env BENCH_BASE=$ATR_BASE BENCH_PATH=/orgs/$ORG/usage BENCH_USER=admin BENCH_PASSWORD=$PASSWORD \
  BENCH_RUNS=$PAGE_RUNS ${BENCH_KEEP_TMP:+BENCH_SCREENSHOT=$TMP/usage-page.png} node "$REPO/bench/usage/render.mjs")
read -r PAGE_P50 PAGE_P90 PAGE_API REND_P50 REND_P90 < <(echo "$RENDER" | python3 -c '
import json, sys
a = json.load(sys.stdin)
print("%.0f %.0f %.0f %.0f %.0f" % (a["p50"], a["p90"], a["api_in_page_p50"], a["render_p50"], a["render_p90"]))')
kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the run"
RSS=$(rss)
verdict() { python3 -c "print('met' if float('$1') <= 500 else 'NOT met')"; }

SECTION=$(cat <<EOF
## Org usage over ${JOBS} jobs: API and page render vs one sqlite3 GROUP BY — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine)
- Atrium: copy of \`$SRC_BIN\` (built $BIN_STAMP) at $(git_rev "$REPO"), UI from \`$WEB_DIR\`; $THREADS; SQLite; RSS $RSS_START once up on the seeded database (its scheduler loaded the finished jobs), $RSS after the run.
  Browser: $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -n 1) headless through playwright-core, 1280×800, loopback.
- Data: $JOBS jobs written into the stopped server's database over the last 30 days (8 groups, 24 users, 12 projects; 5 min–8 h
  runs on 1–16 CPUs, a quarter with GPUs) in ${SEED_S} s; the server started again on it in ${START_S} s.
- $GOAL

| what | p50 | p90 | notes |
|---|---|---|---|
| \`GET /api/v1/orgs/$ORG/usage?$QUERY\` (30 days) | $API_P50 ms | $API_P90 ms | $RUNS calls with curl; $(echo "$ITEMS" | cut -d' ' -f1) (group, day) cells, $(echo "$ITEMS" | cut -d' ' -f2) CPU-h, $API_BYTES B |
| same, \`by=user&bucket=week\` | $APIU_P50 ms | $APIU_P90 ms | $APIU_BYTES B |
| same, \`by=project&bucket=month\`, 365 days | $APIM_P50 ms | $APIM_P90 ms | $APIM_BYTES B |
| anchor: one sqlite3 GROUP BY (group, start day) on a copy | $ANC_P50 ms | $ANC_P90 ms | Python's sqlite3 in process; $ANC_ROWS rows; fetching the server's $FETCHED rows alone: $FETCH_MS ms |
| render: the usage answer's last byte → chart drawn + table | $REND_P50 ms | $REND_P90 ms | in the page, the same $PAGE_RUNS loads |
| whole page \`/orgs/$ORG/usage\`: navigation → chart drawn + table | $PAGE_P50 ms | $PAGE_P90 ms | $PAGE_RUNS loads of one signed-in page (warm-up load not counted); the usage call inside: p50 $PAGE_API ms |

- API: $API_P50 ms → goal $(verdict "$API_P50"); render: $REND_P50 ms → goal $(verdict "$REND_P50"); the whole page (scripts, API and render in one browser on the same cores): $PAGE_P50 ms.
- Query plan of the server's read: $PLAN

EOF
)
publish_section "$SECTION"
