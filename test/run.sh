#!/usr/bin/env bash
# `npm test`: builds, runs the unit tests, then the host tier (as root: network-namespace hosts
# with their own dockerd), one file at a time, then the VM tier (QEMU), then checks nothing was
# left behind.
# Ends with one line "N passed, N failed" summed over every ava run.
set -uo pipefail
cd "$(dirname "$0")/.."

npm run build --silent || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { grep -Ec "$1" "$log" || true; }

run_ava() {
  : >"$log"
  npx ava "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  # ava prints one line per test (✔ passed, ✘ failed) but a summary count only of failures.
  # Known failures (test.failing that still fail) are neither passed nor failed.
  p=$(count '^\s*✔ [^[]')
  f=$(($(count '^\s*✘') + $(count '^\s*[0-9]+ uncaught exceptions?$') + $(count '^\s*[0-9]+ unhandled rejections?$')))
  # ava exited non-zero without counting a failure (a file crashed or timed out): count it.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
}

# tsx runs the tests without type-checking them: a type error in a test, the bench or the demo
# counts as one failure here (the tests still run).
if npx tsc -p test/tsconfig.json; then echo "type check of tests, bench and demo: clean"; else failed=$((failed + 1)); fi

run_ava test/unit

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: host tier (needs root for network namespaces and dockerd)"
else
  # Images are built once per run (and cached across runs), before any test's timeout starts.
  npx tsx test/harness/build-images.ts || failed=$((failed + 1))
  run_ava --serial --concurrency 1 test/host
fi

# VM tier: secure mode's BPF LSM, in QEMU on a Debian kernel that runs it (this one may not).
# Runs as root or not (QEMU with TCG needs no privileges). prepare.ts fetches the kernel (cached) first; exit 3 = this machine cannot run
# the tier (no QEMU, no kernel package): skipped, never counted as passed.
vm_ready=$(npx tsx test/vm/prepare.ts)
case $? in
  0) echo "$vm_ready"; run_ava test/vm ;;
  3) echo "SKIPPED: VM tier ($vm_ready)" ;;
  *) echo "$vm_ready"; failed=$((failed + 1)) ;;
esac

if [ "$(id -u)" -eq 0 ]; then
  run_ava test/final
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
