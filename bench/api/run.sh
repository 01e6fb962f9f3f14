#!/usr/bin/env bash
# API throughput benchmark: Atrium's authenticated `GET /api/v1/projects/{id}` (bearer-token lookup,
# RBAC, SQLite read, JSON) against nginx serving the same JSON body as a static file, side by side,
# in one sitting, on this machine. Prints a markdown table and appends a dated section to
# bench/RESULTS.md. Never a pass/fail gate: it fails only when something is broken (a server does not
# start, an endpoint does not answer 200, wrk sees non-2xx responses or errors, a server dies).
#
# Knobs (environment):
#   ATRIUM_BENCH_DURATION   wrk duration per run              (default 10s)
#   ATRIUM_BENCH_CONNS      wrk connections                    (default 64)
#   ATRIUM_BENCH_RUNS       measured runs per server; median   (default 3)
#   ATRIUM_BENCH_WARMUP     unmeasured warm-up per server      (default 2s; 0 = none)
#   ATRIUM_BENCH_IO_THREADS Atrium io-thread counts to compare (default "$ATRIUM_SERVER_IO_THREADS" or "1 2")
#   ATRIUM_BENCH_RESULTS    file to append the section to      (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN              server binary                      (default <repo>/build/src/atrium)
#   ATRIUM_SERVER_WORKER_THREADS and other ATRIUM_SERVER_*/ATRIUM_LIMITS_*/... settings are passed to
#   the server unchanged (the access log is always off: ATRIUM_LOG_ACCESS_LOG=).
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${ATRIUM_BENCH_DURATION:-10s}
CONNS=${ATRIUM_BENCH_CONNS:-64}
RUNS=${ATRIUM_BENCH_RUNS:-3}
WARMUP=${ATRIUM_BENCH_WARMUP:-2s}
IO_VARIANTS=${ATRIUM_BENCH_IO_THREADS:-${ATRIUM_SERVER_IO_THREADS:-1 2}}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
NGINX=${NGINX:-/usr/sbin/nginx}
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goal: ≥ 0.4× nginx req/s and p99 < 5 ms at 64 connections'

# The exact command, with the knobs that were set, for the record.
CMD=""
for v in $(compgen -e | grep -E '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|ATRIUM_LIMITS_|ATRIUM_DATABASE_|NGINX$)' | sort); do
  CMD+="$v=${!v} "
done
CMD+="bench/api/run.sh${*:+ $*}"

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in wrk curl python3 "$NGINX"; do
  command -v "$tool" >/dev/null || die "$tool not found (install: ATRIUM_BENCH=1 ./scripts/install-deps.sh)"
done
[[ -x $BIN ]] || die "server binary $BIN not found (build it: make build, or set ATRIUM_BIN)"
[[ $CONNS =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ ]] || die "ATRIUM_BENCH_CONNS/RUNS must be integers"
for io in $IO_VARIANTS; do [[ $io =~ ^[1-9][0-9]*$ ]] || die "bad io-thread count '$io'"; done

TMP=$(mktemp -d /tmp/atrium-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers may run as another user
PIDS=()           # everything we started, stopped in reverse order on exit

stop_pid() {  # stop_pid PID: TERM, wait up to 5 s, then KILL (its direct children too)
  local pid=$1 i kids
  kill -0 "$pid" 2>/dev/null || return 0
  kids=$(pgrep -P "$pid" || true)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  for i in $kids; do kill -0 "$i" 2>/dev/null && kill -KILL "$i" 2>/dev/null || true; done
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  if [[ $rc -ne 0 ]]; then
    log "failed (exit $rc); server logs:"
    for f in "$TMP"/nginx/error.log "$TMP"/atrium-*/stderr.log; do
      [[ -s $f ]] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until URL answers 200 (with optional extra curl args) while PID lives; fail loudly otherwise.
expect_200() {
  local what=$1 pid=$2 url=$3 code i
  shift 3
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || die "$what (pid $pid) exited"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  curl -s -i "$@" "$url" >&2 || true
  die "$what: GET $url answered $code, expected 200"
}

# ---- Atrium ---------------------------------------------------------------------------------------
# start_atrium NAME IO_THREADS: starts a server with its own data dir, sets ATR_PID/ATR_PORT.
start_atrium() {
  local name=$1 io=$2 dir=$TMP/atrium-$1 i
  mkdir -p "$dir/data"
  : >"$dir/stdout.log"
  (
    # The server rejects unknown ATRIUM_* variables: drop the bench knobs.
    for v in $(compgen -e | grep -E '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_CONFIG$|ATRIUM_LISTEN$|ATRIUM_DATA_DIR$)'); do
      unset "$v"
    done
    export ATRIUM_ADMIN_PASSWORD=$PASSWORD ATRIUM_LOG_ACCESS_LOG= ATRIUM_SERVER_IO_THREADS=$io
    exec "$BIN" server --listen 127.0.0.1:0 --data-dir "$dir/data"
  ) >"$dir/stdout.log" 2>"$dir/stderr.log" &
  ATR_PID=$!
  PIDS+=("$ATR_PID")
  ATR_PORT=""
  for ((i = 0; i < 300; i++)); do
    ATR_PORT=$(sed -n 's|^atrium: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$dir/stdout.log" || true)
    [[ -n $ATR_PORT ]] && break
    kill -0 "$ATR_PID" 2>/dev/null || die "atrium ($name) exited during start"
    sleep 0.1
  done
  [[ -n $ATR_PORT ]] || die "atrium ($name) did not print its port within 30 s"
}

# api EXPECTED_STATUS METHOD URL JSON [curl args...]: prints the body; dies on another status.
api() {
  local want=$1 method=$2 url=$3 body=$4 out=$TMP/api.out code
  shift 4
  code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
    --data "$body" "$@" "$url") || die "curl $method $url failed"
  [[ $code == "$want" ]] || { cat "$out" >&2; echo >&2; die "$method $url answered $code, expected $want"; }
  cat "$out"
}

json_get() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# setup_atrium NAME: login, token, org, project; sets ATR_TOKEN and ATR_URL.
setup_atrium() {
  local base=http://127.0.0.1:$ATR_PORT jar=$TMP/atrium-$1/cookies csrf project
  csrf=$(api 200 POST "$base/api/v1/auth/login" "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" -c "$jar" |
    json_get csrf_token)
  ATR_TOKEN=$(api 201 POST "$base/api/v1/tokens" '{"name":"bench"}' -b "$jar" -H "X-CSRF-Token: $csrf" |
    json_get token)
  api 201 POST "$base/api/v1/orgs" '{"slug":"bench","name":"Benchmark Org"}' \
    -b "$jar" -H "X-CSRF-Token: $csrf" >/dev/null
  project=$(api 201 POST "$base/api/v1/orgs/bench/projects" \
    '{"slug":"bench-project","name":"Benchmark Project","description":"A project read by the API benchmark","tags":["bench","api"]}' \
    -b "$jar" -H "X-CSRF-Token: $csrf" | json_get id)
  ATR_URL=$base/api/v1/projects/$project
}

# ---- nginx ----------------------------------------------------------------------------------------
start_nginx() {  # start_nginx BODY_FILE: sets NGX_PID/NGX_URL
  local dir=$TMP/nginx port m temps=""
  mkdir -p "$dir/www" "$dir/temp"
  cp "$1" "$dir/www/project.json"
  chmod -R a+rX "$dir"
  chmod a+rwx "$dir/temp"
  for m in proxy fastcgi scgi uwsgi; do
    "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temps+="    ${m}_temp_path $dir/temp/$m;"$'\n'
  done
  port=$(free_port)
  cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$( [[ $(id -u) == 0 ]] && echo "user root;" )
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/temp/body;
$temps    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$port;
        location = /project.json {
            root $dir/www;
            default_type application/json;
        }
    }
}
EOF
  "$NGINX" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/error.log" ||
    die "nginx rejected $dir/nginx.conf"
  "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/error.log" &
  NGX_PID=$!
  PIDS+=("$NGX_PID")
  NGX_URL=http://127.0.0.1:$port/project.json
}

# All PIDs whose CPU counts as "the server" (nginx: master + workers).
server_pids() { echo "$1" $(pgrep -P "$1" || true); }

# ---- measurement ----------------------------------------------------------------------------------
# measure LABEL KIND PID URL TOKEN DURATION: runs wrk once, appends one JSON line to $TMP/runs.jsonl
# (unless LABEL is "warmup"). CPU use of the server processes, of wrk and of everything else on the
# machine is taken from /proc over the run.
measure() {
  local label=$1 kind=$2 pid=$3 url=$4 token=$5 dur=$6
  kill -0 "$pid" 2>/dev/null || die "$kind server (pid $pid) died before '$label'"
  # In the background + wait, so that a signal stops the run at once (cleanup stops it and its wrk).
  python3 - "$label" "$kind" "$url" "$dur" "$CONNS" "$token" "$TMP/runs.jsonl" $(server_pids "$pid") <<'PY' &
import json, os, re, resource, subprocess, sys, time
label, kind, url, dur, conns, token, out = sys.argv[1:8]
pids = [int(p) for p in sys.argv[8:]]
hz = os.sysconf("SC_CLK_TCK")

def proc_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0

def machine():  # (busy, steal) ticks of the whole machine; guest time is already in user
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]] + [0] * 8
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7]

(b0, st0) = machine(); s0 = sum(proc_ticks(p) for p in pids); w0 = time.monotonic()
cmd = ["wrk", "-t1", f"-c{conns}", f"-d{dur}", "--latency", "-H", f"Authorization: Bearer {token}", url]
r = subprocess.run(cmd, capture_output=True, text=True)
wall = time.monotonic() - w0
(b1, st1) = machine(); s1 = sum(proc_ticks(p) for p in pids)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
text = r.stdout + r.stderr
if r.returncode != 0:
    sys.exit(f"wrk failed ({r.returncode}):\n{text}")

def lat_us(pct):
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        sys.exit(f"no {pct}% latency in wrk output:\n{text}")
    return float(m[1]) * {"us": 1, "ms": 1e3, "s": 1e6}[m[2]]

m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
if not m:
    sys.exit(f"no Requests/sec in wrk output:\n{text}")
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
total = re.search(r"^\s*(\d+) requests in", text, re.M)
ncpu = os.cpu_count() or 1
busy = (b1 - b0) / hz  # CPU-seconds used by everything on this machine (steal excluded)
steal = (st1 - st0) / hz  # CPU-seconds the hypervisor gave to other guests
server_s = (s1 - s0) / hz
wrk_s = ru.ru_utime + ru.ru_stime
rec = {
    "label": label, "kind": kind, "rps": float(m[1]), "p50_us": lat_us(50), "p99_us": lat_us(99),
    "requests": int(total[1]) if total else None,
    "non2xx": int(non2xx[1]) if non2xx else 0,
    "socket_errors": dict(zip(["connect", "read", "write", "timeout"], map(int, sock.groups()))) if sock else {},
    "wall_s": wall, "server_cpu_pct": 100 * server_s / wall, "wrk_cpu_pct": 100 * wrk_s / wall,
    "other_cpu_pct": 100 * max(0.0, busy - server_s - wrk_s) / wall, "steal_cpu_pct": 100 * steal / wall,
    "machine_pct": 100 * ncpu,
}
if label != "warmup":
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
print(f"bench:   {label:>6} {kind:<14} {rec['rps']:>10.0f} req/s  p50 {rec['p50_us']:>8.0f} us  "
      f"p99 {rec['p99_us']:>8.0f} us  cpu server {rec['server_cpu_pct']:.0f}% wrk {rec['wrk_cpu_pct']:.0f}% "
      f"other {rec['other_cpu_pct']:.0f}% steal {rec['steal_cpu_pct']:.0f}% (of {rec['machine_pct']}%)", file=sys.stderr)
if rec["non2xx"] or any(rec["socket_errors"].values()):
    sys.exit(f"{kind}: wrk saw {rec['non2xx']} non-2xx/3xx responses, socket errors {rec['socket_errors']}:\n{text}")
PY
  MEASURE_PID=$!
  PIDS+=("$MEASURE_PID")
  wait "$MEASURE_PID" || die "measurement '$label' of $kind failed"
  unset 'PIDS[-1]'
  kill -0 "$pid" 2>/dev/null || die "$kind server (pid $pid) died during '$label'"
}

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# ---- run ------------------------------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "starting servers (atrium io_threads: $IO_VARIANTS; $RUNS x $DURATION runs at $CONNS connections)"
declare -A APID AURL ATOK  # per atrium instance (own data dir, own token)
for io in $IO_VARIANTS; do
  name=io$io
  start_atrium "$name" "$io"
  setup_atrium "$name"
  APID[$name]=$ATR_PID AURL[$name]=$ATR_URL ATOK[$name]=$ATR_TOKEN
  expect_200 "atrium ($name)" "$ATR_PID" "$ATR_URL" -H "Authorization: Bearer $ATR_TOKEN"
  rss_kb "$ATR_PID" VmRSS >"$TMP/atrium-$name/rss_idle"
  grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-$name/stderr.log" >"$TMP/atrium-$name/threads" || true
  log "atrium $name: pid $ATR_PID, ${AURL[$name]} ($(cat "$TMP/atrium-$name/threads"))"
done
first=io${IO_VARIANTS%% *}
curl -s -H "Authorization: Bearer ${ATOK[$first]}" "${AURL[$first]}" -o "$TMP/body.json"
start_nginx "$TMP/body.json"
expect_200 nginx "$NGX_PID" "$NGX_URL"
log "nginx: pid $NGX_PID, $NGX_URL ($(stat -c %s "$TMP/nginx/www/project.json") bytes, atrium's response body)"

run_one() {  # run_one LABEL NAME DURATION
  local label=$1 name=$2 dur=$3
  if [[ $name == nginx ]]; then
    # nginx ignores the Authorization header; it is sent so that both requests have the same size.
    measure "$label" nginx "$NGX_PID" "$NGX_URL" "${ATOK[$first]}" "$dur"
  else
    measure "$label" "atrium-$name" "${APID[$name]}" "${AURL[$name]}" "${ATOK[$name]}" "$dur"
  fi
}

if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
  run_one warmup nginx "$WARMUP"
  for io in $IO_VARIANTS; do run_one warmup "io$io" "$WARMUP"; done
fi
for ((r = 1; r <= RUNS; r++)); do
  run_one "run$r" nginx "$DURATION"
  for io in $IO_VARIANTS; do run_one "run$r" "io$io" "$DURATION"; done
done
for io in $IO_VARIANTS; do
  p=${APID[io$io]}
  echo "$(rss_kb "$p" VmRSS) $(rss_kb "$p" VmHWM)" >"$TMP/atrium-io$io/rss_after"
done

# ---- report ---------------------------------------------------------------------------------------
MACHINE="$(nproc) × $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
LOAD="$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || REV+=" + uncommitted changes"
VERSIONS="$({ "$NGINX" -v 2>&1 || true; } | sed 's|^nginx version: ||'), wrk $({ wrk -v 2>&1 || true; } | awk 'NR==1 {print $2}')"
export DURATION CONNS RUNS MACHINE LOAD REV VERSIONS CMD GOAL BIN IO_VARIANTS TMP
TABLE=$(python3 - <<'PY'
import json, os, statistics as st
runs = [json.loads(l) for l in open(os.environ["TMP"] + "/runs.jsonl")]
kinds = ["nginx"] + [f"atrium-io{io}" for io in os.environ["IO_VARIANTS"].split()]
med = lambda k, f: st.median(r[f] for r in runs if r["kind"] == k)
ngx = med("nginx", "rps")
def ms(us): return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"
rows, goal = [], []
for k in kinds:
    rps, p50, p99 = med(k, "rps"), med(k, "p50_us"), med(k, "p99_us")
    per_run = " / ".join(f"{r['rps'] / 1000:.1f}k" for r in runs if r["kind"] == k)
    cpu = " / ".join(f"{med(k, f + '_cpu_pct'):.0f}" for f in ("server", "wrk", "other", "steal")) + " %"
    non2xx = sum(r["non2xx"] for r in runs if r["kind"] == k)
    if k == "nginx":
        what, threads, rss = "nginx static file", "2 workers", "—"
    else:
        d = os.environ["TMP"] + "/" + k
        what = "atrium GET /api/v1/projects/{id}"
        t = open(d + "/threads").read().split()  # "N io threads, M workers" from the server's log
        threads = f"io {t[0]}, workers {t[3]}" if len(t) >= 4 else "?"
        idle = int(open(d + "/rss_idle").read().split()[0])
        after, peak = map(int, open(d + "/rss_after").read().split())
        rss = f"{after / 1024:.1f} MiB (idle {idle / 1024:.1f}, peak {peak / 1024:.1f})"
        ok = rps / ngx >= 0.4 and p99 < 5000
        goal.append(f"- {k}: {rps / ngx:.2f}× nginx req/s, p99 {ms(p99)} → goal {'met' if ok else 'NOT met'}")
    rows.append(f"| {what} | {threads} | {rps:,.0f} | {ms(p50)} | {ms(p99)} | {rps / ngx:.2f} | {per_run} | "
                f"{non2xx} | {cpu} | {rss} |")
print(f"| server | threads | req/s (median of {os.environ['RUNS']}) | p50 | p99 | vs nginx | req/s per run | "
      "non-2xx | CPU server / wrk / other / steal (of " + str(100 * (os.cpu_count() or 1)) + " %) | atrium RSS after |")
print("|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
print()
print("\n".join(goal))
PY
)

SECTION=$(cat <<EOF
## API read vs nginx — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $MACHINE; load average $LOAD (shared machine: other jobs run alongside)
- Atrium: \`$BIN\` at $REV; $VERSIONS
- Load: \`wrk -t1 -c$CONNS -d$DURATION --latency -H 'Authorization: Bearer atr_…'\`, $RUNS run(s) per server
  alternating nginx / atrium, medians; wrk runs on the same cores as the servers.
- $GOAL

$TABLE

CPU: share of one core (medians over the runs, from /proc) used by the server's processes, by wrk,
by everything else on the machine (unrelated jobs: noise) and stolen by the hypervisor (noise).
Atrium RSS: VmRSS after the last run; idle = after setup, before any load; peak = VmHWM over the
process's life, setup included. nginx serves a byte-identical copy of Atrium's response body; both
get the same request headers.
EOF
)

echo
echo "$SECTION"
if [[ -n $RESULTS ]]; then
  if [[ ! -f $RESULTS ]]; then
    cat >"$RESULTS" <<'EOF'
# Benchmark results

Appended by the scripts under `bench/` (see bench/README.md), newest last. One section per
capability and sitting, each with the command that produced the figures, the machine (cores,
CPU model) and the date. Absolute numbers depend on the machine and on whatever else ran on it;
compare servers only within one section (same sitting), through the ratio columns.
EOF
  fi
  printf '\n%s\n' "$SECTION" >>"$RESULTS"
  log "appended to $RESULTS"
fi
