#!/usr/bin/env bash
# Batch-job benchmark: Atrium's jobs API and local executor against a local single-node SLURM 22.05,
# side by side, in one sitting, on this machine. Four figures:
#   1. submit throughput (held jobs: the API + the durable SQLite commit) with wrk + submit.lua,
#      vs slurmrestd (JWT, keep-alive, same wrk) and an `sbatch -H` loop;
#   2. submit -> running latency on an idle server (start_time - submit_time from the API, and
#      the sandbox's own started_ms from supervisor.json), vs the bare sandbox start cost
#      (bench/sandbox/bench.cpp, built and run here) and SLURM's submit -> job running;
#   3. N (300) trivial `true` jobs end to end, vs SLURM doing the same (2 CPUs, 1 CPU per job);
#   4. one scheduling pass with 100k pending jobs (atrium_bench_sched), no anchor.
# Prints a markdown section and appends it to bench/RESULTS.md. Never a pass/fail gate: it fails
# only when something is broken (a server does not start, a request is refused, a job does not
# complete, wrk sees errors, a daemon dies).
#
# SLURM columns need the Debian packages (slurmctld slurmd slurm-client slurmrestd
# slurm-wlm-jwt-plugin munge): with ATRIUM_BENCH_SLURM=1 the script installs them (apt-get) and
# starts a private cluster with bench/jobs/slurm-local.sh in its temp dir; otherwise those columns
# say "not measured".
#
# Knobs (environment):
#   ATRIUM_BENCH_SLURM        1: install + measure SLURM too                    (default 0)
#   ATRIUM_BENCH_DURATION     wrk duration per submit run                       (default 10s)
#   ATRIUM_BENCH_CONNS        wrk connection counts                             (default "16 64")
#   ATRIUM_BENCH_RUNS         measured submit runs per server and count; median (default 3)
#   ATRIUM_BENCH_WARMUP       unmeasured wrk warm-up per server                  (default 2s; 0 = none)
#   ATRIUM_BENCH_LAT_N        sequential jobs for the Atrium latency            (default 50)
#   ATRIUM_BENCH_SLURM_LAT_N  sequential jobs for the SLURM latency             (default 20)
#   ATRIUM_BENCH_E2E_N        jobs in the end-to-end run                        (default 300)
#   ATRIUM_BENCH_SANDBOX_N    runs per case of the bare sandbox start cost      (default 100)
#   ATRIUM_BENCH_SCHED_PENDING pending jobs in the scheduler pass               (default 100000)
#   ATRIUM_BENCH_MEM_MB       memory per job, MB (Atrium mem_mb, sbatch --mem)  (default 256)
#   ATRIUM_BENCH_RESULTS      file to append the section to                     (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN                server binary                                     (default <repo>/build/src/atrium)
#   ATRIUM_BENCH_BUILD_DIR    build dir with atrium_bench_sched, libatrium_sandbox.a, libatrium_core.a
#                             (default: the one ATRIUM_BIN lies in, i.e. dirname(dirname(ATRIUM_BIN)))
# Other ATRIUM_SERVER_* and ATRIUM_DATABASE_* settings are passed to the servers unchanged (access log
# always off; the compute node is always ATRIUM_COMPUTE_CPUS=2, ATRIUM_COMPUTE_MEM_MB=95% of RAM).
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/bench/jobs
SLURM=${ATRIUM_BENCH_SLURM:-0}
DURATION=${ATRIUM_BENCH_DURATION:-10s}
CONNS_LIST=${ATRIUM_BENCH_CONNS:-16 64}
RUNS=${ATRIUM_BENCH_RUNS:-3}
WARMUP=${ATRIUM_BENCH_WARMUP:-2s}
LAT_N=${ATRIUM_BENCH_LAT_N:-50}
SLURM_LAT_N=${ATRIUM_BENCH_SLURM_LAT_N:-20}
E2E_N=${ATRIUM_BENCH_E2E_N:-300}
SANDBOX_N=${ATRIUM_BENCH_SANDBOX_N:-100}
SCHED_PENDING=${ATRIUM_BENCH_SCHED_PENDING:-100000}
MEM_MB=${ATRIUM_BENCH_MEM_MB:-256}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
BIN=$(realpath -m "${ATRIUM_BIN:-$REPO/build/src/atrium}")
BUILD_DIR=$(realpath -m "${ATRIUM_BENCH_BUILD_DIR:-$(dirname "$(dirname "$BIN")")}")
PASSWORD='bench-Admin-Pa55word-7f3c'
PY=$HERE/bench_jobs.py

CMD=""
for v in $(compgen -e | grep -E '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|ATRIUM_DATABASE_)' | sort); do CMD+="$v=${!v} "; done
CMD+="bench/jobs/run.sh${*:+ $*}"

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in wrk curl python3 g++ pkg-config; do
  command -v "$tool" >/dev/null || die "$tool not found (install: ATRIUM_BENCH=1 ./scripts/install-deps.sh)"
done
[[ -x $BIN ]] || die "server binary $BIN not found (build it, or set ATRIUM_BIN)"
[[ -x $BUILD_DIR/atrium_bench_sched ]] || die "$BUILD_DIR/atrium_bench_sched not found (ninja -C $BUILD_DIR atrium_bench_sched)"
for f in src/sandbox/libatrium_sandbox.a src/core/libatrium_core.a; do
  [[ -f $BUILD_DIR/$f ]] || die "$BUILD_DIR/$f not found (ninja -C $BUILD_DIR atrium)"
done
[[ $(id -u) == 0 ]] || die "run as root: jobs run in root-launched sandboxes (per-user uid, cgroups), SLURM needs root"
for n in "$RUNS" "$LAT_N" "$E2E_N" "$SANDBOX_N" "$SCHED_PENDING" "$MEM_MB" "$SLURM_LAT_N"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "counts must be positive integers (got '$n')"
done
for c in $CONNS_LIST; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "bad connection count '$c'"; done

if [[ $SLURM == 1 ]]; then
  need=()
  for p in slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  if ((${#need[@]})); then
    log "installing ${need[*]} (ATRIUM_BENCH_SLURM=1)"
    # policy-rc.d (containers) keeps the packaged services from starting; elsewhere make sure they
    # do not run on the ports used here (slurm-local.sh uses 16817/16818/16820).
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2; } ||
      die "apt-get install ${need[*]} failed"
  fi
fi

TMP=$(mktemp -d /tmp/atrium-bench-jobs.XXXXXX)
chmod 755 "$TMP"
OUT=$TMP/results.jsonl
: >"$OUT"
PIDS=()
SLURM_DIR=""

stop_pid() {  # TERM, wait up to 10 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Job supervisors (`atrium exec`) are detached from the server (own session): a server stopped
# with jobs still running would leave them. End those that our servers started: their PIDs are in
# <data>/jobs/<id>/run*/supervisor.json, and their command line names that run dir.
stop_supervisors() {
  local pid
  for pid in $(python3 - "$TMP" <<'PY'
import glob, json, os, sys
for f in glob.glob(os.path.join(sys.argv[1], "atrium-*/data/jobs/*/run*/supervisor.json")):
    try:
        pid = int(json.load(open(f))["pid"])
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except (OSError, ValueError, KeyError):
        continue
    if os.path.dirname(f).encode() in cmd and b"exec" in cmd:
        print(pid)
PY
  ); do
    kill -KILL "$pid" 2>/dev/null && log "killed leftover job supervisor $pid" || true
  done
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM ERR
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  stop_supervisors
  [[ -n $SLURM_DIR ]] && { "$HERE/slurm-local.sh" stop "$SLURM_DIR" || log "slurm-local.sh stop failed"; }
  if [[ $rc -ne 0 ]]; then
    log "failed (exit $rc); logs:"
    for f in "$TMP"/atrium-*/stderr.log "$TMP"/slurm/log/slurmctld.log; do
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

cgroup_leftovers() {  # job cgroup directories under any atrium cgroup parent
  local n=0 d
  for d in /sys/fs/cgroup/*/atrium /sys/fs/cgroup/atrium; do
    [[ -d $d ]] && n=$((n + $(find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l)))
  done
  echo "$n"
}

# ---- Atrium ---------------------------------------------------------------------------------------
COMPUTE_CPUS=2
COMPUTE_MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.95}' /proc/meminfo)  # as slurm-local.sh's RealMemory

start_atrium() {  # start_atrium NAME: own data dir; sets ATR_PID ATR_BASE ATR_DATA
  local name=$1 dir=$TMP/atrium-$1 i port=""
  mkdir -p "$dir/data"
  : >"$dir/stdout.log"
  (
    for v in $(compgen -e | grep -E '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_CONFIG$|ATRIUM_LISTEN$|ATRIUM_DATA_DIR$|ATRIUM_COMPUTE_)'); do
      unset "$v"
    done
    export ATRIUM_ADMIN_PASSWORD=$PASSWORD ATRIUM_LOG_ACCESS_LOG= \
      ATRIUM_COMPUTE_CPUS=$COMPUTE_CPUS ATRIUM_COMPUTE_MEM_MB=$COMPUTE_MEM_MB ATRIUM_COMPUTE_GPUS=0
    exec "$BIN" server --listen 127.0.0.1:0 --data-dir "$dir/data"
  ) >"$dir/stdout.log" 2>"$dir/stderr.log" &
  ATR_PID=$!
  PIDS+=("$ATR_PID")
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's|^atrium: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$dir/stdout.log" || true)
    [[ -n $port ]] && break
    kill -0 "$ATR_PID" 2>/dev/null || die "atrium ($name) exited during start"
    sleep 0.1
  done
  [[ -n $port ]] || die "atrium ($name) did not print its port within 30 s"
  ATR_BASE=http://127.0.0.1:$port
  ATR_DATA=$dir/data
}

api() {  # api EXPECTED METHOD URL JSON [curl args...]: prints the body
  local want=$1 method=$2 url=$3 body=$4 out=$TMP/api.out code
  shift 4
  code=$(curl -s -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
    --data "$body" "$@" "$url") || die "curl $method $url failed"
  [[ $code == "$want" ]] || { cat "$out" >&2; echo >&2; die "$method $url answered $code, expected $want"; }
  cat "$out"
}
json_get() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

setup_atrium() {  # setup_atrium NAME: login, token, org, project; sets ATR_TOKEN ATR_PROJECT
  local jar=$TMP/atrium-$1/cookies csrf
  csrf=$(api 200 POST "$ATR_BASE/api/v1/auth/login" "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" -c "$jar" |
    json_get csrf_token)
  ATR_TOKEN=$(api 201 POST "$ATR_BASE/api/v1/tokens" '{"name":"bench"}' -b "$jar" -H "X-CSRF-Token: $csrf" |
    json_get token)
  api 201 POST "$ATR_BASE/api/v1/orgs" '{"slug":"bench","name":"Benchmark Org"}' \
    -b "$jar" -H "X-CSRF-Token: $csrf" >/dev/null
  ATR_PROJECT=$(api 201 POST "$ATR_BASE/api/v1/orgs/bench/projects" \
    '{"slug":"jobs","name":"Job benchmark","description":"Jobs submitted by bench/jobs/run.sh"}' \
    -b "$jar" -H "X-CSRF-Token: $csrf" | json_get id)
  # The compute service must be up: one job through end to end.
  curl -sf -H "Authorization: Bearer $ATR_TOKEN" "$ATR_BASE/api/v1/compute" -o "$TMP/atrium-$1/compute.json" ||
    die "GET /api/v1/compute failed"
}

alive_or_die() { kill -0 "$1" 2>/dev/null || die "$2 (pid $1) died"; }

# ---- SLURM ----------------------------------------------------------------------------------------
start_slurm() {
  SLURM_DIR=$TMP/slurm
  "$HERE/slurm-local.sh" start "$SLURM_DIR" || die "slurm-local.sh start failed"
  # shellcheck disable=SC1091
  . "$SLURM_DIR/env.sh"
  local tok
  tok=$(scontrol token username=root lifespan=7200) || die "scontrol token failed"
  SLURM_JWT_TOKEN=${tok#SLURM_JWT=}
  SLURM_REST_URL=http://127.0.0.1:${SLURM_LOCAL_REST_PORT:-16820}/slurm/v0.0.38/job/submit
  cat >"$TMP/slurm-body.json" <<EOF
{"job": {"name": "bench", "partition": "debug", "hold": true, "cpus_per_task": 1, "memory_per_node": $MEM_MB,
         "current_working_directory": "$SLURM_DIR/jobs", "standard_output": "/dev/null",
         "environment": {"PATH": "/bin:/usr/bin"}},
 "script": "#!/bin/sh\ntrue\n"}
EOF
  code=$(curl -s -o "$TMP/api.out" -w '%{http_code}' -X POST -H "X-SLURM-USER-NAME: root" \
    -H "X-SLURM-USER-TOKEN: $SLURM_JWT_TOKEN" -H 'Content-Type: application/json' --data @"$TMP/slurm-body.json" \
    "$SLURM_REST_URL")
  [[ $code == 200 ]] && grep -q '"job_id"' "$TMP/api.out" || { cat "$TMP/api.out" >&2; die "slurmrestd submit answered $code"; }
  scancel --state=PD
  SLURM_PIDS=$(cat "$SLURM_DIR"/run/slurmctld.pid "$SLURM_DIR"/run/slurmrestd-jwt.pid | paste -sd,)
  SLURM_NODE=$(sinfo -h -N -o '%N %c CPUs, %m MB' | head -n1)
}
slurm_alive() { [[ $SLURM != 1 ]] || "$HERE/slurm-local.sh" status "$SLURM_DIR" >/dev/null || die "a SLURM daemon died"; }

# ---- 0. build the bare sandbox start-cost benchmark (before anything is measured) -----------------
log "building bench/sandbox/bench.cpp against $BUILD_DIR"
g++ -std=c++23 -O2 -I"$REPO/src" "$REPO/bench/sandbox/bench.cpp" \
  "$BUILD_DIR/src/sandbox/libatrium_sandbox.a" "$BUILD_DIR/src/core/libatrium_core.a" \
  $(pkg-config --libs libseccomp) -lfmt -lsodium -ldl -o "$TMP/sandbox-bench"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CG_BEFORE=$(cgroup_leftovers)

# ---- 4. scheduler pass (pure CPU; nothing else of ours is running yet) --------------------------
log "scheduler pass: $BUILD_DIR/atrium_bench_sched $SCHED_PENDING"
"$BUILD_DIR/atrium_bench_sched" "$SCHED_PENDING" >"$TMP/sched.txt" || die "atrium_bench_sched failed"
cat "$TMP/sched.txt" >&2
python3 - "$TMP/sched.txt" "$OUT" "$SCHED_PENDING" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"min ([\d.]+) median ([\d.]+) max ([\d.]+)", text)
if not m:
    sys.exit("bench: no median in atrium_bench_sched output")
with open(sys.argv[2], "a") as f:
    f.write(json.dumps({"key": "sched_pass", "cmd": f"atrium_bench_sched {sys.argv[3]}", "line1": text.splitlines()[0],
                        "min": float(m[1]), "median": float(m[2]), "max": float(m[3])}) + "\n")
PY

# ---- servers for latency and end to end ---------------------------------------------------------
if [[ $SLURM == 1 ]]; then
  log "starting SLURM (bench/jobs/slurm-local.sh) in $TMP/slurm"
  start_slurm
  log "SLURM node: $SLURM_NODE"
fi
start_atrium run
setup_atrium run
RUN_PID=$ATR_PID RUN_BASE=$ATR_BASE RUN_TOKEN=$ATR_TOKEN RUN_PROJECT=$ATR_PROJECT RUN_DATA=$ATR_DATA
ATR_NODE=$(python3 -c 'import json, sys
n = json.load(open(sys.argv[1])); r = n["resources"]; sb = n.get("sandbox", {})
print("{} CPUs, {} MB, {} GPUs; sandbox cgroup mode {}".format(r["cpus"], r["mem_mb"], r["gpus"], sb.get("cgroup_mode", "?")))' \
  "$TMP/atrium-run/compute.json") || die "GET /api/v1/compute: unexpected answer"
log "atrium (latency, end to end): pid $RUN_PID, $RUN_BASE; node: $ATR_NODE"

# ---- 2. latency ---------------------------------------------------------------------------------
log "bare sandbox start cost ($SANDBOX_N runs per case)"
"$TMP/sandbox-bench" "$BIN" "$SANDBOX_N" >"$TMP/sandbox.txt" || die "sandbox bench failed"
cat "$TMP/sandbox.txt" >&2
python3 - "$TMP/sandbox.txt" "$OUT" "$SANDBOX_N" <<'PY'
import json, re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"\| \((a|b|c)\)[^|]*\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
    if m:
        rows[{"a": "posix_spawn", "b": "sandbox_run", "c": "atrium_exec"}[m[1]]] = {
            "median": float(m[2]), "p90": float(m[3]), "min": float(m[4])}
if len(rows) != 3:
    sys.exit("bench: could not read the sandbox bench table")
with open(sys.argv[2], "a") as f:
    f.write(json.dumps({"key": "sandbox", "n": int(sys.argv[3]), **rows}) + "\n")
PY

log "atrium latency: $LAT_N sequential jobs"
python3 "$PY" atrium-latency --base "$RUN_BASE" --token "$RUN_TOKEN" --project "$RUN_PROJECT" --data-dir "$RUN_DATA" \
  --n "$LAT_N" --mem-mb "$MEM_MB" --out "$OUT"
alive_or_die "$RUN_PID" atrium
if [[ $SLURM == 1 ]]; then
  log "SLURM latency: $SLURM_LAT_N sequential jobs"
  python3 "$PY" slurm-latency --dir "$SLURM_DIR" --n "$SLURM_LAT_N" --mem-mb "$MEM_MB" --out "$OUT"
  slurm_alive
fi

# ---- 3. N jobs end to end -----------------------------------------------------------------------
log "atrium: $E2E_N jobs end to end (separate submits, then one array)"
python3 "$PY" atrium-e2e --mode separate --base "$RUN_BASE" --token "$RUN_TOKEN" --project "$RUN_PROJECT" \
  --n "$E2E_N" --mem-mb "$MEM_MB" --poll 0.05 --out "$OUT"
python3 "$PY" atrium-e2e --mode array --base "$RUN_BASE" --token "$RUN_TOKEN" --project "$RUN_PROJECT" \
  --n "$E2E_N" --mem-mb "$MEM_MB" --poll 0.05 --out "$OUT"
alive_or_die "$RUN_PID" atrium
if [[ $SLURM == 1 ]]; then
  log "SLURM: $E2E_N jobs end to end (sbatch loop; ~2 jobs/s expected)"
  python3 "$PY" slurm-e2e --dir "$SLURM_DIR" --n "$E2E_N" --mem-mb "$MEM_MB" --out "$OUT"
  slurm_alive
fi
stop_pid "$RUN_PID"
CG_AFTER_RUN=$(cgroup_leftovers)

# ---- 1. submit throughput -----------------------------------------------------------------------
start_atrium submit
setup_atrium submit
SUB_PID=$ATR_PID SUB_BASE=$ATR_BASE SUB_TOKEN=$ATR_TOKEN SUB_PROJECT=$ATR_PROJECT
SUB_URL=$SUB_BASE/api/v1/projects/$SUB_PROJECT/jobs
echo "{\"command\":[\"true\"],\"hold\":true,\"cpus\":1,\"mem_mb\":$MEM_MB,\"time_limit_s\":60}" >"$TMP/atrium-body.json"
log "atrium (submit): pid $SUB_PID, $SUB_URL"

cancel_held() {  # every held job of ours, in both systems, so each run starts with an empty queue
  local which=$1
  if [[ $which == atrium ]]; then
    curl -sf -X POST -H "Authorization: Bearer $SUB_TOKEN" -H 'Content-Type: application/json' \
      --data '{"state":"PENDING"}' "$SUB_BASE/api/v1/jobs/cancel" -o /dev/null --max-time 600 ||
      die "atrium: cancelling the held jobs failed"
  else
    scancel --state=PD
  fi
}

submit_run() {  # submit_run LABEL SYSTEM CONNS DURATION
  local label=$1 sys=$2 c=$3 dur=$4
  if [[ $sys == atrium ]]; then
    alive_or_die "$SUB_PID" atrium
    python3 "$PY" wrk --key atrium_submit --label "$label" --url "$SUB_URL" --body "$TMP/atrium-body.json" \
      --script "$HERE/submit.lua" --conns "$c" --duration "$dur" --pids "$SUB_PID" \
      --header "Authorization: Bearer $SUB_TOKEN" --out "$OUT"
    alive_or_die "$SUB_PID" atrium
  else
    python3 "$PY" wrk --key slurm_rest --label "$label" --url "$SLURM_REST_URL" --body "$TMP/slurm-body.json" \
      --script "$HERE/submit.lua" --conns "$c" --duration "$dur" --pids "$SLURM_PIDS" \
      --header "X-SLURM-USER-NAME: root" --header "X-SLURM-USER-TOKEN: $SLURM_JWT_TOKEN" --out "$OUT"
    slurm_alive
  fi
  local t0=$SECONDS
  cancel_held "$sys"
  [[ $sys == atrium ]] && log "  (cancelled the held Atrium jobs in $((SECONDS - t0)) s)"
  return 0
}

SYSTEMS=atrium
[[ $SLURM == 1 ]] && SYSTEMS="atrium slurm"
log "submit throughput: wrk -t1 -c{$CONNS_LIST} -d$DURATION, $RUNS run(s), alternating: $SYSTEMS"
if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
  for s in $SYSTEMS; do submit_run warmup "$s" "${CONNS_LIST%% *}" "$WARMUP"; done
fi
for ((r = 1; r <= RUNS; r++)); do
  for c in $CONNS_LIST; do
    for s in $SYSTEMS; do submit_run "run$r" "$s" "$c" "$DURATION"; done
  done
done
if [[ $SLURM == 1 ]]; then
  log "SLURM: sbatch -H loop ($E2E_N jobs)"
  python3 "$PY" slurm-sbatch --dir "$SLURM_DIR" --n "$E2E_N" --mem-mb "$MEM_MB" --out "$OUT"
  slurm_alive
fi
SUB_DB=$(du -sh "$TMP/atrium-submit/data" | cut -f1)
stop_pid "$SUB_PID"
stop_supervisors
CG_END=$(cgroup_leftovers)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------------------
MACHINE="$(nproc) × $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || REV+=" + uncommitted changes"
VERSIONS="wrk $({ wrk -v 2>&1 || true; } | awk 'NR==1 {print $2}')"
[[ $SLURM == 1 ]] && VERSIONS+=", $(sbatch --version)"
TABLE=$(python3 "$PY" report --results "$OUT" --e2e-n "$E2E_N" --mem-mb "$MEM_MB" $([[ $SLURM == 1 ]] && echo --slurm))
if [[ $SLURM == 1 ]]; then
  SLURM_LINE="SLURM: private single-node cluster from \`bench/jobs/slurm-local.sh\` (node $SLURM_NODE; select/cons_tres CR_Core_Memory, DefMemPerCPU=256, SchedulerParameters=batch_sched_delay=0, proctrack/linuxproc, task/affinity), slurmctld + slurmd + slurmrestd on the same cores"
else
  SLURM_LINE="SLURM: **not measured** (run with ATRIUM_BENCH_SLURM=1 to install and measure it); the reference figures on this kind of machine (shared/reference/slurm.md) are ~350 REST submits/s over one keep-alive connection, ~85 sbatch/s, 145 s for 300 jobs, p50 0.47 s submit → running"
fi

SECTION=$(cat <<EOF
## Batch jobs vs SLURM — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $MACHINE; load average $LOAD_START at the start, $LOAD_END at the end (shared machine: other jobs run alongside)
- Atrium: \`$BIN\` at $REV; $VERSIONS; one fresh server (temp data dir, SQLite, access log off) for 2 + 3
  and another for 1; node configured as \`ATRIUM_COMPUTE_CPUS=$COMPUTE_CPUS ATRIUM_COMPUTE_MEM_MB=$COMPUTE_MEM_MB\`
  (as SLURM's node: 2 CPUs; \`GET /api/v1/compute\`: $ATR_NODE); every job asks for 1 CPU and $MEM_MB MB (\`cpus:1, mem_mb:$MEM_MB\` / \`sbatch -c1 --mem=${MEM_MB}M\`),
  so both run at most 2 jobs at a time.
- $SLURM_LINE
- Submit load: \`wrk -t1 -c{${CONNS_LIST// /,}} -d$DURATION --latency -s bench/jobs/submit.lua\`, body \`{"command":["true"],"hold":true,…}\`
  (Atrium, bearer token) / \`{"job":{…,"hold":true},"script":"#!/bin/sh\\ntrue\\n"}\` (slurmrestd v0.0.38, JWT over TCP);
  $RUNS run(s) each, alternating the systems; after every run all held jobs are cancelled in both (one
  \`POST /api/v1/jobs/cancel\` / \`scancel --state=PD\`), so each run starts on an empty queue.
- Goals: submit ≥ 2000 jobs/s; submit → sandbox started p50 ≤ 2× the bare sandbox start; $E2E_N jobs ≥ 20× faster
  than SLURM; one scheduling pass over 100k pending jobs ≤ 50 ms.

$TABLE

Job cgroup directories under \`/sys/fs/cgroup/*/atrium\`: $CG_BEFORE before, $CG_AFTER_RUN after the latency and
end-to-end server stopped, $CG_END at the end. Submit server's data dir after the runs: $SUB_DB.

Bare sandbox start cost, as printed by bench/sandbox/bench.cpp in this run:

$(sed -n '/^|/p' "$TMP/sandbox.txt")
EOF
)

echo
echo "$SECTION"
if [[ -n $RESULTS ]]; then
  printf '\n%s\n' "$SECTION" >>"$RESULTS"
  log "appended to $RESULTS"
fi
