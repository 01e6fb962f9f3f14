#!/usr/bin/env bash
# A private single-node SLURM 22.05 (Debian 12) in one directory, without systemd:
#   slurm-local.sh start DIR    config + munged + slurmctld + slurmd + 2 × slurmrestd; waits until the node is idle
#   slurm-local.sh stop DIR     stops exactly the processes it recorded in DIR/run/*.pid (TERM, then KILL)
#   slurm-local.sh status DIR   which recorded daemons are alive; rc 0 only if all are
#
# Written from the findings in shared/reference/slurm.md (sections 2 and 3: the configuration and
# command lines that worked on this kind of machine, credited there to the reference
# `slurm-local.sh`, which was not present next to that document when this copy was made). The
# configuration is the reference's tuned one: SchedulerParameters=batch_sched_delay=0,
# DefMemPerCPU=256, CR_Core_Memory, proctrack/linuxproc, task/affinity, jobcomp/filetxt. One
# addition: MaxJobCount (default 10000) is raised so that a submit-rate benchmark's held jobs,
# which stay in slurmctld's memory for MinJobAge after scancel, cannot hit the limit.
#
# Packages (Debian 12): slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge.
# After `start`, clients need `. DIR/env.sh` (SLURM_CONF). REST:
#   unix socket, rest_auth/local (requests run as the slurmrestd user, nobody): DIR/restd/slurmrestd.sock
#   TCP 127.0.0.1:$SLURM_LOCAL_REST_PORT, rest_auth/jwt: X-SLURM-USER-NAME + X-SLURM-USER-TOKEN
#     (TOKEN=$(scontrol token username=USER lifespan=3600)).
# Environment: SLURM_LOCAL_CTLD_PORT (16817), SLURM_LOCAL_SLURMD_PORT (16818), SLURM_LOCAL_REST_PORT
# (16820), SLURM_LOCAL_REST_USER (nobody), SLURM_LOCAL_MAX_JOBS (200000).
# slurmctld and slurmd listen on 0.0.0.0 (22.05 has no bind-address option); slurmrestd on loopback.
set -Eeuo pipefail

CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-16818}
REST_PORT=${SLURM_LOCAL_REST_PORT:-16820}
REST_USER=${SLURM_LOCAL_REST_USER:-nobody}
MAX_JOBS=${SLURM_LOCAL_MAX_JOBS:-200000}
DAEMONS=(munged slurmctld slurmd slurmrestd-local slurmrestd-jwt)

die() { echo "slurm-local: error: $*" >&2; exit 1; }
log() { echo "slurm-local: $*" >&2; }

usage() { die "usage: $0 start|stop|status DIR"; }
[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$(realpath -m "$2")

# The binary a recorded daemon must be running (Debian's alternatives: /usr/sbin/slurmctld ->
# slurmctld-wlm, so compare resolved paths).
exe_of() {
  case $1 in
    munged) readlink -f "$(command -v munged)" ;;
    slurmctld) readlink -f "$(command -v slurmctld)" ;;
    slurmd) readlink -f "$(command -v slurmd)" ;;
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

stop_one() {
  local name=$1 pid i
  alive "$name" || { rm -f "$DIR/run/$name.pid"; return 0; }
  pid=$(<"$DIR/run/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$name" || break
    sleep 0.1
  done
  if alive "$name"; then
    log "$name (pid $pid) ignored SIGTERM for 10 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$DIR/run/$name.pid"
}

do_stop() {
  local i
  [[ -d $DIR/run ]] || return 0
  # slurmd first (it ends its slurmstepds' jobs), then the REST servers, the controller, munge.
  for name in slurmd slurmrestd-jwt slurmrestd-local slurmctld munged; do stop_one "$name"; done
  # Job steps of a killed slurmd may linger: end those whose spool dir is ours.
  for pid in $(pgrep -x slurmstepd || true); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  return 0
}

do_status() {
  local rc=0
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then echo "$name: running (pid $(<"$DIR/run/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

# spawn NAME CMD...: starts CMD in its own session in the background, records its PID.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

wait_for() {  # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what did not come up within $secs s (logs: $DIR/log)"
}

do_start() {
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then
      echo "slurm-local: already running in $DIR"
      return 0
    fi
  done
  for tool in munged mungekey slurmctld slurmd slurmrestd sbatch scontrol sinfo; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge)"
  done
  [[ $(id -u) == 0 ]] || die "needs root (SlurmUser=root, munged with a private key)"
  trap 'log "start failed; stopping what was started"; do_stop' ERR
  mkdir -p "$DIR"/{etc,state,spool,run,log,munge,restd,jobs}
  chmod 755 "$DIR" "$DIR/munge"
  chmod 1777 "$DIR/jobs"
  chown "$REST_USER" "$DIR/restd"

  [[ -s $DIR/etc/munge.key ]] || mungekey --create --keyfile="$DIR/etc/munge.key" --bits=1024
  chmod 600 "$DIR/etc/munge.key"
  [[ -s $DIR/etc/jwt_hs256.key ]] || head -c 32 /dev/urandom >"$DIR/etc/jwt_hs256.key"
  chmod 600 "$DIR/etc/jwt_hs256.key"

  local node mem
  node=$(hostname -s)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
  [[ -n $mem ]] || die "slurmd -C printed no RealMemory"
  mem=$((mem * 95 / 100))  # never drain the node for "Low RealMemory"
  local cpus
  cpus=$(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' | head -n1)
  local geom
  geom=$(slurmd -C | grep -o 'SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' | head -n1 |
    sed 's/SocketsPerBoard/Sockets/')
  cat >"$DIR/etc/slurm.conf" <<EOF
# Written by bench/jobs/slurm-local.sh (see shared/reference/slurm.md).
ClusterName=lab
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$DIR/etc/jwt_hs256.key
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pidfile
SlurmdPidFile=$DIR/run/slurmd.pidfile
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MaxJobCount=$MAX_JOBS
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus $geom RealMemory=$mem
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$DIR/etc/slurm.conf" >"$DIR/env.sh"
  export SLURM_CONF=$DIR/etc/slurm.conf

  spawn munged munged -F --force --key-file="$DIR/etc/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pidfile" --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munged.seed"
  wait_for munged 10 test -S "$DIR/munge/munge.socket"
  chmod 777 "$DIR/munge/munge.socket" 2>/dev/null || true

  spawn slurmctld slurmctld -D -i -f "$SLURM_CONF"
  wait_for slurmctld 20 scontrol ping
  spawn slurmd slurmd -D -f "$SLURM_CONF"
  wait_for "node $node (idle)" 30 bash -c "sinfo -h -n '$node' -o %t | grep -qx idle"

  local plugins=openapi/v0.0.36,openapi/v0.0.37,openapi/v0.0.38
  spawn slurmrestd-local slurmrestd -f "$SLURM_CONF" -a rest_auth/local -u "$REST_USER" -s "$plugins" \
    "unix:$DIR/restd/slurmrestd.sock"
  spawn slurmrestd-jwt env SLURM_JWT=daemon slurmrestd -f "$SLURM_CONF" -a rest_auth/jwt -u "$REST_USER" \
    -s "$plugins" "127.0.0.1:$REST_PORT"
  wait_for slurmrestd-local 10 curl -sf --unix-socket "$DIR/restd/slurmrestd.sock" http://localhost/slurm/v0.0.38/ping
  # JWT: any answer (401 without a token) means it listens.
  wait_for slurmrestd-jwt 10 curl -s -o /dev/null "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping"
  trap - ERR
  # `env` execs slurmrestd: the recorded PID is slurmrestd's.
  log "running in $DIR (node $node: $cpus CPUs, RealMemory=$mem MB; ctld :$CTLD_PORT, slurmd :$SLURMD_PORT, rest jwt 127.0.0.1:$REST_PORT)"
}

case $CMD in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) usage ;;
esac
