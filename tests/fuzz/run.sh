#!/usr/bin/env bash
# Runs every libFuzzer harness briefly over a scratch copy of its committed seed corpus.
#   tests/fuzz/run.sh <fuzz-build-dir>      (the clang build from `make fuzz-build`)
# FUZZ_SECONDS (default 20) bounds each harness. Fails when a harness binary is missing or
# a harness finds a crash, leak, timeout or sanitizer report; the input that did it is kept in
# tests/fuzz/findings/ (ignored by git) and the log is printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 <fuzz-build-dir>" >&2
  exit 2
fi
build="$(cd "$1" 2>/dev/null && pwd)" || { echo "fuzz: build directory $1 not found (run make fuzz-build)" >&2; exit 1; }
seconds="${FUZZ_SECONDS:-20}"
harnesses=(fuzz_query fuzz_json_body fuzz_request fuzz_job_spec fuzz_sandbox_spec fuzz_data_path fuzz_upload_offsets
           fuzz_byte_range fuzz_proxy fuzz_sif)

# UBSan only reports by default; make any report fail the run.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
findings="$here/findings"
mkdir -p "$findings"

failed=0
for name in "${harnesses[@]}"; do
  bin="$build/tests/fuzz/$name"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $name: FAILED: binary $bin is missing (run make fuzz-build)"
    failed=1
    continue
  fi
  seeds="$here/corpus/$name"
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "fuzz: $name: FAILED: no seed corpus in $seeds"
    failed=1
    continue
  fi
  corpus="$work/$name"
  cp -r "$seeds" "$corpus"
  args=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$findings/$name-")
  [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
  log="$work/$name.log"
  start=$(date +%s)
  rc=0
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)"
  cov="$( (grep -oE 'cov: [0-9]+' "$log" || true) | tail -1 | cut -d' ' -f2)"
  seeds_n="$(ls -A "$seeds" | wc -l)"
  corpus_n="$(ls -A "$corpus" | wc -l)"
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $name: ok, ${runs:-?} runs in ${secs}s, coverage ${cov:-?}, corpus ${seeds_n} -> ${corpus_n}"
  else
    echo "fuzz: $name: FAILED (exit $rc) after ${runs:-?} runs in ${secs}s; inputs kept under $findings/"
    tail -n 60 "$log"
    failed=1
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED"
  exit 1
fi
echo "fuzz: all ${#harnesses[@]} harnesses passed"
