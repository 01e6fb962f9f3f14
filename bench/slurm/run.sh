#!/usr/bin/env bash
# Atrium's SLURM executor vs SLURM used directly (issue 19): runs bench/slurm/run.py with the system
# python3 (where jupyter_server is installed) as root and appends its section to bench/RESULTS.md
# (ATRIUM_BENCH_RESULTS= : print only). Knobs: see the top of run.py. Takes ~8-10 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RESULTS=${ATRIUM_BENCH_RESULTS-bench/RESULTS.md}
exec /usr/bin/python3 bench/slurm/run.py "$@"
