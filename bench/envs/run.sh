#!/usr/bin/env bash
# Environments benchmark: Atrium's reverse proxy to an environment (`/env/<id>/…`, Bearer token,
# HTTP/1.1 keep-alive and WebSocket) against nginx and configurable-http-proxy (JupyterHub's proxy)
# in front of the very same upstream, and the direct upstream, side by side in one sitting; the
# launch of a jupyter env to READY against the same sandbox spec started bare (`atrium exec`) and
# against JupyterHub's spawn (reference); the server's RSS with N idle envs. Prints a markdown
# section; appends it to $RESULTS (or $ATRIUM_BENCH_RESULTS) when that is set. Never a pass/fail
# gate: it fails only when something is broken (a server does not start, an env ends FAILED, a
# proxy answers non-2xx or drops connections, an echo comes back wrong).
#
# The upstream is bench/envs/upstream.c (built here with `cc -O2`): a single-threaded epoll HTTP/1.1
# server with a fixed 13-byte 200 answer and a WebSocket echo at any path ending in /ws. It runs
#   * inside an Atrium `web` env (catalog app `web`, command /workspace/upstream, pushed to the
#     project's repository with `git push`), serving the env's unix socket: Atrium, nginx and CHP all
#     proxy to that socket (<data dir>/envs/<id>/run/app.sock);
#   * once more on the host on 127.0.0.1:PORT: the "direct" row (wrk cannot speak to a unix socket).
# Load: wrk -t1 -c1 and -t2 -c64 (--latency), the same Authorization: Bearer header for every target,
# a WebSocket client (stdlib) doing sequential 32-byte echoes.
#
# Knobs (environment):
#   BENCH_QUICK=1                  a short smoke run: 2 s per wrk, no warm-up, 200 echoes, 2 launches, 3 envs
#   ATRIUM_BENCH_DURATION          wrk duration of each measured run                   (default 10s; quick 2s)
#   ATRIUM_BENCH_WARMUP            unmeasured wrk run per target and connection count  (default 1s; quick 0)
#   ATRIUM_BENCH_CONNS             wrk connection counts                               (default "1 64")
#   ATRIUM_BENCH_RUNS              measured rounds per target (medians)                (default 1)
#   ATRIUM_BENCH_ECHOES            WebSocket round trips per target                    (default 2000; quick 200)
#   ATRIUM_BENCH_LAUNCHES          jupyter launches (and bare starts); 0: skip         (default 10; quick 2)
#   ATRIUM_BENCH_RSS_ENVS          idle web envs for the RSS figure; 0: skip           (default 20; quick 3)
#   ATRIUM_BENCH_NGINX_WORKERS     nginx worker_processes                              (default 2)
#   ATRIUM_BENCH_ATRIUM=0          leave Atrium out: the other rows only, against the host upstream's socket
#   ATRIUM_BENCH_CHP_DIR           where configurable-http-proxy@5.3 is npm-installed  (default ~/.cache/atrium-bench/chp)
#   ATRIUM_BENCH_TMPDIR            where the temp dir goes; keep it short: the env's socket path
#                                  <tmp>/atrium-e/data/envs/<id>/run/app.sock must stay < 108 bytes (default /tmp)
#   RESULTS / ATRIUM_BENCH_RESULTS file to append the section to                      (default: none, print only)
#   ATRIUM_BIN                     atrium binary, copied to the temp dir first         (default <repo>/build/src/atrium)
#   NGINX                          (default /usr/sbin/nginx); ATRIUM_SERVER_* and other server settings go to the server.
# Needs root (the server runs sandboxes; `atrium exec` of the bare start), wrk, nginx, curl, git, cc,
# /usr/bin/python3, node + npm (CHP; without them the CHP row is left out and said so).
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/bench/envs
QUICK=${BENCH_QUICK:-}
DURATION=${ATRIUM_BENCH_DURATION:-$([[ -n $QUICK ]] && echo 2s || echo 10s)}
WARMUP=${ATRIUM_BENCH_WARMUP:-$([[ -n $QUICK ]] && echo 0 || echo 1s)}
CONNS=${ATRIUM_BENCH_CONNS:-1 64}
RUNS=${ATRIUM_BENCH_RUNS:-1}
ECHOES=${ATRIUM_BENCH_ECHOES:-$([[ -n $QUICK ]] && echo 200 || echo 2000)}
LAUNCHES=${ATRIUM_BENCH_LAUNCHES:-$([[ -n $QUICK ]] && echo 2 || echo 10)}
RSS_ENVS=${ATRIUM_BENCH_RSS_ENVS:-$([[ -n $QUICK ]] && echo 3 || echo 20)}
NGX_WORKERS=${ATRIUM_BENCH_NGINX_WORKERS:-2}
WITH_ATRIUM=${ATRIUM_BENCH_ATRIUM:-1}
CHP_DIR=${ATRIUM_BENCH_CHP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atrium-bench/chp}
CHP_VERSION=5.3
TMPBASE=${ATRIUM_BENCH_TMPDIR:-/tmp}
RESULTS=${ATRIUM_BENCH_RESULTS-${RESULTS-}}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
PY=/usr/bin/python3
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
GOAL='Goals: through Atrium the p50 grows by ≤ 0.2 ms over direct and req/s ≥ 3× CHP; a jupyter env READY in ≤ 1.2× the bare sandbox start and ≤ 0.5× JupyterHub'"'"'s 1959 ms; server RSS ≤ 30 MiB with 20 idle envs'

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"

CMD=$(bench_cmdline '^(BENCH_QUICK$|ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|NGINX$)' bench/envs/run.sh "$@")

for tool in wrk curl git cc "$PY" "$NGINX"; do
  command -v "$tool" >/dev/null || die "$tool not found (install: ATRIUM_BENCH=1 ./scripts/install-deps.sh, or apt-get install wrk nginx-light)"
done
for v in "$LAUNCHES" "$RSS_ENVS" "$ECHOES" "$RUNS" "$NGX_WORKERS"; do
  [[ $v =~ ^[0-9]+$ ]] || die "ATRIUM_BENCH_LAUNCHES/RSS_ENVS/ECHOES/RUNS/NGINX_WORKERS must be integers"
done
((RUNS > 0 && ECHOES > 0 && NGX_WORKERS > 0)) || die "ATRIUM_BENCH_RUNS, ECHOES and NGINX_WORKERS must be > 0"
if [[ $WITH_ATRIUM != 0 ]]; then
  [[ -x $SRC_BIN ]] || die "atrium binary $SRC_BIN not found (build it, or set ATRIUM_BIN; ATRIUM_BENCH_ATRIUM=0 leaves Atrium out)"
  [[ $(id -u) == 0 ]] || die "run as root: the server starts sandboxes and the bare start runs \`atrium exec\` (ATRIUM_BENCH_ATRIUM=0 leaves Atrium out)"
fi

# ---- configurable-http-proxy (npm, cached) ---------------------------------------------------------
CHP_BIN=$CHP_DIR/node_modules/configurable-http-proxy/bin/configurable-http-proxy
CHP_NOTE=""
if [[ ! -e $CHP_BIN ]]; then
  if command -v node >/dev/null && command -v npm >/dev/null; then
    log "installing configurable-http-proxy@$CHP_VERSION into $CHP_DIR (npm)"
    mkdir -p "$CHP_DIR"
    npm install --prefix "$CHP_DIR" --no-audit --no-fund --loglevel=error "configurable-http-proxy@$CHP_VERSION" >&2 ||
      CHP_NOTE="npm install configurable-http-proxy@$CHP_VERSION failed"
  else
    CHP_NOTE="node or npm not found"
  fi
fi
CHP_VER=""
if [[ -z $CHP_NOTE ]]; then
  CHP_VER=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$CHP_DIR/node_modules/configurable-http-proxy/package.json")
  [[ $CHP_VER == "$CHP_VERSION".* ]] || CHP_NOTE="$CHP_DIR has configurable-http-proxy $CHP_VER, not $CHP_VERSION.x (remove it to reinstall)"
fi
[[ -z $CHP_NOTE ]] || log "CHP left out: $CHP_NOTE"

bench_init ebench "$TMPBASE"
ENVS_LIST=$TMP/envs.list
BARE_PID_FILE=$TMP/bare.pid
: >"$ENVS_LIST"

# Cleanup: a bare `atrium exec` still running (its process group), then every env this run made
# (POST stop, wait until they end), then lib.sh's (the processes in PIDS, the temp dir).
envs_cleanup() {
  local rc=$? id i st left=0 pid
  set +e  # best effort from here on: a failing step must not skip the rest
  trap - ERR
  if [[ -s $BARE_PID_FILE ]]; then
    pid=$(cat "$BARE_PID_FILE")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  if [[ -n ${ATR_PID:-} && -s $ENVS_LIST ]] && kill -0 "$ATR_PID" 2>/dev/null; then
    sort -u "$ENVS_LIST" | while read -r id; do
      curl -s -o /dev/null -m 5 -X POST -H "Authorization: Bearer $ATR_TOKEN" -H 'Content-Type: application/json' \
        --data '{}' "$ATR_BASE/api/v1/envs/$id/stop" || true
    done
    for ((i = 0; i < 300; i++)); do
      left=0
      while read -r id; do
        st=$(curl -s -m 5 -H "Authorization: Bearer $ATR_TOKEN" "$ATR_BASE/api/v1/envs/$id" |
          "$PY" -c 'import json, sys; print(json.load(sys.stdin).get("state", "?"))' 2>/dev/null || echo "?")
        [[ $st == STOPPED || $st == FAILED || $st == "?" ]] || left=$((left + 1))
      done < <(sort -u "$ENVS_LIST")
      ((left == 0)) && break
      sleep 0.1
    done
    ((left == 0)) || log "$left env(s) still not stopped after 30 s; stopping the server anyway"
  fi
  if [[ -n ${ATR_PID:-} ]]; then
    stop_pid "$ATR_PID"
    sweep_supervisors
  fi
  return_rc() { return "$1"; }
  return_rc "$rc"
  bench_cleanup
}
trap envs_cleanup EXIT

# sweep_supervisors: the envs' `atrium exec` supervisors of this run's binary copy that outlived the
# server (it died, or leaves them on exit): SIGTERM to the outer ones (they cancel their sandbox),
# then after 15 s SIGKILL to any left. Found by their command line, which names this run's temp dir.
supervisors() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $cmd == "$BIN exec "* ]] && echo "${p#/proc/}"
  done
}
sweep_supervisors() {
  local pids p i ppid
  [[ -n ${BIN:-} ]] || return 0
  pids=$(supervisors)
  [[ -n $pids ]] || return 0
  log "$(echo "$pids" | wc -l) env supervisor process(es) outlived the server; stopping them"
  for p in $pids; do
    ppid=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
    grep -qx "$ppid" <<<"$pids" || kill -TERM "$p" 2>/dev/null
  done
  for ((i = 0; i < 150; i++)); do
    [[ -z $(supervisors) ]] && return 0
    sleep 0.1
  done
  for p in $(supervisors); do kill -KILL "$p" 2>/dev/null; done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
rss_mib() {  # rss_mib PID...: their VmRSS summed, in MiB
  local p files=()
  for p in "$@"; do files+=("/proc/$p/status"); done
  awk '/^VmRSS:/ {s += $2} END {printf "%.1f", s / 1024}' "${files[@]}" 2>/dev/null || echo "?"
}

# ---- the upstream ----------------------------------------------------------------------------------
cc -O2 -Wall -o "$TMP/upstream" "$HERE/upstream.c" || die "cc -O2 $HERE/upstream.c failed"
UP_PORT=$(free_port)
"$TMP/upstream" -s "$TMP/up.sock" -p "$UP_PORT" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
expect_200 "upstream (host)" "$UP_PID" "http://127.0.0.1:$UP_PORT/"

# ---- Atrium: server, org, project, token, the `web` app, the upstream in the repository, one env --
ENV_ID=bench
ENV_SOCK=$TMP/up.sock
ENV_TOKEN=bench
ATR_AUTH="Authorization: Bearer none"
if [[ $WITH_ATRIUM != 0 ]]; then
  copy_atrium
  # Every env asks for 1 CPU; the node must hold $RSS_ENVS of them at once (they idle).
  COMPUTE_CPUS=$((RSS_ENVS + 2 > $(nproc) ? RSS_ENVS + 2 : $(nproc)))
  # The benchmark reaches environments at /env/<id>/ on the server's own address (as nginx and CHP are
  # reached): envs.path_mode. By default each environment has an origin of its own (docs/envs.md),
  # routed by Host with the same proxy and relay; that host match is not measured separately.
  start_atrium e ATRIUM_COMPUTE_CPUS=$COMPUTE_CPUS ATRIUM_ENVS_PATH_MODE=true
  setup_atrium e bench bench-envs
  ATR_AUTH="Authorization: Bearer $ATR_TOKEN"
  DATA=$TMP/atrium-e/data
  THREADS=$(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-e/stderr.log" || echo "default threads")
  log "atrium: pid $ATR_PID, $ATR_BASE, project $ATR_PROJECT ($THREADS), data dir $DATA"
  ATR_RSS_SETUP=$(rss_mib "$ATR_PID")
  api_call() {  # api_call "STATUS..." METHOD PATH [BODY]: the body; on another status: the exchange, the server log, die
    local want=$1 method=$2 path=$3 body=${4:-} code
    code=$(curl -s -o "$TMP/api.out" -D "$TMP/api.hdr" -w '%{http_code}' -X "$method" -H "$ATR_AUTH" \
      -H 'Content-Type: application/json' ${body:+--data "$body"} "$ATR_BASE$path") || die "curl $method $path failed"
    if [[ " $want " != *" $code "* ]]; then
      { echo "request: $method $ATR_BASE$path"; [[ -n $body ]] && echo "body: $body"
        echo "response: $(cat "$TMP/api.hdr")"; cat "$TMP/api.out"; echo; } >&2
      die "$method $path answered $code, expected $want"
    fi
    cat "$TMP/api.out"
  }
  api_call "200 201" PUT /api/v1/apps/web \
    '{"kind":"web","title":"bench upstream","command":["/workspace/upstream"],"listen":"unix","health_path":"/health","idle_timeout_s":86400,"max_uptime_s":86400}' >/dev/null
  # The upstream binary goes into the project's repository (default branch main) with its x bit:
  # `git push` (the file API makes new files 100644).
  export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
  git init --quiet --initial-branch=main "$TMP/repo"
  cp "$TMP/upstream" "$TMP/repo/upstream"
  git -C "$TMP/repo" add upstream
  git -C "$TMP/repo" -c user.name=bench -c user.email=bench@example.invalid commit --quiet -m "bench upstream"
  git -C "$TMP/repo" push --quiet "http://bench:$ATR_TOKEN@127.0.0.1:$ATR_PORT/bench/bench-envs.git" main ||
    die "git push of the upstream to Atrium failed"
  env_ready() {  # env_ready BODY: creates an env, waits until READY; prints its id
    EB_BASE=$ATR_BASE EB_TOKEN=$ATR_TOKEN EB_PROJECT=$ATR_PROJECT EB_ENVS_LIST=$ENVS_LIST \
      "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import bench_envs as b, json
api = b.Api(b.env("EB_BASE"), b.env("EB_TOKEN"))
e = b.create_env(api, json.loads(sys.argv[2]))
e, _ = b.wait_state(api, e["id"], {"READY"}, b.READY_TIMEOUT_S)
print(e["id"])' "$HERE" "$1"
  }
  ENV_ID=$(env_ready '{"app":"web","cpus":1,"mem_mb":512}') || die "the web env did not get READY"
  ENV_SOCK=$DATA/envs/$ENV_ID/run/app.sock
  ((${#ENV_SOCK} < 108)) || die "the env's socket path is ${#ENV_SOCK} bytes (limit 107): set ATRIUM_BENCH_TMPDIR shorter"
  [[ -S $ENV_SOCK ]] || die "env $ENV_ID is READY but $ENV_SOCK is not a socket ($(ls -la "$(dirname "$ENV_SOCK")" 2>&1))"
  [[ -r $DATA/envs/$ENV_ID/run/token ]] && ENV_TOKEN=$(cat "$DATA/envs/$ENV_ID/run/token")
  expect_200 "atrium → env" "$ATR_PID" "$ATR_BASE/env/$ENV_ID/health" -H "$ATR_AUTH"
  log "env $ENV_ID READY, socket $ENV_SOCK"
fi

# ---- nginx: §4 of reference/jupyter-env, upstream keep-alive ----------------------------------------
NGX_DIR=$TMP/nginx
mkdir -p "$NGX_DIR/temp"
chmod a+rwx "$NGX_DIR/temp"
temps=""
for m in proxy fastcgi scgi uwsgi; do
  "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temps+="    ${m}_temp_path $NGX_DIR/temp/$m;"$'\n'
done
NGX_PORT=$(free_port)
# The Connection map sends "" (not §4's "close") without an Upgrade, or the upstream keep-alive
# would never be used.
cat >"$NGX_DIR/nginx.conf" <<EOF
worker_processes $NGX_WORKERS;
daemon off;
pid $NGX_DIR/nginx.pid;
error_log $NGX_DIR/error.log warn;
$( [[ $(id -u) == 0 ]] && echo "user root;" )
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX_DIR/temp/body;
$temps    keepalive_timeout 65;
    keepalive_requests 100000000;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    upstream env {
        server unix:$ENV_SOCK;
        keepalive 16;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location /env/$ENV_ID/ {
            proxy_pass http://env;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Authorization "token $ENV_TOKEN";
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
            proxy_request_buffering off;
            client_max_body_size 0;
        }
    }
}
EOF
# shellcheck disable=SC2094
"$NGINX" -t -q -p "$NGX_DIR" -e "$NGX_DIR/error.log" -c "$NGX_DIR/nginx.conf" 2>>"$NGX_DIR/error.log" || die "nginx rejected $NGX_DIR/nginx.conf"
# shellcheck disable=SC2094
"$NGINX" -p "$NGX_DIR" -e "$NGX_DIR/error.log" -c "$NGX_DIR/nginx.conf" 2>>"$NGX_DIR/error.log" &
NGX_PID=$!
PIDS+=("$NGX_PID")
expect_200 nginx "$NGX_PID" "http://127.0.0.1:$NGX_PORT/env/$ENV_ID/health"

# ---- configurable-http-proxy: a unix-socket target (http+unix://, supported by CHP 5.x) -------------
CHP_PID=""
CHPT_PID=""
if [[ -z $CHP_NOTE ]]; then
  CHP_PORT=$(free_port)
  CHP_API_PORT=$(free_port)
  CHP_TARGET="http+unix://$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$ENV_SOCK")"
  CONFIGPROXY_AUTH_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
    node "$CHP_BIN" --ip 127.0.0.1 --port "$CHP_PORT" --api-ip 127.0.0.1 --api-port "$CHP_API_PORT" \
    --default-target "$CHP_TARGET" --log-level warn >"$TMP/chp.log" 2>&1 &
  CHP_PID=$!
  PIDS+=("$CHP_PID")
  expect_200 configurable-http-proxy "$CHP_PID" "http://127.0.0.1:$CHP_PORT/env/$ENV_ID/health"
  # and as JupyterHub runs it: to a TCP upstream (the host instance), through its keep-alive agent
  CHPT_PORT=$(free_port)
  CHPT_API_PORT=$(free_port)
  CONFIGPROXY_AUTH_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
    node "$CHP_BIN" --ip 127.0.0.1 --port "$CHPT_PORT" --api-ip 127.0.0.1 --api-port "$CHPT_API_PORT" \
    --default-target "http://127.0.0.1:$UP_PORT" --log-level warn >"$TMP/chp-tcp.log" 2>&1 &
  CHPT_PID=$!
  PIDS+=("$CHPT_PID")
  expect_200 "configurable-http-proxy (TCP)" "$CHPT_PID" "http://127.0.0.1:$CHPT_PORT/env/$ENV_ID/health"
fi

# ---- the measurements -------------------------------------------------------------------------------
TARGETS=$("$PY" - "$UP_PORT" "$NGX_PORT" "${CHP_PORT:-}" "${CHPT_PORT:-}" "${ATR_PORT:-}" "$ENV_ID" "$WITH_ATRIUM" <<'EOF'
import json, sys
up, ngx, chp, chpt, atr, env_id, with_atrium = sys.argv[1:]
path = f"/env/{env_id}/"
t = [{"name": "direct", "url": f"http://127.0.0.1:{up}{path}", "note": "host instance, TCP"},
     {"name": "nginx", "url": f"http://127.0.0.1:{ngx}{path}", "note": "→ unix socket"}]
if chp:
    t.append({"name": "chp", "url": f"http://127.0.0.1:{chp}{path}", "note": "→ unix socket"})
    t.append({"name": "chp-tcp", "url": f"http://127.0.0.1:{chpt}{path}", "note": "→ the host instance, TCP"})
if with_atrium != "0":
    t.append({"name": "atrium", "url": f"http://127.0.0.1:{atr}{path}", "note": "→ unix socket"})
print(json.dumps(t))
EOF
)
PIDS_JSON=$("$PY" -c 'import json, sys; print(json.dumps({k: [int(p) for p in v.split()] for k, v in zip(sys.argv[1::2], sys.argv[2::2]) if v}))' \
  direct "$UP_PID" nginx "$(server_pids "$NGX_PID")" chp "$CHP_PID" chp-tcp "$CHPT_PID" atrium "${ATR_PID:-}")
log "proxy runs: wrk $DURATION × conns ($CONNS) × $RUNS round(s), $ECHOES WebSocket echoes, through: $(echo "$TARGETS" | "$PY" -c 'import json, sys; print(", ".join(t["name"] for t in json.load(sys.stdin)))')"
EB_TARGETS=$TARGETS EB_AUTH=$ATR_AUTH EB_DURATION=$DURATION EB_WARMUP=$WARMUP EB_CONNS=$CONNS EB_RUNS=$RUNS \
  EB_ECHOES=$ECHOES EB_PIDS=$PIDS_JSON "$PY" "$HERE/bench_envs.py" proxy "$TMP/proxy.json" ||
  die "the proxy measurements failed"
read -ra NGX_PIDS <<<"$(server_pids "$NGX_PID")"
MEM_LINE="RSS after the proxy runs: direct upstream $(rss_mib "$UP_PID") MiB, nginx (master + $NGX_WORKERS workers) $(rss_mib "${NGX_PIDS[@]}") MiB"
[[ -n $CHP_PID ]] && MEM_LINE+=", CHP (node) $(rss_mib "$CHP_PID") MiB (the TCP one $(rss_mib "$CHPT_PID") MiB)"
if [[ $WITH_ATRIUM != 0 ]]; then
  kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the proxy runs"
  MEM_LINE+=", Atrium server $(rss_mib "$ATR_PID") MiB (after setup: $ATR_RSS_SETUP MiB)"
  EB_COMMON=(EB_BASE="$ATR_BASE" EB_TOKEN="$ATR_TOKEN" EB_PROJECT="$ATR_PROJECT" EB_DATA="$DATA" EB_ENVS_LIST="$ENVS_LIST"
    EB_ATR_PID="$ATR_PID" EB_BIN="$BIN" EB_TMP="$TMP" EB_BARE_PID="$BARE_PID_FILE")
  if ((LAUNCHES > 0)); then
    log "jupyter launches: $LAUNCHES × (Atrium POST → READY, stop; bare atrium exec → 200)"
    env "${EB_COMMON[@]}" EB_LAUNCHES="$LAUNCHES" "$PY" "$HERE/bench_envs.py" launch "$TMP/launch.json" ||
      die "the launch measurements failed"
  fi
  if ((RSS_ENVS > 0)); then
    log "RSS with $RSS_ENVS idle web envs"
    env "${EB_COMMON[@]}" EB_RSS_ENVS="$RSS_ENVS" EB_KEEP_ENV="$ENV_ID" "$PY" "$HERE/bench_envs.py" rss "$TMP/rss.json" ||
      die "the RSS measurement failed"
  fi
  kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the run"
fi

# ---- report -----------------------------------------------------------------------------------------
TABLE=$("$PY" "$HERE/bench_envs.py" report "$TMP")
LAUNCH_LINE=""
if [[ -s $TMP/launch.json ]]; then
  LAUNCH_LINE=$(cat <<EOF

Launch: jupyter (the built-in app) ×$LAUNCHES, sequential: \`POST /api/v1/projects/{id}/envs {"app":"jupyter"}\` → \`GET /api/v1/envs/{id}\` polled every
10 ms until READY, then stopped (until STOPPED) before the next; bare: the sandbox spec the server wrote for the first of them
(\`<data>/jobs/<job>/run*/spec.json\`, its env directories copied) run by \`atrium exec --spec\` as root, timed from the fork to the
first 200 on \`api/status\` over the socket with the env's token (polled every 10 ms), one after each launch.
EOF
)
fi
if [[ $WITH_ATRIUM != 0 ]]; then
  ATR_LINE="copy of \`$SRC_BIN\` (built $BIN_STAMP) at $(git_rev "$REPO"); $THREADS; access log off; node \`ATRIUM_COMPUTE_CPUS=$COMPUTE_CPUS\` (so that $RSS_ENVS idle 1-CPU envs fit)"
else
  ATR_LINE="not measured (ATRIUM_BENCH_ATRIUM=0): nginx and CHP proxy to the host upstream's unix socket"
fi
SECTION=$(cat <<EOF
## Environments: reverse proxy, WebSocket, launch and memory vs nginx, CHP, JupyterHub — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine; wrk and the servers share the cores)
- Atrium: $ATR_LINE.
- Upstream: \`bench/envs/upstream.c\` (\`cc -O2\`, one thread, epoll; 13-byte 200 answer; WebSocket echo at \`…/ws\`). In a \`web\` env
  (uid without privileges, no network but lo, \`/workspace\` from the project's repository) on its unix socket, which nginx, CHP and
  Atrium all proxy to; "direct" is a second instance on the host, 127.0.0.1 TCP (wrk cannot speak to a unix socket).
- nginx: $({ "$NGINX" -v 2>&1 || true; } | sed 's|^nginx version: ||'), $NGX_WORKERS workers, the location of reference/jupyter-env §4 (buffering off,
  Upgrade/Connection, Host, X-Forwarded-*, injected \`Authorization: token\`), \`upstream { server unix:…; keepalive 16; }\`.
- CHP: $([[ -n $CHP_NOTE ]] && echo "**not measured**: $CHP_NOTE" || echo "configurable-http-proxy $CHP_VER (npm) on node $(node --version), \`--default-target http+unix://<socket>\` (CHP 5.x can target a unix socket; row chp), and a second one with \`--default-target http://127.0.0.1:PORT\` to the host instance as JupyterHub runs it (row chp-tcp), \`--log-level warn\`").
- Load: \`wrk -t1 -c1\` and \`wrk -t2 -c64\`, \`-d$DURATION --latency\`, $RUNS round(s) (medians), warm-up $WARMUP per target and connection count,
  the same \`Authorization: Bearer\` header to every target, GET \`/env/<id>/\`; WebSocket: one connection per target, $ECHOES sequential
  32-byte binary echoes (masked, stdlib client) after 20 unmeasured. Added p50 = target p50 − direct p50.
- $GOAL

$TABLE

$MEM_LINE.$LAUNCH_LINE
EOF
)

publish_section "$SECTION"
