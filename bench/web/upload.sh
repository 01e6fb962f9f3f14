#!/usr/bin/env bash
# Upload throughput of the web UI against the CLI: the same file (1 GiB by default) uploaded
# through the Files page in Chromium (bench/web/upload.mjs) and with `atrium data put`, to the same
# server, alternating, in each round; a fresh first 64 bytes per upload so that no upload is
# deduplicated against an earlier one. Prints MiB/s per run, the medians and the ratio (target:
# the browser at >= 0.8x the CLI).
#   bench/web/upload.sh                     (run from the repository root, after a build of
#                                            atrium and web_ui)
# Settings (environment):
#   ATRIUM_BENCH_SIZE      file size in MiB                          (default 1024)
#   ATRIUM_BENCH_REPEAT    rounds                                    (default 3)
#   ATRIUM_BENCH_TMPDIR    where the temp dir goes                   (default /tmp)
#   ATRIUM_BIN             atrium binary (default build/src/atrium); the UI from build/web
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
# shellcheck source=../lib.sh
source bench/lib.sh
SIZE_MIB=${ATRIUM_BENCH_SIZE:-1024}
REPEAT=${ATRIUM_BENCH_REPEAT:-3}
BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
WEB=${ATRIUM_WEB_DIR:-$REPO/build/web}
PASSWORD=bench-web-upload-password-1
CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$)' bench/web/upload.sh "$@")
[[ -x $BIN ]] || die "atrium binary $BIN not found (build it, or set ATRIUM_BIN)"
[[ -f $WEB/index.html ]] || die "the web UI is not built in $WEB (build the web_ui target)"
[[ -x ${CHROMIUM_PATH:-/usr/bin/chromium} ]] || die "chromium not found"

bench_init atrium-bench-web "${ATRIUM_BENCH_TMPDIR:-/tmp}"
start_atrium web ATRIUM_WEB_ASSETS_DIR="$WEB" ATRIUM_DATA_GC_GRACE_S=0
setup_atrium web bench files
log "server $ATR_BASE (pid $ATR_PID), project $ATR_PROJECT"
SRC=$TMP/upload.bin
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$SRC"
BYTES=$(stat -c %s "$SRC")

cli_env=(env -u ATRIUM_BIN ATRIUM_SERVER_URL="$ATR_BASE" ATRIUM_TOKEN="$ATR_TOKEN"
  ATRIUM_CONFIG_DIR="$TMP/cli-config" HOME="$TMP/home")
mkdir -p "$TMP/home"
tag() { printf '%-64s' "atrium-bench-web $1 $(date +%s%N)" | dd of="$SRC" conv=notrunc status=none; }
now() { date +%s.%N; }
remove() {
  curl -fsS -X DELETE -H "Authorization: Bearer $ATR_TOKEN" "$ATR_BASE/api/v1/projects/$ATR_PROJECT/files/$1" >/dev/null
  curl -fsS -X POST -H "Authorization: Bearer $ATR_TOKEN" -H 'Content-Type: application/json' --data '{}' \
    "$ATR_BASE/api/v1/admin/gc" >/dev/null
}
mibs() { python3 -c "import sys; print(f'{$BYTES / 1048576 / float(sys.argv[1]):.1f}')" "$1"; }

CLI_RATES=() WEB_RATES=()
for ((r = 1; r <= REPEAT; r++)); do
  tag "cli-$r"
  sync
  t0=$(now)
  "${cli_env[@]}" "$BIN" data put "$SRC" --project "$ATR_PROJECT" --path "cli-$r.bin" -q >/dev/null
  t1=$(now)
  cli_s=$(python3 -c "print($t1 - $t0)")
  remove "cli-$r.bin"
  tag "web-$r"
  sync
  out=$(cd "$REPO" && node bench/web/upload.mjs "$ATR_BASE" admin "$PASSWORD" bench files "$SRC")
  web_s=$(echo "$out" | json_get wall_s)
  remove "upload.bin"
  CLI_RATES+=("$(mibs "$cli_s")") WEB_RATES+=("$(mibs "$web_s")")
  log "round $r: cli $(mibs "$cli_s") MiB/s (${cli_s:0:6} s), browser $(mibs "$web_s") MiB/s (${web_s:0:6} s, $(echo "$out" | json_get chunks) chunks)"
done

python3 - "$SIZE_MIB" "$CMD" "${CLI_RATES[*]}" "${WEB_RATES[*]}" <<'PY'
import statistics, sys
size, cmd, cli, web = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
mc, mw = statistics.median(cli), statistics.median(web)
print(f"\nupload of {size} MiB, same server, same run ({cmd})")
print(f"  atrium data put   MiB/s: {' '.join(f'{x:.1f}' for x in cli)}  median {mc:.1f}")
print(f"  browser (Files)   MiB/s: {' '.join(f'{x:.1f}' for x in web)}  median {mw:.1f}")
print(f"  ratio browser/CLI (medians): {mw / mc:.2f}x  (target >= 0.8x)")
PY
