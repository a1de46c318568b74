#!/bin/sh
# GSM8K end to end: `chaejeom prompt` equals lm-eval's own contexts for
# gsm8k (5-shot, first_n) and gsm8k_cot (Wei et al.'s 8 exemplars written in
# the task) byte for byte (tests/fixtures/lmeval, made by make_contexts.py);
# a run with stories260K stores both filters' rows (exact_match,strict-match
# and exact_match,flexible-extract) per task, each the mean of the per-doc
# scores stored with the generations; the report shows them.
. "$(dirname "$0")/lib.sh"
FIX=tests/fixtures/lmeval
M=$ASSETS/models/stories260K
DB=$TMP/gsm8k.db

if [ ! -f "$ASSETS/datasets/gsm8k/test.jsonl" ]; then
    echo "SKIP gsm8k: $ASSETS/datasets/gsm8k not found"
    exit 0
fi

for t in gsm8k gsm8k_cot; do
    for i in 0 1 2; do
        if "$CJ" prompt --task "$t" --doc "$i" >"$TMP/p" 2>"$TMP/err" && cmp -s "$TMP/p" "$FIX/${t}_$i.txt"
        then pass "gsm8k_prompt_${t}_$i"
        else fail "gsm8k_prompt_${t}_$i" "$(cmp "$TMP/p" "$FIX/${t}_$i.txt" 2>&1 | head -c 200) $(head -c 200 "$TMP/err")"; fi
    done
done

cj_run() {
    "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --tasks gsm8k,gsm8k_cot --limit 4 \
        --max-gen-tokens 16 --seed 3 -t 2 --db "$DB" --no-resume "$@" >"$TMP/run.out" 2>"$TMP/run.err"
}
if cj_run --tag step=1 && cj_run --tag step=2; then pass gsm8k_runs; else fail gsm8k_runs "$(tail -c 400 "$TMP/run.err")"; exit 1; fi

n=$(sqlite3 "$DB" "SELECT count(*) FROM metrics WHERE run_id = 1 AND n = 4 AND value IS NOT NULL AND task IN ('gsm8k', 'gsm8k_cot')
                   AND metric IN ('exact_match,strict-match', 'exact_match,flexible-extract')")
[ "$n" = 4 ] && pass gsm8k_metrics_stored || fail gsm8k_metrics_stored "$n filter rows, wanted 4"

# each row is the mean of the per-doc scores stored with the generations,
# and each generation keeps both filters' answers
for t in gsm8k gsm8k_cot; do
    for f in strict-match flexible-extract; do
        d=$(sqlite3 "$DB" "SELECT abs(m.value - (SELECT avg(json_extract(g.scores, '\$.\"exact_match,$f\"'))
                           FROM generations g WHERE g.run_id = 1 AND g.task = '$t')) < 1e-12
                           FROM metrics m WHERE m.run_id = 1 AND m.task = '$t' AND m.metric = 'exact_match,$f'")
        [ "$d" = 1 ] && pass "gsm8k_row_is_mean_${t}_$f" || fail "gsm8k_row_is_mean_${t}_$f" "got '$d'"
    done
    a=$(sqlite3 "$DB" "SELECT count(*) FROM generations WHERE run_id = 1 AND task = '$t'
                       AND json_extract(scores, '\$.answers.\"strict-match\"') = answer
                       AND json_extract(scores, '\$.answers.\"flexible-extract\"') IS NOT NULL")
    [ "$a" = 4 ] && pass "gsm8k_answers_$t" || fail "gsm8k_answers_$t" "$a generations with both answers, wanted 4"
done

expect gsm8k_compare 0 "$CJ" compare tag:step=1 tag:step=2 --db "$DB"
# generation tasks pair on their per-doc exact_match (the first filter's)
grep -q '^gsm8k  *exact_match  *4 ' "$TMP/out" && grep -q '^gsm8k_cot  *exact_match  *4 ' "$TMP/out" &&
    pass gsm8k_compare_pairs || fail gsm8k_compare_pairs "$(head -c 600 "$TMP/out")"
expect gsm8k_report 0 "$CJ" report 1 2 --db "$DB" --out "$TMP/rep"
if grep -q '^| gsm8k | exact\\_match,strict-match | 4 |' "$TMP/rep/report.md" &&
    grep -q '^| gsm8k\\_cot | exact\\_match,flexible-extract | 4 |' "$TMP/rep/report.md"
then pass gsm8k_report_shows; else fail gsm8k_report_shows "$(grep -m4 gsm8k "$TMP/rep/report.md")"; fi
exit $e2e_fail
