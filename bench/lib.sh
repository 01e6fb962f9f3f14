# shellcheck shell=bash disable=SC2034
# Shared shell helpers for the benchmark scripts (sourced, not run): a temp dir that is removed on
# exit, processes that are stopped on exit (also on failure or Ctrl-C), an Atrium server on a free
# loopback port with its own data dir, login + token + org + project through the public API, and
# nginx with a generated config. Written from bench/api/run.sh (which keeps its own copies).
#
# The sourcing script sets BIN (atrium binary) and PASSWORD (bootstrap admin password), then calls
# bench_init PREFIX [BASE]. Afterwards: $TMP (the temp dir), PIDS (started processes), and the functions
# below. Anything it starts itself in the background it adds to PIDS. BENCH_KEEP_TMP=1 keeps the
# temp dir (for debugging).

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# bench_cmdline REGEX SCRIPT [ARGS...]: the command that reproduces this run: the environment
# variables whose names match REGEX (sorted), then SCRIPT and its arguments.
bench_cmdline() {
  local regex=$1 script=$2 cmd="" v
  shift 2
  for v in $(compgen -e | grep -E "$regex" | sort); do
    cmd+="$v=${!v} "
  done
  echo "$cmd$script${*:+ $*}"
}

# publish_section SECTION: prints the results section and appends it to $RESULTS (unless empty).
publish_section() {
  echo
  echo "$1"
  if [[ -n $RESULTS ]]; then
    printf '\n%s\n' "$1" >>"$RESULTS"
    log "appended to $RESULTS"
  fi
}

# need_tools HINT TOOL...: dies naming the first TOOL not on PATH; HINT (may be empty) says how to
# install it.
need_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found${hint:+ ($hint)}"
  done
}

# need_atrium: dies unless $SRC_BIN is an executable.
need_atrium() {
  [[ -x $SRC_BIN ]] || die "atrium binary $SRC_BIN not found (build it, or set ATRIUM_BIN)"
}

# need_web_ui: dies unless $WEB_DIR holds a built UI and web/node_modules has playwright-core.
need_web_ui() {
  [[ -f $WEB_DIR/index.html ]] || die "no built UI in $WEB_DIR (build web_ui, or set ATRIUM_BENCH_WEB_DIR)"
  [[ -d $REPO/web/node_modules/playwright-core ]] || die "web/node_modules has no playwright-core (npm ci in web/)"
}

# copy_atrium: BIN=$TMP/bin/atrium, a private copy of $SRC_BIN that is checked to run (the binary may
# be rebuilt under a run), and BIN_STAMP, when $SRC_BIN was built. After bench_init.
copy_atrium() {
  BIN=$TMP/bin/atrium
  mkdir -p "$TMP/bin"
  cp "$SRC_BIN" "$BIN"
  "$BIN" --version >/dev/null 2>&1 || "$BIN" --help >/dev/null 2>&1 || die "the copy of $SRC_BIN does not run (rebuilt while copying?)"
  BIN_STAMP="$(date -u -r "$SRC_BIN" '+%Y-%m-%d %H:%M UTC')"
}

# bench_init PREFIX [BASE]: creates TMP=BASE/PREFIX.XXXXXX (BASE: /tmp) and installs the exit traps.
bench_init() {
  TMP=$(mktemp -d "${2:-/tmp}/$1.XXXXXX")
  chmod 755 "$TMP"  # nginx workers may run as another user
  PIDS=()
  trap bench_cleanup EXIT
  trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

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

bench_cleanup() {
  local rc=$? i f
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  if [[ $rc -ne 0 ]]; then
    log "failed (exit $rc); server logs:"
    for f in "$TMP"/nginx/error.log "$TMP"/atrium-*/stderr.log; do
      [[ -s $f ]] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  if [[ -n ${BENCH_KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# expect_200 WHAT PID URL [curl args...]: waits until URL answers 200 while PID lives.
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

# clean_env: unset the variables that an atrium server or CLI must not see (the server rejects
# unknown ATRIUM_* variables; the bench knobs and the CLI's variables are unknown to it).
clean_env() {
  local v
  for v in $(compgen -e | grep -E '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_CONFIG$|ATRIUM_LISTEN$|ATRIUM_DATA_DIR$|ATRIUM_SERVER_URL$|ATRIUM_TOKEN$|ATRIUM_CONFIG_DIR$)'); do
    unset "$v"
  done
}

# start_atrium NAME [VAR=VALUE...]: a server on 127.0.0.1:0 with data dir $TMP/atrium-NAME/data and
# the access log off; the extra variables go to its environment. Sets ATR_PID, ATR_PORT, ATR_BASE.
start_atrium() {
  local name=$1 dir=$TMP/atrium-$1 i
  shift
  mkdir -p "$dir/data"
  : >"$dir/stdout.log"
  (
    clean_env
    export ATRIUM_ADMIN_PASSWORD=$PASSWORD ATRIUM_LOG_ACCESS_LOG=
    for i in "$@"; do export "${i?}"; done
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
  ATR_BASE=http://127.0.0.1:$ATR_PORT
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

# setup_atrium NAME ORG_SLUG PROJECT_SLUG: logs in as the bootstrap admin (cookie + X-CSRF-Token),
# creates a token, an org and a project. Sets ATR_TOKEN and ATR_PROJECT (the project id).
setup_atrium() {
  local jar=$TMP/atrium-$1/cookies csrf
  csrf=$(api 200 POST "$ATR_BASE/api/v1/auth/login" "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" -c "$jar" |
    json_get csrf_token)
  ATR_TOKEN=$(api 201 POST "$ATR_BASE/api/v1/tokens" '{"name":"bench"}' -b "$jar" -H "X-CSRF-Token: $csrf" |
    json_get token)
  api 201 POST "$ATR_BASE/api/v1/orgs" "{\"slug\":\"$2\",\"name\":\"Benchmark $2\"}" \
    -H "Authorization: Bearer $ATR_TOKEN" >/dev/null
  ATR_PROJECT=$(api 201 POST "$ATR_BASE/api/v1/orgs/$2/projects" "{\"slug\":\"$3\",\"name\":\"Benchmark $3\"}" \
    -H "Authorization: Bearer $ATR_TOKEN" | json_get id)
}

# start_nginx ROOT [WORKERS]: nginx/1.x on a free loopback port serving the directory ROOT at /
# (sendfile on, keep-alive, access log off), own config in $TMP/nginx. Sets NGX_PID and NGX_BASE.
NGINX=${NGINX:-/usr/sbin/nginx}
start_nginx() {
  local root=$1 workers=${2:-2} dir=$TMP/nginx port m temps=""
  mkdir -p "$dir/temp"
  chmod a+rwx "$dir/temp"
  for m in proxy fastcgi scgi uwsgi; do
    "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temps+="    ${m}_temp_path $dir/temp/$m;"$'\n'
  done
  port=$(free_port)
  cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
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
        location / {
            root $root;
            default_type application/octet-stream;
        }
    }
}
EOF
  "$NGINX" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/error.log" ||
    die "nginx rejected $dir/nginx.conf"
  "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>>"$dir/error.log" &
  NGX_PID=$!
  PIDS+=("$NGX_PID")
  NGX_BASE=http://127.0.0.1:$port
}

# server_pids PID: the PID and its direct children (nginx: master + workers).
server_pids() { echo "$1" $(pgrep -P "$1" || true); }

# machine_facts: "2 × CPU model, 24 GiB, Linux x.y"
machine_facts() {
  echo "$(nproc) × $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
}

# git_rev REPO: short HEAD, "+ uncommitted changes" when the tree differs from it.
git_rev() {
  local rev
  rev=$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$1" diff --quiet HEAD 2>/dev/null || rev+=" + uncommitted changes"
  echo "$rev"
}
