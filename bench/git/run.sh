#!/usr/bin/env bash
# Git hosting benchmark: `git clone` over smart HTTP from Atrium (which runs `git http-backend` as a
# CGI inside the server, authenticated with an API token as the Basic password) against the same bare
# repository served by `git http-backend` behind nginx + fcgiwrap (Basic auth in nginx too), side by
# side, in one sitting, on this machine. Prints a markdown table and appends a dated section to
# bench/RESULTS.md. Never a pass/fail gate: it fails only when something is broken (a server does not
# start or dies, a push or clone fails or checks out the wrong commit).
#
# The repository is synthetic and deterministic (bench/git/make_repo.py through `git fast-import`,
# then `git gc`): ~10,000 files in nested directories, a linear history of ~1,000 commits touching
# 1–5 files each, 10 annotated tags. It is built once and cached. It is pushed to Atrium with
# `git push`; the anchor then serves Atrium's own copy of it (the bare repository in Atrium's data
# dir), so both servers read the very same pack files.
#
# Knobs (environment):
#   ATRIUM_BENCH_RUNS (or RUNS)     timed clones per server and variant; medians  (default 5)
#   ATRIUM_BENCH_FILES              files in the first commit                     (default 10000)
#   ATRIUM_BENCH_COMMITS            commits                                       (default 1000)
#   ATRIUM_BENCH_GIT_CACHE          where the generated repository is kept        (default /tmp/atrium-bench-git-cache)
#   ATRIUM_BENCH_VARIANTS           clone variants: full, depth1 (--depth 1), bare (--bare, no checkout)
#                                                                                 (default "full depth1 bare")
#   ATRIUM_BENCH_TMPDIR             where the temp dir (Atrium's data dir, nginx) goes (default /tmp)
#   ATRIUM_BENCH_CLONE_DIR          where the clones go (a temp dir inside it)    (default /dev/shm when it is
#                                   a tmpfs with ≥ 1 GiB free, else the temp dir): on a slow disk the
#                                   client's checkout of 10,000 files would be most of the time
#   ATRIUM_BENCH_RESULTS            file to append the section to                 (default <repo>/bench/RESULTS.md; empty = don't)
#   ATRIUM_BIN                      atrium binary, copied to the temp dir first   (default <repo>/build/src/atrium)
#   NGINX, FCGIWRAP                 the anchor's binaries                         (default /usr/sbin/nginx, /usr/sbin/fcgiwrap)
#   ATRIUM_SERVER_* and other server settings are passed to the server unchanged.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${ATRIUM_BENCH_RUNS:-${RUNS:-5}}
FILES=${ATRIUM_BENCH_FILES:-10000}
COMMITS=${ATRIUM_BENCH_COMMITS:-1000}
CACHE=${ATRIUM_BENCH_GIT_CACHE:-/tmp/atrium-bench-git-cache}
VARIANTS=${ATRIUM_BENCH_VARIANTS:-full depth1 bare}
TMPBASE=${ATRIUM_BENCH_TMPDIR:-/tmp}
CLONE_BASE=${ATRIUM_BENCH_CLONE_DIR:-}
RESULTS=${ATRIUM_BENCH_RESULTS-$REPO/bench/RESULTS.md}
SRC_BIN=${ATRIUM_BIN:-$REPO/build/src/atrium}
FCGIWRAP=${FCGIWRAP:-/usr/sbin/fcgiwrap}
# shellcheck disable=SC2034  # used by lib.sh
PASSWORD='bench-Admin-Pa55word-7f3c'
# shellcheck disable=SC2016  # the backquotes are markdown
GOAL='Goal: Atrium full clone ≤ 1.3× the time of nginx + fcgiwrap + `git http-backend` (same repository, same client)'

# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$REPO/bench/lib.sh"

CMD=$(bench_cmdline '^(ATRIUM_BENCH_|ATRIUM_BIN$|ATRIUM_SERVER_|NGINX$|FCGIWRAP$|RUNS$)' bench/git/run.sh "$@")

need_tools "install: ATRIUM_BENCH=1 ./scripts/install-deps.sh, or apt-get install nginx-light fcgiwrap" git curl python3 "$NGINX" "$FCGIWRAP"
need_atrium
[[ $RUNS =~ ^[1-9][0-9]*$ && $FILES =~ ^[1-9][0-9]*$ && $COMMITS =~ ^[1-9][0-9]*$ ]] ||
  die "ATRIUM_BENCH_RUNS/FILES/COMMITS must be positive integers"
for v in $VARIANTS; do [[ $v == full || $v == depth1 || $v == bare ]] || die "unknown variant '$v' (full, depth1, bare)"; done
HTTP_BACKEND="$(git --exec-path)/git-http-backend"
[[ -x $HTTP_BACKEND ]] || die "$HTTP_BACKEND not found"

# Every git here (the setup's and the clients') reads no system or global config.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0

# ---- the repository (built once, cached) ----------------------------------------------------------
SRC_REPO=$CACHE/repo-f$FILES-c$COMMITS-v1.git
if [[ ! -e $SRC_REPO/bench-complete ]]; then
  log "building the synthetic repository ($FILES files, $COMMITS commits) in $SRC_REPO"
  rm -rf "$SRC_REPO" "$SRC_REPO.tmp"
  mkdir -p "$CACHE"
  git init --quiet --bare --initial-branch=main "$SRC_REPO.tmp"
  t0=$EPOCHREALTIME
  python3 "$REPO/bench/git/make_repo.py" "$FILES" "$COMMITS" | git -C "$SRC_REPO.tmp" fast-import --quiet --done
  git -C "$SRC_REPO.tmp" gc --quiet --prune=now
  touch "$SRC_REPO.tmp/bench-complete"
  mv "$SRC_REPO.tmp" "$SRC_REPO"
  log "built in $(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')") s"
fi
HEAD_ID=$(git -C "$SRC_REPO" rev-parse main)
N_COMMITS=$(git -C "$SRC_REPO" rev-list --count main)
N_FILES=$(git -C "$SRC_REPO" ls-tree -r main | wc -l)
N_TAGS=$(git -C "$SRC_REPO" tag | wc -l)
N_OBJECTS=$(git -C "$SRC_REPO" count-objects -v | awk '/^in-pack:/ {print $2}')
TREE_KB=$(git -C "$SRC_REPO" ls-tree -r -l main | awk '{s += $4} END {printf "%.0f", s / 1024}')

bench_init atrium-bench-git "$TMPBASE"

# CPU of the servers' git processes: Atrium reaps them (their CPU shows in its /proc cutime), fcgiwrap
# does not, so each server runs in a cgroup of its own when one can be made (root; cgroup v1 cpuacct or
# v2), removed at the end. Without one the anchor's git CPU is reported as "?".
CG_BASE=""
CG_USE=yes
for d in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [[ -e $d/cgroup.procs && -w $d ]] || continue
  [[ $d == /sys/fs/cgroup && ! -e $d/cgroup.controllers ]] && continue  # v1 root: no usage file
  if mkdir -p "$d/${TMP##*/}/atrium" "$d/${TMP##*/}/anchor" 2>/dev/null; then CG_BASE=$d/${TMP##*/}; break; fi
done
cg_usage() { [[ -e $CG_BASE/$1/cpuacct.usage ]] && echo "$CG_BASE/$1/cpuacct.usage" || echo "$CG_BASE/$1/cpu.stat"; }
cg_add() {  # cg_add NAME PID...: moves the processes (and so their future children) into the cgroup
  local name=$1 p
  shift
  [[ -n $CG_BASE && $CG_USE == yes ]] || return 0
  for p in "$@"; do
    { echo "$p" >"$CG_BASE/$name/cgroup.procs"; } 2>/dev/null && continue
    log "cannot move pid $p into $CG_BASE/$name: the git processes' CPU is not measured"
    CG_USE=no
    return 0
  done
}
git_bench_cleanup() {  # stops the processes, removes the cgroups, then lib.sh's cleanup (keeps the exit status)
  local rc=$? i d
  set +e  # under errexit, return_rc below would leave before bench_cleanup on a failed run
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  PIDS=()
  [[ -n ${CLONES:-} && $CLONES != "$TMP"/* ]] && rm -rf "$CLONES"
  if [[ -n $CG_BASE ]]; then
    for ((i = 0; i < 50; i++)); do
      for d in "$CG_BASE/atrium" "$CG_BASE/anchor" "$CG_BASE"; do [[ -d $d ]] && rmdir "$d" 2>/dev/null; done
      [[ -d $CG_BASE ]] || break
      sleep 0.1
    done
    [[ -d $CG_BASE ]] && log "could not remove the cgroup $CG_BASE"
  fi
  return_rc() { return "$1"; }
  return_rc "$rc"
  bench_cleanup
}
trap git_bench_cleanup EXIT
copy_atrium

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "repository: $N_FILES files, $N_COMMITS commits, $N_OBJECTS objects; $RUNS run(s); temp dir $TMP (load $LOAD_START)"

# ---- Atrium: server, org, project, token; the push ------------------------------------------------
start_atrium git
cg_add atrium "$ATR_PID"
setup_atrium git bench bench-git
THREADS=$(grep -o '[0-9]* io threads, [0-9]* workers' "$TMP/atrium-git/stderr.log" || echo "default threads")
log "atrium: pid $ATR_PID, $ATR_BASE, project $ATR_PROJECT ($THREADS)"
ATR_URL="http://bench:$ATR_TOKEN@127.0.0.1:$ATR_PORT/bench/bench-git.git"
t0=$EPOCHREALTIME
git -C "$SRC_REPO" push --quiet "$ATR_URL" 'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*' ||
  die "git push to Atrium failed"
PUSH_S=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')")
GIT_ROOT=$TMP/atrium-git/data/git
SERVED=$GIT_ROOT/$ATR_PROJECT.git
[[ -d $SERVED ]] || die "the pushed repository is not at $SERVED"
[[ $(git -C "$SERVED" rev-parse main) == "$HEAD_ID" ]] || die "Atrium's main is not $HEAD_ID after the push"
SERVED_PACKS=$(find "$SERVED/objects/pack" -name '*.pack' | wc -l)
SERVED_PACK_MIB=$(find "$SERVED/objects/pack" -name '*.pack' -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1048576}')
SERVED_LOOSE=$(git -C "$SERVED" count-objects | awk '{print $1}')
SERVED_BITMAP=$(find "$SERVED/objects/pack" -name '*.bitmap' | wc -l)
log "pushed in $PUSH_S s: $SERVED_PACKS pack(s), $SERVED_PACK_MIB MiB, $SERVED_LOOSE loose objects, $SERVED_BITMAP bitmap(s)"
ATR_RSS_IDLE=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$ATR_PID/status")
ATR_HWM_SETUP=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$ATR_PID/status")
# Reset the peak RSS (VmHWM) so that it tells the clones' peak, not the startup's (the bootstrap
# admin's Argon2id hash); needs Linux ≥ 4.0 and permission on the process (our own child: yes).
HWM_RESET=no
{ echo 5 >"/proc/$ATR_PID/clear_refs"; } 2>/dev/null && HWM_RESET=yes

# ---- the anchor: fcgiwrap + nginx (Basic auth) in front of git http-backend ------------------------
mkdir -p "$TMP/nginx/temp"
chmod a+rwx "$TMP/nginx/temp"
"$FCGIWRAP" -c 4 -s "unix:$TMP/fcgiwrap.sock" >"$TMP/nginx/fcgiwrap.log" 2>&1 &
FCGI_PID=$!
PIDS+=("$FCGI_PID")
for ((i = 0; i < 100; i++)); do [[ -S $TMP/fcgiwrap.sock ]] && break; sleep 0.05; done
[[ -S $TMP/fcgiwrap.sock ]] || die "fcgiwrap did not make $TMP/fcgiwrap.sock"
# shellcheck disable=SC2046  # one argument per pid
cg_add anchor $(server_pids "$FCGI_PID")
chmod a+rw "$TMP/fcgiwrap.sock"
NGX_PASS=$ATR_TOKEN  # the same credentials as for Atrium, so the clients' auth dance is the same
printf 'bench:{PLAIN}%s\n' "$NGX_PASS" >"$TMP/nginx/htpasswd"
chmod a+r "$TMP/nginx/htpasswd"
temps=""
for m in proxy fastcgi scgi uwsgi; do
  "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temps+="    ${m}_temp_path $TMP/nginx/temp/$m;"$'\n'
done
NGX_PORT=$(free_port)
# The environment git http-backend gets is Atrium's (Repos::env) minus the push settings.
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
$( [[ $(id -u) == 0 ]] && echo "user root;" )
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/temp/body;
$temps    client_max_body_size 0;
    keepalive_timeout 65;
    server {
        listen 127.0.0.1:$NGX_PORT;
        location ~ ^/git(/.*)$ {
            auth_basic "git";
            auth_basic_user_file $TMP/nginx/htpasswd;
            fastcgi_pass unix:$TMP/fcgiwrap.sock;
            fastcgi_param SCRIPT_FILENAME $HTTP_BACKEND;
            fastcgi_param PATH_INFO \$1;
            fastcgi_param QUERY_STRING \$query_string;
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param CONTENT_TYPE \$content_type;
            fastcgi_param CONTENT_LENGTH \$content_length;
            fastcgi_param REMOTE_USER \$remote_user;
            fastcgi_param REMOTE_ADDR \$remote_addr;
            fastcgi_param SERVER_PROTOCOL \$server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param GIT_PROJECT_ROOT $GIT_ROOT;
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;
            fastcgi_param PATH /usr/local/bin:/usr/bin:/bin;
            fastcgi_param HOME $GIT_ROOT;
            fastcgi_param LC_ALL C;
            fastcgi_param GIT_CONFIG_NOSYSTEM 1;
            fastcgi_param GIT_CONFIG_GLOBAL /dev/null;
            fastcgi_param GIT_CONFIG_COUNT 2;
            fastcgi_param GIT_CONFIG_KEY_0 uploadpack.allowFilter;
            fastcgi_param GIT_CONFIG_VALUE_0 true;
            fastcgi_param GIT_CONFIG_KEY_1 safe.directory;
            fastcgi_param GIT_CONFIG_VALUE_1 *;
        }
    }
}
EOF
# shellcheck disable=SC2094  # -e names the log nginx writes; we only append to it too
"$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" 2>>"$TMP/nginx/error.log" ||
  die "nginx rejected $TMP/nginx/nginx.conf"
# shellcheck disable=SC2094
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" 2>>"$TMP/nginx/error.log" &
NGX_PID=$!
PIDS+=("$NGX_PID")
NGX_URL="http://bench:$NGX_PASS@127.0.0.1:$NGX_PORT/git/$ATR_PROJECT.git"
expect_200 "nginx + fcgiwrap" "$NGX_PID" "http://127.0.0.1:$NGX_PORT/git/$ATR_PROJECT.git/info/refs?service=git-upload-pack" \
  -u "bench:$NGX_PASS"
expect_200 atrium "$ATR_PID" "$ATR_BASE/bench/bench-git.git/info/refs?service=git-upload-pack" -u "bench:$ATR_TOKEN"
# Both must speak protocol v2 to the client (git ≥ 2.26 asks for it): the anchor through nginx's
# HTTP_GIT_PROTOCOL, Atrium through its own GIT_PROTOCOL pass-through.
for u in "http://127.0.0.1:$NGX_PORT/git/$ATR_PROJECT.git" "$ATR_BASE/bench/bench-git.git"; do
  curl -s -u "bench:$ATR_TOKEN" -H 'Git-Protocol: version=2' "$u/info/refs?service=git-upload-pack" | grep -q 'version 2' ||
    die "$u does not answer with protocol v2"
done
log "anchor: nginx pid $NGX_PID, fcgiwrap pid $FCGI_PID, http://127.0.0.1:$NGX_PORT/git/$ATR_PROJECT.git"

# ---- the clones ----------------------------------------------------------------------------------
if [[ -z $CLONE_BASE && $(findmnt -n -o FSTYPE -T /dev/shm 2>/dev/null | head -n 1) == tmpfs && -w /dev/shm &&
      $(df -Pk /dev/shm | awk 'NR == 2 {print $4}') -gt 1048576 ]]; then
  CLONE_BASE=/dev/shm
fi
if [[ -n $CLONE_BASE ]]; then
  CLONES=$(mktemp -d "$CLONE_BASE/atrium-bench-git-clones.XXXXXX")
else
  CLONES=$TMP/clones
  mkdir -p "$CLONES"
fi
fs_of() {  # fs_of PATH: "tmpfs at /dev/shm", "ext4 on /dev/vda at /"
  findmnt -n -o SOURCE,TARGET,FSTYPE -T "$1" | head -n 1 |
    awk '{ if ($1 == $3) print $3 " at " $2; else print $3 " on " $1 " at " $2 }'
}
CLONE_FS=$(fs_of "$CLONES")
log "clones go to $CLONES on $CLONE_FS"
BG_TMP=$CLONES BG_RUNS=$RUNS BG_VARIANTS=$VARIANTS BG_HEAD=$HEAD_ID BG_ATR_URL=$ATR_URL BG_NGX_URL=$NGX_URL BG_ATR_PID=$ATR_PID \
  BG_NGX_PIDS="$(server_pids "$NGX_PID")" BG_FCGI_PIDS="$(server_pids "$FCGI_PID")" \
  BG_CG_ATR=$([[ -n $CG_BASE && $CG_USE == yes ]] && cg_usage atrium) \
  BG_CG_NGX=$([[ -n $CG_BASE && $CG_USE == yes ]] && cg_usage anchor) \
  python3 "$REPO/bench/git/bench_git.py" run "$TMP/runs.jsonl" &
MEASURE_PID=$!
PIDS+=("$MEASURE_PID")
wait "$MEASURE_PID" || die "the measurements failed"
unset 'PIDS[-1]'
kill -0 "$ATR_PID" 2>/dev/null || die "atrium died during the run"
ATR_RSS=$(awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "%.1f MiB (peak during the clones %.1f MiB)", r/1024, h/1024}' "/proc/$ATR_PID/status")
[[ $HWM_RESET == yes ]] || ATR_RSS+=" (peak not reset: includes startup)"

# ---- report ---------------------------------------------------------------------------------------
TABLE=$(python3 "$REPO/bench/git/bench_git.py" report "$TMP/runs.jsonl")
SECTION=$(cat <<EOF
## Git clone vs git http-backend (nginx + fcgiwrap) — $(date -u '+%Y-%m-%d %H:%M UTC')

- Command: \`$CMD\`
- Machine: $(machine_facts); load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared machine)
- Atrium: copy of \`$SRC_BIN\` (built $BIN_STAMP) at $(git_rev "$REPO"); $THREADS; access log off.
  Anchor: $({ "$NGINX" -v 2>&1 || true; } | sed 's|^nginx version: ||') (2 workers, Basic auth, default FastCGI buffering) → fcgiwrap $(dpkg-query -W -f '${Version}' fcgiwrap 2>/dev/null || echo '?') (4 preforked) → \`git http-backend\`;
  $(git --version) on both sides (server and client), same machine, loopback.
- Repository (synthetic, \`bench/git/make_repo.py\` → \`git fast-import\` → \`git gc\`): $N_FILES files at HEAD
  ($((TREE_KB / 1024)) MiB checked out) in 3 levels of directories, $N_COMMITS commits (1–5 files changed each), $N_TAGS annotated tags,
  $N_OBJECTS objects; pushed to Atrium in $PUSH_S s (\`git push\`, receive.fsckObjects on), where it is $SERVED_PACKS pack of
  $SERVED_PACK_MIB MiB ($SERVED_LOOSE loose objects, $SERVED_BITMAP bitmaps). The anchor serves that same bare repository
  (Atrium's data dir), so both read the same pack.
- Clients: \`git clone --quiet URL fresh-dir\` (protocol v2; token as the Basic password for both), $RUNS timed run(s)
  per server and variant after one untimed warm-up each, alternating the servers and which goes first;
  wall time of the whole clone (negotiation, pack transfer, index-pack, checkout of all files but for \`--bare\`),
  into $CLONE_FS; Atrium's data dir on $(fs_of "$TMP"), warm page cache.
- $GOAL

$TABLE

Server CPU: own = the server's processes (Atrium: all threads; anchor: nginx master + workers); git = the
\`git http-backend\` → \`upload-pack\` → \`pack-objects\` processes it ran (Atrium: reaped by the server;
anchor: from the cgroup fcgiwrap runs in$([[ -n $CG_BASE && $CG_USE == yes ]] || echo ': not available in this run, "?"')), CPU seconds per clone
(medians); the anchor's own includes fcgiwrap's relaying. Client: \`git clone\` and its children
(\`index-pack\`, checkout). Other: the rest of the machine during the clone (noise).
Atrium RSS after the run: $ATR_RSS; after setup and push: $ATR_RSS_IDLE MiB (peak $ATR_HWM_SETUP MiB).
EOF
)

publish_section "$SECTION"
