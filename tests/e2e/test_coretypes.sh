#!/bin/sh
# The same bits whatever OpenBLAS's core type: the determinism, prefix,
# exact-bits, resume, kill-point and concurrent tests again under every
# OPENBLAS_CORETYPE this CPU can execute (Haswell and Zen need AVX2 and FMA,
# SkylakeX AVX-512, Sandybridge AVX). Our products do not call OpenBLAS, so
# none of this may change a bit; before they existed, Haswell and Zen
# changed log-probs with the batch size. Each inner PASS/FAIL line is
# prefixed with the core type. A core type this CPU lacks is a visible SKIP.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }

for ct in Haswell Zen SkylakeX Sandybridge; do
    case $ct in
    Haswell | Zen) has avx2 && has fma ;;
    SkylakeX) has avx512f && has avx512dq && has avx512bw && has avx512vl ;;
    Sandybridge) has avx ;;
    esac || { echo "SKIP coretype_$ct: this CPU cannot run OpenBLAS's $ct kernels"; continue; }
    for t in "$BUILD/tests/test_runner" "$BUILD/tests/test_prefix" "$BUILD/tests/test_exact" \
        tests/e2e/test_resume.sh tests/e2e/test_killpoints.sh tests/e2e/test_concurrent.sh; do
        if [ "${t%.sh}" != "$t" ]; then OPENBLAS_CORETYPE=$ct sh "$t" >"$TMP/log" 2>&1
        else OPENBLAS_CORETYPE=$ct "$t" >"$TMP/log" 2>&1; fi
        rc=$?
        grep -E '^(PASS|FAIL|SKIP) ' "$TMP/log" | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 coretype_${ct}_/"
        grep -q '^FAIL ' "$TMP/log" && { e2e_fail=1; grep -v -E '^(PASS|SKIP) ' "$TMP/log" | head -n 20; }
        if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$TMP/log"; then fail "coretype_${ct}_${t##*/}" "exit $rc"; fi
    done
done
exit $e2e_fail
