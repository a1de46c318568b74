#!/bin/sh
# `make test`: the whole suite on the optimized build (`make check`), then
# again on an AddressSanitizer + UBSan build (`make test-asan`, without the
# valgrind and fuzz checks, which make their own builds). Each pass prints
# its PASS/FAIL lines and "N passed, N failed"; the last line is the total.
# A pass whose build fails counts as one failure.
set -u
cd "$(dirname "$0")/.." || exit 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pass=0
fail=0
for target in check test-asan; do
    echo "=== make $target"
    make --no-print-directory "$target" 2>&1 | tee "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL make $target (no summary: the build failed)"
        fail=$((fail + 1))
        continue
    fi
    set -- $line
    pass=$((pass + $1))
    fail=$((fail + $3))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
