#!/usr/bin/env bash
# The suite on a busy machine: two CPU-bound processes hold the cores while `make test`
# runs (RUNS times, default 1) and every solution notebook goes through `memwall-lab check`.
# Prints the machine state under load and the pass counts of each run; exits non-zero if
# any run failed. Usage, from the repository root:  RUNS=3 bash benchmarks/busy_machine.sh
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
BUSY_LIMIT_S=${BUSY_LIMIT_S:-7200}   # the busy loops end by themselves after this
LOG_DIR=${LOG_DIR:-$(mktemp -d -t memwall-busy-XXXX)}
mkdir -p "$LOG_DIR"
PYTHON=${PYTHON:-python3}

busy_pids=()
stop_busy() {
    for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${busy_pids[@]}" 2>/dev/null
}
trap stop_busy EXIT INT TERM

for _ in 1 2; do
    "$PYTHON" -c "import time
end = time.monotonic() + $BUSY_LIMIT_S
while time.monotonic() < end:
    pass" &
    busy_pids+=($!)
done
echo "started two CPU-bound processes (pids ${busy_pids[*]}); logs in $LOG_DIR"

make .venv/.installed-test >/dev/null || exit 1
sleep 2   # let the busy loops show up in the machine state
.venv/bin/python -c "from memwall_lab import machine_state; machine_state.show()"

failed=0
summary=()
for run in $(seq 1 "$RUNS"); do
    log="$LOG_DIR/make-test-$run.log"
    start=$(date +%s)
    make test >"$log" 2>&1
    status=$?
    counts=$(grep -E '^=+ .*(passed|failed).* in [0-9.]+s' "$log" | sed -E 's/^=+ (.*) in .*/\1/' \
             | paste -sd ';' -)
    summary+=("make test run $run: exit $status, $(( $(date +%s) - start )) s: $counts")
    [ "$status" -eq 0 ] || failed=1
done

log="$LOG_DIR/check-solutions.log"
MEMWALL_QUICK=1 .venv/bin/memwall-lab check solutions/*.ipynb >"$log" 2>&1
status=$?
summary+=("memwall-lab check solutions/: exit $status: $(grep -E 'exercises passed' "$log" \
          | sed -E 's/^ +//' | paste -sd ';' -)")
[ "$status" -eq 0 ] || failed=1

stop_busy
trap - EXIT
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
