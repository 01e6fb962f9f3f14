#!/usr/bin/env bash
# Mail delivery benchmark: see bench_mail.py. RESULTS=bench/RESULTS.md appends the section.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/bench_mail.py" "$@"
