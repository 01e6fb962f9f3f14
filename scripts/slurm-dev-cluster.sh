#!/usr/bin/env bash
# A private SLURM 22.05 development cluster in one directory, without systemd: munged, slurmctld,
# two slurmrestd (JWT on 127.0.0.1, local auth on a unix socket) and TWO slurmd nodes (node1,
# node2), each in its own network namespace with its own address on a private bridge, so "the
# node" is not this machine's loopback (as on a real cluster, jobs reach the server only through
# the bridge address).
#
#   slurm-dev-cluster.sh start DIR          start (or report "already running"); prints on stdout the
#                                           TOML section for Atrium (also DIR/atrium.toml); logs on stderr
#   slurm-dev-cluster.sh stop DIR           stops what it started (recorded PIDs checked against
#                                           /proc/PID/exe), removes its netns/bridge/veths; rc 0 if stopped
#   slurm-dev-cluster.sh status DIR         which daemons run; rc 0 only if all do
#   slurm-dev-cluster.sh kill-ctld DIR [--now]  kill -9 slurmctld, once its state saver wrote every
#                                           change (it batches them for <= 5 s: up to ~6 s); --now: at once,
#                                           losing those changes (jobs just submitted), as a real crash may
#   slurm-dev-cluster.sh stop-ctld DIR      SIGTERM slurmctld (it saves its state and exits)
#   slurm-dev-cluster.sh start-ctld DIR     start it again (saved state); returns when the nodes registered
#   slurm-dev-cluster.sh kill-node DIR N    kill -9 every process of node N (slurmd, its steps and jobs:
#                                           a crashed node)           start-node DIR N: its slurmd again
#   slurm-dev-cluster.sh drain DIR N        scontrol update state=drain   resume DIR N: state=resume
#   slurm-dev-cluster.sh gc                 stops clusters whose DIR is gone (a killed test run's)
#
# Partitions: debug (both nodes, default, no time limit), short (both nodes, MaxTime=5 min,
# MaxCPUsPerNode=1, MaxMemPerNode=2048: something for limit tests).
#
# Needs root, iproute2 and: slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge.
# Files: DIR/env.sh (SLURM_CONF for sbatch/squeue/scontrol), DIR/atrium.toml, DIR/cluster.json
# (addresses, ports, pids, netns names), DIR/log/*, DIR/etc/{slurm.conf,jwt_hs256.key,munge.key}.
#
# Network: a /24 in 10.100.0.0-10.199.255.0 derived from a hash of DIR (the next free one if
# taken); bridge = .1 (the host side, where slurmctld and the Atrium server are reached), node1 =
# .11, node2 = .12. The nodes have no default route. Ports (slurmctld, slurmd, slurmrestd) are free
# ones picked at start, so several clusters (parallel tests, a developer's own) never clash.
# Both nodes claim the same CPUs and 45 % of this machine's memory each: a development cluster.
# slurmctld listens on all of this machine's addresses (SLURM 22.05 has no bind option; munge
# authenticates every RPC); slurmd only in its node's namespace; slurmrestd on 127.0.0.1 and a
# unix socket in /run/slurm-dev-<hash>. A host firewall that drops input on the bridge would cut
# the nodes off. JobRequeue=0: a batch job on a node that dies ends NODE_FAIL instead of being
# requeued (slurmrestd 22.05 ignores "requeue": false, so only the cluster default can say so;
# sbatch --requeue still asks for it). Failure detection is fast for fault tests: SlurmdTimeout=5,
# MessageTimeout=5, KillWait=3 (a killed node is DOWN in ~15 s, its jobs NODE_FAIL then).
#
# Environment: SLURM_DEV_MIN_JOB_AGE (300), SLURM_DEV_SLURMD_TIMEOUT (5), SLURM_DEV_CPUS (slurmd -C),
# SLURM_DEV_REST_USER (nobody).
set -Eeuo pipefail

NODES=(node1 node2)
REST_USER=${SLURM_DEV_REST_USER:-nobody}
MIN_JOB_AGE=${SLURM_DEV_MIN_JOB_AGE:-300}
SLURMD_TIMEOUT=${SLURM_DEV_SLURMD_TIMEOUT:-5}
LOCK=/run/lock/atrium-slurm-dev-cluster.lock

die() { echo "slurm-dev-cluster: error: $*" >&2; exit 1; }
log() { echo "slurm-dev-cluster: $*" >&2; }
usage() { die "usage: $0 start|stop|status|kill-ctld [--now]|stop-ctld|start-ctld DIR | kill-node|start-node|drain|resume DIR NODE | gc"; }

[[ $# -ge 2 || ${1:-} == gc ]] || usage
CMD=$1
NODE=${3:-}

# set_dir DIR: the cluster's directory and the names derived from it. Short names per DIR
# (IFNAMSIZ: 15 bytes): sd<6 hex>b (bridge), sd<6 hex>h1.. (host veths), sd<6 hex>-node1.. (netns).
# The sockets slurmrestd (as $REST_USER) must reach live outside DIR, in SOCK, so that DIR may be
# private (pytest's tmp_path is under a 0700 directory).
set_dir() {
  DIR=$(realpath -m "$1")
  [[ $DIR != *[[:space:]\"\\]* ]] || die "DIR must not contain spaces, quotes or backslashes"
  HASH=$(printf '%s' "$DIR" | sha256sum | cut -c1-6)
  BR=sd${HASH}b
  SOCK=/run/slurm-dev-$HASH
}
[[ $CMD == gc ]] || set_dir "$2"
ns_of() { echo "sd${HASH}-$1"; }
veth_of() { echo "sd${HASH}h${1#node}"; }
node_index() { case $1 in node1) echo 11 ;; node2) echo 12 ;; *) die "unknown node '$1' (node1, node2)" ;; esac; }

# The binary a recorded daemon must be running (Debian's alternatives: /usr/sbin/slurmctld ->
# slurmctld-wlm, so compare resolved paths).
exe_of() {
  case $1 in
    munged) readlink -f "$(command -v munged)" ;;
    slurmctld) readlink -f "$(command -v slurmctld)" ;;
    slurmd-*) readlink -f "$(command -v slurmd)" ;;
    slurmrestd-*) readlink -f "$(command -v slurmrestd)" ;;
  esac
}

# alive NAME: the recorded PID runs the expected binary (a zombie or a reused PID counts as gone).
alive() {
  local f=$DIR/run/$1.pid pid exe
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ $exe == "$(exe_of "$1")" ]]
}

# kill_one NAME [SIGNAL]: TERM or the given signal (then KILL after 5 s), waits until gone.
kill_one() {
  local name=$1 sig=${2:-TERM} pid i
  alive "$name" || { rm -f "$DIR/run/$name.pid"; return 0; }
  pid=$(<"$DIR/run/$name.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$name" || break
    sleep 0.05
  done
  if alive "$name"; then
    log "$name (pid $pid) ignored SIG$sig for 5 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do alive "$name" || break; sleep 0.05; done
  fi
  rm -f "$DIR/run/$name.pid"
}

# kill_netns_procs NODE: every process in the node's netns is this cluster's (slurmd, slurmstepd,
# the jobs): SIGKILL them all (a crashed node).
kill_netns_procs() {
  local ns pid i
  ns=$(ns_of "$1")
  ip netns list 2>/dev/null | grep -qw -- "$ns" || return 0
  for ((i = 0; i < 50; i++)); do
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || return 0
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.05
  done
  log "processes left in netns $ns: $(ip netns pids "$ns" | tr '\n' ' ')"
}

net_down() {
  local n ns
  for n in "${NODES[@]}"; do
    ns=$(ns_of "$n")
    if ip netns list 2>/dev/null | grep -qw -- "$ns"; then ip netns del "$ns" 2>/dev/null || true; fi
    ip link del "$(veth_of "$n")" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
}

do_stop() {
  local n
  [[ -d $DIR/run ]] || { net_down; rm -rf "$SOCK"; return 0; }
  # slurmd first (TERM: it ends its steps), then whatever is left in the nodes' netns.
  for n in "${NODES[@]}"; do kill_one "slurmd-$n"; done
  for n in "${NODES[@]}"; do kill_netns_procs "$n"; done
  for name in slurmrestd-jwt slurmrestd-local slurmctld munged; do kill_one "$name"; done
  net_down
  rm -rf "$SOCK"
  return 0
}

# gc: stops the clusters whose DIR is gone (a test run killed before its cleanup, its temp dir
# removed since): found by their /run/slurm-dev-<hash>/slurm.conf, their daemons by a command line
# naming that DIR or socket dir (and the binary checked), their nodes by netns name.
do_gc() {
  local d dir p pid exe args n
  for d in /run/slurm-dev-*; do
    [[ -f $d/slurm.conf ]] || continue
    dir=$(sed -n 's|^StateSaveLocation=\(.*\)/state$|\1|p' "$d/slurm.conf")
    [[ -n $dir && ! -d $dir/run ]] || continue
    set_dir "$dir"
    [[ $SOCK == "$d" ]] || continue
    log "gc: the cluster of $DIR (gone)"
    for n in "${NODES[@]}"; do kill_netns_procs "$n"; done
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null) || continue
      case $exe in "$(exe_of munged)" | "$(exe_of slurmctld)" | "$(exe_of slurmrestd-jwt)") ;; *) continue ;; esac
      args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
      if [[ $args == *" $DIR/etc/"* || $args == *"=$DIR/etc/"* || $args == *" $SOCK/"* ]]; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
    net_down
    rm -rf "$SOCK"
  done
}

do_status() {
  local rc=0 name
  for name in munged slurmctld "${NODES[@]/#/slurmd-}" slurmrestd-local slurmrestd-jwt; do
    if alive "$name"; then echo "$name: running (pid $(<"$DIR/run/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

# spawn NAME CMD...: starts CMD in its own session in the background, records its PID.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 9>&- &  # (fd 9: the start lock, not theirs)
  echo $! >"$DIR/run/$name.pid"
}

wait_for() {  # wait_for NAME SECONDS CMD...: until CMD succeeds; dies when the daemon NAME exited
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 20; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if [[ -s $DIR/run/$what.pid ]] && ! readlink "/proc/$(<"$DIR/run/$what.pid")/exe" >/dev/null 2>&1; then
      die "$what exited: $(tail -n 3 "$DIR/log/$what.out" 2>/dev/null | tr '\n' ' ')"
    fi
    sleep 0.05
  done
  die "$what did not come up within $secs s (logs: $DIR/log)"
}

# free_port VAR: a TCP port nobody listens on (host namespace), not handed out earlier in this run,
# below the kernel's ephemeral range (where servers on port 0 and outgoing connections live).
TAKEN=" "
free_port() {
  local p used low span
  used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u | tr '\n' ' ')
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  span=$((low - 10000))
  ((span >= 1000)) || { low=65000; span=20000; }  # odd ephemeral range: 45000..64999
  while :; do
    p=$((low - span + (RANDOM * 32768 + RANDOM) % span))
    [[ " $used " == *" $p "* || $TAKEN == *" $p "* ]] && continue
    TAKEN+="$p "
    printf -v "$1" '%s' "$p"
    return
  done
}

# A /24 from the hash of DIR, skipping any that overlaps an existing route (other clusters' included).
pick_subnet() {
  local h a b i
  h=$((16#$HASH))
  for ((i = 0; i < 256; i++)); do
    a=$((100 + (h / 256 + i) % 100))
    b=$(((h + i * 7) % 256))
    if [[ -z $(ip -4 route show to match "10.$a.$b.0/24" | grep -v '^default' || true) ]] &&
      ! ip -4 addr | grep -q " 10\.$a\.$b\."; then
      echo "10.$a.$b"
      return
    fi
  done
  die "no free /24 in 10.100.0.0/14 .. 10.199.255.0"
}

net_up() {  # net_up PREFIX
  local prefix=$1 n ns veth
  ip link show "$BR" >/dev/null 2>&1 && die "bridge $BR exists already (another cluster with a DIR of the same hash? stop it first)"
  ip link add "$BR" type bridge
  ip addr add "$prefix.1/24" dev "$BR"
  ip link set "$BR" up
  for n in "${NODES[@]}"; do
    ns=$(ns_of "$n")
    veth=$(veth_of "$n")
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "${veth}p"
    ip link set "${veth}p" netns "$ns"
    ip link set "$veth" master "$BR" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "${veth}p" name eth0
    ip -n "$ns" addr add "$prefix.$(node_index "$n")/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

write_conf() {  # write_conf PREFIX CTLD_PORT SLURMD_PORT
  local prefix=$1 ctld_port=$2 slurmd_port=$3 c mem cpus geom n
  c=$(slurmd -C | head -n1)
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$c")
  cpus=${SLURM_DEV_CPUS:-$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$c")}
  [[ -n $mem && -n $cpus ]] || die "slurmd -C printed no CPUs/RealMemory: $c"
  mem=$((mem * 45 / 100))  # two nodes on this machine, and never "Low RealMemory"
  geom=""
  if [[ -z ${SLURM_DEV_CPUS:-} ]]; then
    geom=$(grep -o 'SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<<"$c" | sed 's/SocketsPerBoard/Sockets/')
  fi
  cat >"$DIR/etc/slurm.conf" <<EOF
# Written by scripts/slurm-dev-cluster.sh (see shared/reference/slurm.md): a development cluster.
ClusterName=dev
SlurmctldHost=localhost($prefix.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK/munge/munge.socket
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$DIR/etc/jwt_hs256.key
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$SOCK/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pidfile
SlurmdPidFile=$DIR/run/slurmd-%n.pidfile
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MaxJobCount=50000
MinJobAge=$MIN_JOB_AGE
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
JobRequeue=0
SlurmdTimeout=$SLURMD_TIMEOUT
MessageTimeout=5
KillWait=3
MailProg=/bin/true
EOF
  for n in "${NODES[@]}"; do
    echo "NodeName=$n NodeAddr=$prefix.$(node_index "$n") NodeHostname=$n CPUs=$cpus $geom RealMemory=$mem" >>"$DIR/etc/slurm.conf"
  done
  cat >>"$DIR/etc/slurm.conf" <<EOF
PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=$(IFS=,; echo "${NODES[*]}") MaxTime=5 MaxCPUsPerNode=1 MaxMemPerNode=2048 State=UP
EOF
}

# start_node NODE: slurmd in the node's netns, with its own UTS namespace (hostname = NODE).
# nsenter, not `ip netns exec`: that one mounts a fresh /sys without /sys/fs/cgroup, and slurmd
# (and atrium exec's sandbox) need the cgroup mounts.
start_node() {
  local n=$1
  alive "slurmd-$n" && { log "slurmd $n already running"; return 0; }
  # The spool is under the short $SOCK: slurmstepd's socket there (node1_<job>.<step id>) must fit in
  # a unix socket path's 108 bytes, which a deep DIR (pytest's numbered temp dirs) overruns.
  mkdir -p "$SOCK/spool/slurmd-$n"
  # shellcheck disable=SC2016  # $1/$2 are sh's
  spawn "slurmd-$n" nsenter --net="/run/netns/$(ns_of "$n")" unshare --uts \
    sh -c 'hostname "$1" && exec slurmd -D -N "$1" -f "$2"' slurmd "$n" "$DIR/etc/slurm.conf"
}

start_ctld() {
  alive slurmctld && { log "slurmctld already running"; return 0; }
  spawn slurmctld slurmctld -D -i -f "$DIR/etc/slurm.conf"
  wait_for slurmctld 20 scontrol ping
}

nodes_idle() {  # nodes_idle "node1 node2 ": true when exactly these are idle; dies if a slurmd died
  local n
  # (any live binary: right after spawn it may still be nsenter/unshare/sh on the way to slurmd)
  for n in "${NODES[@]}"; do
    readlink "/proc/$(<"$DIR/run/slurmd-$n.pid")/exe" >/dev/null 2>&1 || die "slurmd $n exited (see $DIR/log/slurmd-$n.out)"
  done
  [[ $(sinfo -h -N -p debug -t idle -o %N 2>/dev/null | sort -u | tr '\n' ' ') == "$1" ]]
}

wait_nodes_idle() {
  local want i
  want=$(printf '%s\n' "${NODES[@]}" | sort | tr '\n' ' ')
  for ((i = 0; i < 600; i++)); do
    nodes_idle "$want" && return 0
    sleep 0.05
  done
  die "nodes ${NODES[*]} not idle within 30 s (logs: $DIR/log)"
}

# settle_state: until slurmctld's state saver has written every change (it writes at most every
# 5 s, SAVE_MAX_WAIT, waking each second): no state file changed for 6.2 s. At most 20 s.
settle_state() {
  local i newest now
  for ((i = 0; i < 200; i++)); do
    newest=$(find "$DIR/state" -maxdepth 1 -name '*_state' -printf '%T@\n' | sort -n | tail -n1)
    now=$(date +%s.%N)
    awk -v a="$newest" -v b="$now" 'BEGIN { exit !(b - a >= 6.2) }' && return 0
    sleep 0.1
  done
  log "slurmctld kept saving state for 20 s; killing it anyway"
}

# After a controller restart: until every node whose slurmd runs has registered again (~4 s).
wait_registered() {
  local n i
  for n in "${NODES[@]}"; do
    alive "slurmd-$n" || continue
    for ((i = 0; i < 400; i++)); do
      [[ $(sinfo -h -N -n "$n" -p debug -o %t 2>/dev/null) == unk* ]] || break
      sleep 0.05
    done
  done
}

json_pid() { if alive "$1"; then cat "$DIR/run/$1.pid"; else echo null; fi; }

write_outputs() {  # write_outputs PREFIX CTLD SLURMD REST
  local prefix=$1 ctld=$2 slurmd=$3 rest=$4 n first=1
  cat >"$DIR/atrium.toml" <<EOF
[compute.clusters.dev]
rest_url = "http://127.0.0.1:$rest"
jwt_key_file = "$DIR/etc/jwt_hs256.key"
submit_user = "root"
server_url = "http://$prefix.1:{port}"

[compute.partitions.slurm]
cluster = "dev"
slurm_partition = "debug"

[compute.partitions.slurm-short]
cluster = "dev"
slurm_partition = "short"
EOF
  echo "export SLURM_CONF=$DIR/etc/slurm.conf" >"$DIR/env.sh"
  {
    echo "{"
    echo "  \"dir\": \"$DIR\","
    echo "  \"slurm_conf\": \"$DIR/etc/slurm.conf\","
    echo "  \"bridge\": \"$BR\", \"bridge_addr\": \"$prefix.1\", \"subnet\": \"$prefix.0/24\","
    echo "  \"ports\": {\"slurmctld\": $ctld, \"slurmd\": $slurmd, \"slurmrestd\": $rest},"
    echo "  \"rest_url\": \"http://127.0.0.1:$rest\", \"rest_socket\": \"$SOCK/restd/slurmrestd.sock\","
    echo "  \"jwt_key_file\": \"$DIR/etc/jwt_hs256.key\","
    echo "  \"pids\": {\"munged\": $(json_pid munged), \"slurmctld\": $(json_pid slurmctld),"
    echo "           \"slurmrestd_jwt\": $(json_pid slurmrestd-jwt), \"slurmrestd_local\": $(json_pid slurmrestd-local)},"
    echo "  \"nodes\": {"
    for n in "${NODES[@]}"; do
      [[ $first == 1 ]] || echo ","
      first=0
      printf '    "%s": {"addr": "%s", "netns": "%s", "veth": "%s", "slurmd_pid": %s}' \
        "$n" "$prefix.$(node_index "$n")" "$(ns_of "$n")" "$(veth_of "$n")" "$(json_pid "slurmd-$n")"
    done
    echo
    echo "  }"
    echo "}"
  } >"$DIR/cluster.json"
}

check_tools() {
  local tool
  for tool in munged mungekey slurmctld slurmd slurmrestd sbatch scontrol sinfo ip ss unshare nsenter flock setpriv curl; do
    command -v "$tool" >/dev/null ||
      die "$tool not found (apt-get install slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge iproute2 curl)"
  done
  [[ $(id -u) == 0 ]] || die "needs root (network namespaces, SlurmUser=root, munged with a private key)"
}

do_start() {
  local name up=() down=()
  for name in munged slurmctld "${NODES[@]/#/slurmd-}" slurmrestd-local slurmrestd-jwt; do
    if alive "$name"; then up+=("$name"); else down+=("$name"); fi
  done
  if ((${#up[@]})); then
    ((${#down[@]} == 0)) || die "partly running in $DIR (stopped: ${down[*]}): start-ctld/start-node, or stop it first"
    log "already running in $DIR"
    cat "$DIR/atrium.toml"
    return 0
  fi
  check_tools
  mkdir -p "$DIR"/{etc,state,run,log,jobs} "$SOCK"/{munge,restd,spool}
  chmod 755 "$SOCK" "$SOCK/munge"
  chmod 1777 "$DIR/jobs"
  chown "$REST_USER" "$SOCK/restd"
  [[ -s $DIR/etc/munge.key ]] || mungekey --create --keyfile="$DIR/etc/munge.key" --bits=1024
  chmod 600 "$DIR/etc/munge.key"
  [[ -s $DIR/etc/jwt_hs256.key ]] || (umask 077 && head -c 32 /dev/urandom >"$DIR/etc/jwt_hs256.key")
  chown root:root "$DIR/etc/jwt_hs256.key"
  chmod 600 "$DIR/etc/jwt_hs256.key"

  # One start at a time on this machine: subnets and ports are picked, then taken.
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  flock -w 60 9 || die "another start held $LOCK for 60 s"
  trap 'rc=$?; if [[ $rc != 0 ]]; then log "start failed; stopping what was started (logs: $DIR/log)"; do_stop; fi' EXIT
  net_down  # leftovers of a cluster in DIR that was never stopped
  local prefix ctld slurmd rest
  prefix=$(pick_subnet)
  free_port ctld
  free_port slurmd
  free_port rest
  net_up "$prefix"
  write_conf "$prefix" "$ctld" "$slurmd"
  export SLURM_CONF=$DIR/etc/slurm.conf

  spawn munged munged -F --force --key-file="$DIR/etc/munge.key" --socket="$SOCK/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pidfile" --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munged.seed"
  wait_for munged 10 test -S "$SOCK/munge/munge.socket"
  chmod 777 "$SOCK/munge/munge.socket"
  start_ctld
  # slurmrestd reads its configuration after setuid: a copy it can read (nothing secret in it).
  install -m 644 "$SLURM_CONF" "$SOCK/slurm.conf"
  local plugins=openapi/v0.0.36,openapi/v0.0.37,openapi/v0.0.38
  spawn slurmrestd-local slurmrestd -f "$SOCK/slurm.conf" -a rest_auth/local -u "$REST_USER" -s "$plugins" \
    "unix:$SOCK/restd/slurmrestd.sock"
  spawn slurmrestd-jwt env SLURM_JWT=daemon slurmrestd -f "$SOCK/slurm.conf" -a rest_auth/jwt -u "$REST_USER" \
    -s "$plugins" "127.0.0.1:$rest"
  wait_for slurmrestd-local 10 curl -sf --unix-socket "$SOCK/restd/slurmrestd.sock" http://localhost/slurm/v0.0.38/ping
  # JWT: any HTTP answer (401 without a token) means it listens.
  wait_for slurmrestd-jwt 10 curl -s -o /dev/null "http://127.0.0.1:$rest/slurm/v0.0.38/ping"
  flock -u 9  # the ports are taken now (slurmd's are in the nodes' own namespaces)
  local n
  for n in "${NODES[@]}"; do start_node "$n"; done
  wait_nodes_idle
  trap - EXIT
  printf 'PREFIX=%s CTLD_PORT=%s SLURMD_PORT=%s REST_PORT=%s\n' "$prefix" "$ctld" "$slurmd" "$rest" >"$DIR/run/net.env"
  write_outputs "$prefix" "$ctld" "$slurmd" "$rest"
  log "running in $DIR: bridge $BR $prefix.1, nodes ${NODES[*]} at $prefix.11/12, ctld :$ctld, rest 127.0.0.1:$rest"
  log "clients: . $DIR/env.sh; the Atrium server must listen where nodes reach it (--listen $prefix.1:PORT or 0.0.0.0:PORT)"
  cat "$DIR/atrium.toml"
}

need_running_dir() { [[ -s $DIR/etc/slurm.conf ]] || die "no cluster in $DIR"; export SLURM_CONF=$DIR/etc/slurm.conf; }

# cluster.json again, with the PIDs of now (after start-ctld / start-node).
refresh_outputs() {
  local PREFIX CTLD_PORT SLURMD_PORT REST_PORT
  [[ -s $DIR/run/net.env ]] || return 0
  # shellcheck disable=SC1091
  . "$DIR/run/net.env"
  write_outputs "$PREFIX" "$CTLD_PORT" "$SLURMD_PORT" "$REST_PORT"
}
need_node() { [[ -n $NODE ]] || usage; node_index "$NODE" >/dev/null; }

case $CMD in
  start) do_start ;;
  gc) do_gc ;;
  stop) do_stop ;;
  status) do_status ;;
  kill-ctld) need_running_dir; [[ $NODE == --now ]] || settle_state; kill_one slurmctld KILL ;;
  stop-ctld) need_running_dir; kill_one slurmctld TERM ;;
  start-ctld) need_running_dir; start_ctld; wait_registered; refresh_outputs ;;
  kill-node) need_running_dir; need_node; kill_one "slurmd-$NODE" KILL; kill_netns_procs "$NODE" ;;
  start-node) need_running_dir; need_node; start_node "$NODE"; refresh_outputs ;;
  drain) need_running_dir; need_node; scontrol update nodename="$NODE" state=drain reason="drained by slurm-dev-cluster.sh" ;;
  resume) need_running_dir; need_node; scontrol update nodename="$NODE" state=resume ;;
  *) usage ;;
esac
