#!/usr/bin/env bash
# OIDC sign-in benchmark: see bench_sso.py. RESULTS=bench/RESULTS.md appends the section.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/bench_sso.py" "$@"
