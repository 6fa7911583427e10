#!/usr/bin/env bash
# The busy-machine check of `make test`: runs the whole suite RUNS times in a row (default 3)
# while stress-ng keeps every core busy with a CPU-bound load, and prints each run's wall time
# and result. No test may depend on how fast the machine is, so every run must pass.
#
#   scripts/test-stress.sh [BUILD_DIR]      (`make test-stress` builds first)
#   RUNS=3 LOAD_WORKERS=$(nproc) JOBS=$(nproc) scripts/test-stress.sh build
#
# Logs: BUILD_DIR/stress/run-N.log. Exit status 1 when any run failed.
set -euo pipefail

BUILD=${1:-build}
RUNS=${RUNS:-3}
LOAD_WORKERS=${LOAD_WORKERS:-$(nproc)}
JOBS=${JOBS:-$(nproc)}

say() { echo "==> test-stress: $*" >&2; }
[[ -f $BUILD/CTestTestfile.cmake ]] || { say "ERROR: $BUILD has no tests; run 'make build-tests' first"; exit 2; }
command -v stress-ng >/dev/null || { say "ERROR: stress-ng not found; run scripts/install-deps.sh --stress"; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { say "ERROR: RUNS must be a positive number, not '$RUNS'"; exit 2; }

LOGDIR=$(realpath "$BUILD")/stress
mkdir -p "$LOGDIR"
say "load: stress-ng --cpu $LOAD_WORKERS (CPU-bound, same priority as the tests) on $(nproc) cores"
stress-ng --cpu "$LOAD_WORKERS" --timeout 0 --quiet &
load_pid=$!
trap 'kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true' EXIT

failed=0
summary=()
for ((i = 1; i <= RUNS; i++)); do
  log=$LOGDIR/run-$i.log
  say "run $i of $RUNS: ctest -j $JOBS (log: $log)"
  t0=$SECONDS
  rc=0
  (cd "$BUILD" && ctest --output-on-failure -j "$JOBS") >"$log" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  result=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$log" | tail -n1 || true)
  if ((rc != 0)); then
    failed=1
    grep -E '^\s+[0-9]+ - .* \((Failed|Timeout|Subprocess|Not Run|Exception)' "$log" >&2 || true
  fi
  summary+=("run $i: $((took / 60)) min $((took % 60)) s, load average $(cut -d' ' -f1-3 /proc/loadavg), ${result:-no ctest summary (exit $rc)}")
  say "${summary[-1]}"
done

echo "stress check: $RUNS runs of the whole suite under stress-ng --cpu $LOAD_WORKERS"
printf '  %s\n' "${summary[@]}"
exit "$failed"
