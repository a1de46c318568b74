#!/bin/sh
# KoBEST end to end: `chaejeom prompt` equals lm-eval's own contexts
# (tests/fixtures/lmeval, made by make_contexts.py) byte for byte; a run of
# the group with stories260K lands acc and macro f1 in SQLite for each task
# and the group; f1 recomputed from the stored gold and predicted indices
# equals the stored value; `compare` pairs two runs; the report shows them.
. "$(dirname "$0")/lib.sh"
FIX=tests/fixtures/lmeval
M=$ASSETS/models/stories260K
DB=$TMP/kobest.db
TASKS="boolq copa hellaswag sentineg wic"

if [ ! -f "$ASSETS/datasets/kobest/BoolQ/test.tsv" ]; then
    echo "SKIP kobest: $ASSETS/datasets/kobest not found"
    exit 0
fi

for t in $TASKS; do
    for i in 0 1 2; do
        if "$CJ" prompt --task "kobest_$t" --doc "$i" >"$TMP/p" 2>"$TMP/err" && cmp -s "$TMP/p" "$FIX/kobest_${t}_$i.txt"
        then pass "kobest_prompt_${t}_$i"
        else fail "kobest_prompt_${t}_$i" "$(cmp "$TMP/p" "$FIX/kobest_${t}_$i.txt" 2>&1 | head -c 200) $(head -c 200 "$TMP/err")"; fi
    done
done

cj_run() {
    "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --tasks kobest --limit 12 --seed 3 -t 2 \
        --db "$DB" --no-resume "$@" >"$TMP/run.out" 2>"$TMP/run.err"
}
if cj_run --tag step=1 && cj_run --tag step=2; then pass kobest_runs; else fail kobest_runs "$(tail -c 400 "$TMP/run.err")"; exit 1; fi

n=$(sqlite3 "$DB" "SELECT count(*) FROM metrics WHERE run_id = 1 AND metric IN ('acc', 'f1') AND value IS NOT NULL
                   AND task IN ('kobest', 'kobest_boolq', 'kobest_copa', 'kobest_hellaswag', 'kobest_sentineg', 'kobest_wic')")
[ "$n" = 12 ] && pass kobest_metrics_stored || fail kobest_metrics_stored "$n acc/f1 rows, wanted 12"
se=$(sqlite3 "$DB" "SELECT count(*) FROM metrics WHERE run_id = 1 AND metric = 'f1' AND stderr > 0")
[ "$se" = 6 ] && pass kobest_f1_stderr || fail kobest_f1_stderr "$se f1 rows with a bootstrap stderr, wanted 6"

# macro F1 from the stored rows: per label seen as gold or predicted,
# 2 tp / (2 tp + fp + fn), averaged
for t in $TASKS; do
    want=$(sqlite3 "$DB" "SELECT value FROM metrics WHERE run_id = 1 AND task = 'kobest_$t' AND metric = 'f1'")
    got=$(sqlite3 -separator ' ' "$DB" "SELECT target, pred FROM docs WHERE run_id = 1 AND task = 'kobest_$t'" | awk '
        { seen[$1] = seen[$2] = 1; if ($1 == $2) tp[$1]++; else { fp[$2]++; fn[$1]++ } }
        END { for (l in seen) { d = 2 * tp[l] + fp[l] + fn[l]; s += d ? 2 * tp[l] / d : 0; k++ }; printf "%.12f", s / k }')
    if awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }'
    then pass "kobest_f1_from_rows_$t"; else fail "kobest_f1_from_rows_$t" "stored $want, from rows $got"; fi
done

expect kobest_compare 0 "$CJ" compare tag:step=1 tag:step=2 --db "$DB"
if grep -q '^kobest_boolq  *acc ' "$TMP/out" && grep -q '^kobest_wic  *acc ' "$TMP/out" &&
    grep -q '^\[kobest\]  *acc ' "$TMP/out"
then pass kobest_compare_pairs; else fail kobest_compare_pairs "$(head -c 600 "$TMP/out")"; fi

expect kobest_report 0 "$CJ" report 1 2 --db "$DB" --out "$TMP/rep"
if grep -q '^| kobest | f1 |' "$TMP/rep/report.md" && grep -q 'kobest\\_copa' "$TMP/rep/report.md"
then pass kobest_report_shows; else fail kobest_report_shows "$(grep -m3 kobest "$TMP/rep/report.md")"; fi
exit $e2e_fail
