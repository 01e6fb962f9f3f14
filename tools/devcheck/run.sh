#!/bin/bash
# The sandbox's tests on the lent GPU machine (cgroup v2, NVIDIA GPU). Every step runs on its own
# timeout and the script goes on after a failure. Output: $OUT/log (and stdout).
set +e
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/devcheck-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
TEE=$!
export PYTHONUNBUFFERED=1
step() { echo; echo "=================== $* ($(date +%T))"; }
T0=$(date +%s)

step facts
uname -a
cat /etc/os-release 2>/dev/null | grep -E '^(PRETTY_NAME|VERSION_ID)='
ldd --version | head -1
id; nproc; free -g | head -2
echo "cgroupfs: $(stat -fc %T /sys/fs/cgroup)"
echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "/proc/self/cgroup: $(cat /proc/self/cgroup)"
grep -E ' - cgroup2? ' /proc/self/mountinfo
ls /sys/fs/cgroup | tr '\n' ' '; echo
echo "max_user_namespaces: $(cat /proc/sys/user/max_user_namespaces 2>&1)"
echo "swaps:"; cat /proc/swaps
timeout 30 nvidia-smi -L; echo "nvidia-smi rc=$?"
timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
NVSMI=$(command -v nvidia-smi)
echo "nvidia-smi: $NVSMI -> $(readlink -f "$NVSMI" 2>/dev/null)"
ldconfig -p | grep -E 'nvidia-ml|libcuda\.so'
ls -l /dev/nvidia* /dev/nvidia-caps 2>&1
grep -h nvidia /proc/self/mountinfo | head
for t in python3 ps su passwd setpriv unshare sh; do printf '%-8s %s\n' "$t" "$(command -v $t)"; done
ls -l /usr/bin/python3* /usr/local/bin/python3* 2>&1
python3 -c 'import sys, pytest; print(sys.executable, sys.version.split()[0], sys.prefix, sys.base_prefix, "pytest", pytest.__version__)'
# The sandbox's jobs call python3 through PATH=/usr/local/bin:/usr/bin:/bin inside a root of the
# host's /usr: it must be a python under /usr (not a venv elsewhere).
if [ ! -e /usr/bin/python3 ] && [ ! -e /usr/local/bin/python3 ] && [ -x /usr/bin/python3.12 ]; then
  echo "SETUP: no /usr/bin/python3; linking it to /usr/bin/python3.12 for the in-sandbox jobs"
  ln -s python3.12 /usr/bin/python3
fi

step "atrium exec --probe"
timeout 60 "$D/bin/atrium" exec --probe; echo "probe rc=$?"
timeout 30 "$D/bin/atrium" --version 2>&1 | head -2

step "sandbox_unit_tests"
timeout 120 "$D/bin/sandbox_unit_tests.sh" 2>&1 | grep -v -E '^\[ +(RUN|OK) +\]'
echo "sandbox_unit_tests rc=${PIPESTATUS[0]}"

step "hand-made checks (GPU, torch, cgroup v2 limits)"
timeout 240 python3 "$D/checks.py" "$D/bin/atrium" /tmp/devcheck-jobs "$NVSMI"; echo "checks rc=$?"

step "pytest tests/integration/test_sandbox.py"
TO=""
python3 -c 'import pytest_timeout' 2>/dev/null && TO="--timeout=90"
(cd "$D/tests/integration" && ATRIUM_BIN="$D/bin/atrium" timeout 240 python3 -m pytest -v -rfEs --tb=short \
  -p no:cacheprovider $TO --basetemp=/tmp/devcheck-pytest --junitxml="$OUT/pytest.xml" test_sandbox.py)
echo "pytest rc=$?"

step after
ls -d /sys/fs/cgroup/atrium* /sys/fs/cgroup/atrium*/* 2>&1 | head -20
dmesg 2>/dev/null | grep -E "Killed process|oom-kill:|NVRM|nvidia|seccomp" | tail -12
echo "total $(( $(date +%s) - T0 )) s"
exec 1>&- 2>&-
wait $TEE
