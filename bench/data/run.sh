#!/usr/bin/env bash
# Data store benchmark (issue 5): upload and download of one large file through Atrium (encrypted at
# rest, SHA-256 checked) against `cp` + `sync` on the same filesystem and against nginx serving the
# same plaintext file, side by side, in one sitting, on this machine. Prints markdown tables and
# appends a dated section to bench/RESULTS.md. Never a pass/fail gate: it fails only when something
# is broken (a server does not start or dies, a transfer fails or comes back short).
#
# Knobs (environment):
#   ATRIUM_BENCH_SIZE (or SIZE)     file size, e.g. 64MiB, 1GiB, bytes   (default 1GiB)
#   ATRIUM_BENCH_REPEAT (or REPEAT) rounds; the table shows medians       (default 3)
#   ATRIUM_BENCH_CHUNKS             upload chunk sizes, CLI and raw client (default "16MiB 64MiB")
#   ATRIUM_BENCH_PARALLEL           parallel downloads (1 = skip)          (default 4)
#   ATRIUM_BENCH_TMPDIR             where the temp dir (source file, data dir, copies) goes (default /tmp)
#   ATRIUM_BENCH_RESULTS            file to append the section to          (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN                      atrium binary, copied to the temp dir first (default <repo>/build/src/atrium)
#   NGINX                           nginx binary                           (default /usr/sbin/nginx)
#   ATRIUM_SERVER_*, ATRIUM_DATA_* and other server settings are passed to the server unchanged.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZE_ARG=${ATRIUM_BENCH_SIZE:-${SIZE:-1GiB}}
REPEAT=${ATRIUM_BENCH_REPEAT:-${REPEAT:-3}}
CHUNKS_ARG=${ATRIUM_BENCH_CHUNKS:-16MiB 64MiB}
PARALLEL=${ATRIUM_BENCH_PARALLEL:-4}
TMPBASE=${ATRIUM_BENCH_TMPDIR:-/tmp}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goal: Atrium download ≥ 0.7× nginx download throughput (same file, same client)'

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"

CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|ATRIUM_DATA_|ATRIUM_DATABASE_|NGINX$|SIZE$|REPEAT$)' bench/data/run.sh "$@")

to_bytes() {  # 64MiB, 1GiB, 1G, 4096 -> bytes
  python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", sys.argv[1], re.I)
if not m:
    sys.exit(f"bench: error: bad size '{sys.argv[1]}'")
print(int(m[1]) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2].upper()])
PY
}

need_tools "install: ATRIUM_BENCH=1 ./scripts/install-deps.sh" curl python3 "$NGINX"
need_atrium
SIZE=$(to_bytes "$SIZE_ARG")
CHUNKS=""
for c in $CHUNKS_ARG; do CHUNKS+="$(to_bytes "$c") "; done
[[ $REPEAT =~ ^[1-9][0-9]*$ && $PARALLEL =~ ^[1-9][0-9]*$ ]] || die "ATRIUM_BENCH_REPEAT/PARALLEL must be positive integers"
(( SIZE > 0 )) || die "size must be positive"

# Space: source, cp copy, the download file's blob, one upload's staging + blob, margin, the binary.
need_kb=$(( (SIZE * 6 + (512 << 20)) / 1024 ))
free_kb=$(df -Pk "$TMPBASE" | awk 'NR == 2 {print $4}')
(( free_kb > need_kb )) || die "$TMPBASE has $((free_kb >> 20)) GiB free, the run needs ~$((need_kb >> 20)) GiB"

bench_init atrium-bench-data "$TMPBASE"
copy_atrium

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "size $SIZE bytes, $REPEAT round(s), chunks $CHUNKS_ARG, $PARALLEL parallel; temp dir $TMP (load $LOAD_START)"

# The source file: incompressible bytes, in nginx's document root.
mkdir -p "$TMP/www"
head -c "$SIZE" /dev/urandom >"$TMP/www/src.bin"
chmod -R a+rX "$TMP/www"

start_atrium data ATRIUM_DATA_GC_GRACE_S=0
setup_atrium data bench bench-data
log "atrium: pid $ATR_PID, $ATR_BASE, project $ATR_PROJECT ($(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-data/stderr.log" || echo '?'))"
THREADS=$(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-data/stderr.log" || echo "default threads")

start_nginx "$TMP/www" 2
expect_200 nginx "$NGX_PID" "$NGX_BASE/src.bin" -I
sleep 0.2
log "nginx: pid $NGX_PID, $NGX_BASE/src.bin"

FS="$(findmnt -n -o SOURCE,FSTYPE -T "$TMP" | awk '{print $1 " (" $2 ")"}')"
DEV=$(basename "$(findmnt -n -o SOURCE -T "$TMP")")
ROTA=$(cat "/sys/block/$DEV/queue/rotational" 2>/dev/null || echo "?")

BD_TMP=$TMP BD_SRC=$TMP/www/src.bin BD_SIZE=$SIZE BD_REPEAT=$REPEAT BD_CHUNKS=$CHUNKS BD_PARALLEL=$PARALLEL \
  BD_CLI=$BIN BD_ATR_BASE=$ATR_BASE BD_TOKEN=$ATR_TOKEN BD_PROJECT=$ATR_PROJECT BD_ATR_PID=$ATR_PID \
  BD_NGX_URL=$NGX_BASE/src.bin BD_NGX_PIDS="$(server_pids "$NGX_PID")" \
  python3 "$REPO/bench/data/bench_data.py" run "$TMP/runs.jsonl" &
MEASURE_PID=$!
PIDS+=("$MEASURE_PID")
wait "$MEASURE_PID" || die "the measurements failed"
unset 'PIDS[-1]'
kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the run"
ATR_RSS=$(awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "%.0f MiB (peak %.0f MiB)", r/1024, h/1024}' "/proc/$ATR_PID/status")
DATA_DU=$(du -sh "$TMP/atrium-data/data" | cut -f1)

# ---- report ---------------------------------------------------------------------------------------
TABLE=$(python3 "$REPO/bench/data/bench_data.py" report "$TMP/runs.jsonl")
SIZE_H=$(python3 -c "import sys; n=int(sys.argv[1]); print(f'{n/(1<<30):g} GiB' if n >= 1<<30 else f'{n/(1<<20):g} MiB')" "$SIZE")
SECTION=$(cat <<EOF
## Data store upload/download vs cp and nginx — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); temp dir on $FS, rotational flag $ROTA; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine)
- Atrium: copy of \`$SRC_BIN\` (built $BIN_STAMP) at $(git_rev "$REPO"); $THREADS; server and CLI are the same binary.
  $({ "$NGINX" -v 2>&1 || true; } | sed 's|^nginx version: ||') (2 workers, sendfile on), $(curl --version | awk 'NR==1 {print $1, $2}')
- File: $SIZE_H of random bytes; $REPEAT round(s), each: writes (cp, then per chunk size the CLI and the raw client)
  then reads (cat, nginx, Atrium curl, \`atrium data get\`, $PARALLEL parallel curls each); medians. Every upload has unique
  content (no deduplication) and is deleted + garbage-collected (untimed) after it. All reads are warm page cache for
  every contender alike (the source and the stored blob were just written; nothing is dropped); writes end with fsync.
- $GOAL

$TABLE

Upload time runs from the start (process start for the CLI, \`POST …/uploads\` for the raw client) to the
\`201\` of \`POST /api/v1/uploads/{id}/complete\`: every PATCH chunk is encrypted and fdatasynced into the
staging file, then complete decrypts the staging, re-encrypts it into the blob store, hashes it and fsyncs.
CPU: share of one core during the transfer (from /proc): the server's process (Atrium: all threads; nginx:
master + workers), the client (curl / cp / the CLI / the Python raw client) and everything else on the machine.
Server CPU s per GiB: server CPU seconds per GiB moved. Atrium after the run: RSS $ATR_RSS; data dir $DATA_DU.
EOF
)

publish_section "$SECTION"
