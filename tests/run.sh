#!/bin/sh
# Runs every unit-test binary and end-to-end script; prints each PASS/FAIL
# line and ends with "N passed, N failed". A binary that dies without saying
# FAIL (a crash, a sanitizer report) counts as one failure. TEST_SKIP lists
# file names (e.g. "test_valgrind.sh") not to run.
BUILD=${BUILD:-build}
TEST_SKIP=${TEST_SKIP:-}
export CHAEJEOM_BIN=${CHAEJEOM_BIN:-$PWD/$BUILD/chaejeom}
export CHAEJEOM_TASKS=${CHAEJEOM_TASKS:-$PWD/tasks/defs}
pass=0; fail=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$BUILD"/tests/test_* tests/e2e/test_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    case " $TEST_SKIP " in *" ${t##*/} "*) echo "== $t (skipped in this pass)"; continue ;; esac
    echo "== $t"
    if [ "${t%.sh}" != "$t" ]; then sh "$t" >"$log" 2>&1; else "$t" >"$log" 2>&1; fi
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t (exit $rc)"; f=1
    fi
    pass=$((pass + p)); fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
