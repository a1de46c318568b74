#!/bin/sh
# Generative tasks end to end on stories260K: truthfulqa_gen and
# kmmlu_direct store generations, metrics and latency rows; greedy answers
# repeat across fresh databases, and across bulk and one-at-a-time decoding; sampling repeats with the same seed and
# changes with another; every latency row's units agree (tokens/s x
# seconds = tokens); multiple-choice tasks get calibration metrics; show
# prints the hallucination, calibration and latency sections.
. tests/e2e/lib.sh
M=$ASSETS/models/stories260K
run() {
    db=$1
    shift
    "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$db" -q "$@"
}
q() { sqlite3 -batch -noheader "$1" "$2"; }
# check NAME DB SQL: the query prints 1.
check() {
    got=$(q "$2" "$3" 2>&1)
    if [ "$got" = 1 ]; then pass "$1"; else fail "$1" "query gave '$got'"; fi
}
texts() { q "$1" "SELECT group_concat(text, '|') FROM (SELECT text FROM generations ORDER BY task, doc_id)"; }
UNITS="SELECT count(*) > 0 AND sum(abs(prefill_s + decode_s - wall_s) <= 1e-9 * max(wall_s, 1)
    AND (prefill_tok_s IS NULL OR abs(prefill_tok_s * prefill_s - prefill_tokens) <= 1e-6 * max(prefill_tokens, 1))
    AND (decode_tok_s IS NULL OR abs(decode_tok_s * decode_s - decode_tokens) <= 1e-6 * max(decode_tokens, 1))
    AND (prefill_tok_s IS NOT NULL OR prefill_s <= 0) AND (decode_tok_s IS NOT NULL OR decode_s <= 0)) = count(*)
    FROM latency"
SUMMARY="SELECT count(*) > 1 AND sum((prefill_tok_s IS NULL OR abs(prefill_tok_s * prefill_s - prefill_tokens) <= 1e-6 * max(prefill_tokens, 1))
    AND (decode_tok_s IS NULL OR abs(decode_tok_s * decode_s - decode_tokens) <= 1e-6 * max(decode_tokens, 1))
    AND abs(docs_per_s * wall_s - docs) <= 1e-6 * docs AND p50_s <= p95_s AND p95_s <= p99_s) = count(*)
    AND sum(task = '(all)' AND peak_rss_bytes > 0) = 1 FROM latency_summary"

command -v sqlite3 >/dev/null || { fail gen_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }

# --- truthfulqa_gen: greedy, twice in fresh databases ----------------------------
TQA="--tasks truthfulqa_gen --limit 5 --max-gen-tokens 24"
expect gen_truthfulqa 0 run "$TMP/a.db" $TQA
grep -q '^hallucination and calibration' "$TMP/out" && grep -q '^truthfulqa_gen  *bleu_acc' "$TMP/out" &&
    grep -q '^latency and cost' "$TMP/out" && pass gen_truthfulqa_prints_sections ||
    fail gen_truthfulqa_prints_sections "$(head -c 400 "$TMP/out")"
check gen_truthfulqa_rows "$TMP/a.db" "SELECT (SELECT count(*) FROM generations) = 5
    AND (SELECT count(*) FROM docs) = 5 AND (SELECT count(*) FROM latency) = 5
    AND (SELECT count(*) FROM generations WHERE n_tokens BETWEEN 0 AND 24
         AND finish_reason IN ('stop', 'length', 'eos') AND json_extract(refs, '\$.correct[0]') IS NOT NULL) = 5"
check gen_truthfulqa_metrics "$TMP/a.db" "SELECT count(*) = 14 AND sum(n = 5 OR metric = 'hallucination_rate') = 14
    FROM metrics WHERE task = 'truthfulqa_gen' AND metric IN ('bleu_max', 'bleu_acc', 'bleu_diff', 'rouge1_max',
    'rouge1_acc', 'rouge1_diff', 'rouge2_max', 'rouge2_acc', 'rouge2_diff', 'rougeL_max', 'rougeL_acc',
    'rougeL_diff', 'abstain_rate', 'hallucination_rate')"
check gen_metrics_are_row_means "$TMP/a.db" "SELECT abs(value - (SELECT avg(json_extract(scores, '\$.rougeL_max'))
    FROM generations)) < 1e-9 FROM metrics WHERE task = 'truthfulqa_gen' AND metric = 'rougeL_max'"
check gen_latency_ttft "$TMP/a.db" "SELECT count(*) = 5 AND min(prefill_tokens) > 0 AND min(ttft_s) > 0
    AND min(ttft_s) <= min(wall_s) FROM latency"
expect gen_truthfulqa_again 0 run "$TMP/b.db" $TQA
[ -n "$(texts "$TMP/a.db")" ] && [ "$(texts "$TMP/a.db")" = "$(texts "$TMP/b.db")" ] && pass gen_greedy_deterministic ||
    fail gen_greedy_deterministic "the two runs generated different texts"
expect gen_truthfulqa_cached 0 run "$TMP/a.db" $TQA --no-resume
grep -q 'requests: 5 distinct, 5 from the cache, 0 computed' "$TMP/err" && pass gen_cache_reused ||
    fail gen_cache_reused "$(grep requests "$TMP/err")"

# --- sampling: the seed decides -------------------------------------------------------
S="--tasks truthfulqa_gen --limit 5 --max-gen-tokens 16 --temperature 1"
expect gen_sample_seed1 0 run "$TMP/s1.db" $S --gen-seed 1
expect gen_sample_seed1_again 0 run "$TMP/s1b.db" $S --gen-seed 1
expect gen_sample_seed2 0 run "$TMP/s2.db" $S --gen-seed 2
t1=$(texts "$TMP/s1.db")
[ -n "$t1" ] && [ "$t1" = "$(texts "$TMP/s1b.db")" ] && pass gen_same_seed_same_text ||
    fail gen_same_seed_same_text "seed 1 twice gave different texts"
[ "$t1" != "$(texts "$TMP/s2.db")" ] && pass gen_other_seed_other_text || fail gen_other_seed_other_text "seeds 1 and 2 agree"
[ "$t1" != "$(texts "$TMP/a.db" | cut -d'|' -f1-5)" ] && pass gen_sampling_differs_from_greedy ||
    fail gen_sampling_differs_from_greedy

# --- kmmlu_direct: 45 subjects, exact match of the generated letter ---------------------
expect gen_kmmlu_direct 0 run "$TMP/k.db" --tasks kmmlu_direct --limit 5 --shots 0 --max-gen-tokens 2
check gen_kmmlu_direct_rows "$TMP/k.db" "SELECT (SELECT count(*) FROM generations) = 225
    AND (SELECT count(*) FROM latency) = 225 AND (SELECT count(DISTINCT task) FROM generations) = 45
    AND (SELECT count(*) FROM docs WHERE target IN ('A', 'B', 'C', 'D')) = 225"
check gen_kmmlu_direct_group "$TMP/k.db" "SELECT count(*) = 1 AND sum(n = 225) = 1 AND
    sum(abs(value - (SELECT avg(exact_match) FROM generations)) < 1e-12) = 1
    FROM metrics WHERE task = 'kmmlu_direct' AND kind = 'group' AND metric = 'exact_match'"
check gen_kmmlu_direct_exact_match "$TMP/k.db" "SELECT count(*) = 225 AND sum(exact_match =
    (upper(replace(replace(answer, ' ', ''), '.', '')) = d.target)) = 225
    FROM generations g JOIN docs d USING (run_id, task, doc_id) WHERE answer NOT GLOB '*[^A-Za-z .]*'
    OR exact_match = 0"
check gen_kmmlu_direct_abstention "$TMP/k.db" "SELECT count(*) = 2 FROM metrics WHERE task = 'kmmlu_direct'
    AND metric IN ('abstain_rate', 'hallucination_rate')"

# --- bulk decoding: the same texts one at a time, together and sampled --------------
BOTH="--tasks truthfulqa_gen,kmmlu_direct --limit 3 --shots 0 --max-gen-tokens 24"
expect gen_bulk_together 0 run "$TMP/g64.db" $BOTH --batch 64
expect gen_bulk_one_at_a_time 0 run "$TMP/g1.db" $BOTH --gen-batch 1 --no-prefix-cache
expect gen_bulk_seven 0 run "$TMP/g7.db" $BOTH --batch 64 --gen-batch 7 -t 1
gens() { q "$1" "SELECT group_concat(task || doc_id || '=' || n_tokens || finish_reason || text, '|')
    FROM (SELECT * FROM generations ORDER BY task, doc_id)"; }
[ -n "$(gens "$TMP/g1.db")" ] && [ "$(gens "$TMP/g64.db")" = "$(gens "$TMP/g1.db")" ] &&
    [ "$(gens "$TMP/g7.db")" = "$(gens "$TMP/g1.db")" ] && pass gen_bulk_same_texts ||
    fail gen_bulk_same_texts "$(gens "$TMP/g64.db" | head -c 300) vs $(gens "$TMP/g1.db" | head -c 300)"
check gen_bulk_ttft_per_doc "$TMP/g64.db" "SELECT count(*) = 138 AND sum(ttft_s > 0 AND ttft_s <= wall_s
    AND decode_tokens > 0) = count(*) FROM latency"
SAMPLED="--tasks truthfulqa_gen --limit 6 --max-gen-tokens 16 --temperature 0.9 --gen-seed 5"
expect gen_bulk_sampled_together 0 run "$TMP/gs64.db" $SAMPLED --batch 64
expect gen_bulk_sampled_alone 0 run "$TMP/gs1.db" $SAMPLED --gen-batch 1
[ "$(gens "$TMP/gs64.db")" = "$(gens "$TMP/gs1.db")" ] && pass gen_bulk_sampled_same_texts ||
    fail gen_bulk_sampled_same_texts

# --- multiple choice: calibration next to accuracy -----------------------------------
expect gen_mc_calibration 0 run "$TMP/m.db" --tasks hallucination --limit 5 --max-gen-tokens 8
check calib_metrics "$TMP/m.db" "SELECT count(*) = 3 FROM metrics WHERE task = 'truthfulqa_mc1'
    AND metric IN ('confident_error_rate', 'brier', 'ece') AND value IS NOT NULL"
check calib_bins "$TMP/m.db" "SELECT count(*) = 30 AND sum(CASE WHEN metric LIKE '%\_n' ESCAPE '\\' THEN value END) = 5
    FROM metrics WHERE task = 'truthfulqa_mc1' AND metric LIKE 'ece\_bin\_%' ESCAPE '\\'"
check calib_none_for_mc2 "$TMP/m.db" "SELECT count(*) = 0 FROM metrics WHERE task = 'truthfulqa_mc2' AND metric = 'ece'"
expect show_hallucination 0 "$CJ" show last --db "$TMP/m.db"
grep -q '^truthfulqa_mc1  *acc ' "$TMP/out" && grep -q '^truthfulqa_mc2  *mc2 ' "$TMP/out" &&
    grep -q '^truthfulqa_gen  *rougeL_acc ' "$TMP/out" && grep -q '^truthfulqa_mc1  *ece ' "$TMP/out" &&
    grep -q '^(all) ' "$TMP/out" && grep -q '^peak resident memory' "$TMP/out" && pass show_hallucination_content ||
    fail show_hallucination_content "$(head -c 600 "$TMP/out")"
expect show_json_latency 0 "$CJ" show last --db "$TMP/m.db" --format json
grep -q '"prefill_tok_s"' "$TMP/out" && grep -q '"peak_rss_bytes"' "$TMP/out" && pass show_json_latency_content ||
    fail show_json_latency_content

# --- every latency row in every database has consistent units ---------------------------
for d in a b s1 s2 k m g64 g1; do
    check "latency_units_$d" "$TMP/$d.db" "$UNITS"
    check "latency_summary_units_$d" "$TMP/$d.db" "$SUMMARY"
done
check latency_loglikelihood_is_prefill "$TMP/m.db" "SELECT count(*) > 0 AND sum(decode_tokens = 0 AND decode_s = 0
    AND prefill_s = wall_s AND ttft_s IS NULL) = count(*) FROM latency WHERE task LIKE 'truthfulqa_mc%'"

expect gen_bad_temperature 2 run "$TMP/x.db" --tasks truthfulqa_gen --temperature -1
expect gen_bad_max_tokens 2 run "$TMP/x.db" --tasks truthfulqa_gen --max-gen-tokens 0
exit $e2e_fail
