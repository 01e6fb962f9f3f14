#!/usr/bin/env bash
# LDAP sign-in benchmark: see bench_ldap.py. RESULTS=bench/RESULTS.md appends the section.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/bench_ldap.py" "$@"
