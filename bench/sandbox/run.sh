#!/usr/bin/env bash
# Sandbox start-cost benchmark (bench.cpp): plain spawn vs sandbox::run vs `atrium exec`, median of
# N runs each. Builds against the static libraries of an existing build directory; prints a
# markdown table. Not a pass/fail gate.
#
#   BUILD_DIR   build directory with atrium and libatrium_sandbox.a (default <repo>/build)
#   N           runs per case (default 200)
set -Eeuo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build}
N=${N:-200}
ninja -C "$BUILD_DIR" atrium atrium_sandbox >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
g++ -std=c++23 -O2 -I"$REPO/src" "$REPO/bench/sandbox/bench.cpp" \
  "$BUILD_DIR/src/sandbox/libatrium_sandbox.a" "$BUILD_DIR/src/core/libatrium_core.a" \
  $(pkg-config --libs libseccomp) -lfmt -lsodium -ldl -o "$OUT/bench"
echo "Machine: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/bench" "$BUILD_DIR/src/atrium" "$N"
