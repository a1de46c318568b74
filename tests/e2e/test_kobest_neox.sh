#!/bin/sh
# KoBEST end to end on a Polyglot-ko-shaped model: tests/fixtures/polyglot-ko-tiny
# (GPT-NeoX, parallel residual, rotary_pct 0.5, F16, random weights, a byte-level
# BPE trained on KoBEST's Korean; made by tests/golden/make_polyglot_tiny.py).
# Its ids equal HF tokenizers' and its log-probs transformers' (float64) within
# 1e-4; `run --tasks kobest` stores every doc, choice and metric, and --batch 1
# and --batch 8 give the same rows bit for bit.
. "$(dirname "$0")/lib.sh"
M=tests/fixtures/polyglot-ko-tiny
LIMIT=8

if [ ! -f "$ASSETS/datasets/kobest/BoolQ/test.tsv" ]; then
    echo "SKIP kobest_neox: $ASSETS/datasets/kobest not found"
    exit 0
fi

# ids and log-probs of the golden texts (python3 only reads JSON here)
for n in 0 1 2; do
    text=$(python3 -c "import json,sys; sys.stdout.write(json.load(open('$M/golden.json'))['texts'][$n]['text'])")
    "$CJ" logprobs -m "$M" --text "$text" --json >"$TMP/lp$n.json" 2>"$TMP/err" || fail "kobest_neox_logprobs_$n" "$(head -c 300 "$TMP/err")"
    if python3 - "$M/golden.json" "$TMP/lp$n.json" "$n" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))["texts"][int(sys.argv[3])]
got = json.load(open(sys.argv[2]))
assert got["ids"] == want["ids"], "ids differ"
d = max(abs(a - b) for a, b in zip(got["logprobs"][1:], want["logprobs"]))
assert len(got["logprobs"]) == len(want["ids"]) and d <= 1e-4, f"max |d logprob| {d}"
print(f"  text {sys.argv[3]}: {len(want['ids'])} tokens for {len(want['text'].encode())} bytes, max |d logprob| {d:.1e}")
PY
    then pass "kobest_neox_ids_and_logprobs_$n"; else fail "kobest_neox_ids_and_logprobs_$n"; fi
done

for b in 1 8; do
    if "$CJ" run -m "$M" --tasks kobest --limit $LIMIT --seed 3 -t 2 --batch $b --db "$TMP/b$b.db" -q \
        >"$TMP/run$b.out" 2>"$TMP/run$b.err"
    then pass "kobest_neox_run_batch$b"; else fail "kobest_neox_run_batch$b" "$(tail -c 400 "$TMP/run$b.err")"; exit 1; fi
done
DB=$TMP/b1.db

arch=$(sqlite3 "$DB" "SELECT model_arch || ' ' || model_dtype FROM runs WHERE id = 1")
[ "$arch" = "gptneox F16" ] && pass kobest_neox_arch || fail kobest_neox_arch "$arch"
docs=$(sqlite3 "$DB" "SELECT group_concat(n, ' ') FROM (SELECT count(*) AS n FROM docs WHERE run_id = 1 GROUP BY task ORDER BY task)")
[ "$docs" = "$LIMIT $LIMIT $LIMIT $LIMIT $LIMIT" ] && pass kobest_neox_docs || fail kobest_neox_docs "docs per task: $docs"
# boolq, copa, sentineg and wic have 2 choices, hellaswag 4
ch=$(sqlite3 "$DB" "SELECT count(*) FROM choices WHERE run_id = 1 AND logprob < 0 AND n_tokens > 0")
[ "$ch" = $((LIMIT * 12)) ] && pass kobest_neox_choices || fail kobest_neox_choices "$ch choice rows, wanted $((LIMIT * 12))"
n=$(sqlite3 "$DB" "SELECT count(*) FROM metrics WHERE run_id = 1 AND metric IN ('acc', 'f1') AND value BETWEEN 0 AND 1")
[ "$n" = 12 ] && pass kobest_neox_metrics || fail kobest_neox_metrics "$n acc/f1 rows, wanted 12 (5 tasks and the group)"

# batch 1 and batch 8: the same docs, choices and metrics, to the last bit
rows() {
    sqlite3 "$1" "SELECT task, doc_id, target, pred FROM docs ORDER BY task, doc_id;
        SELECT task, doc_id, choice_idx, printf('%!.17g', logprob), n_tokens, is_greedy FROM choices ORDER BY 1, 2, 3;
        SELECT task, metric, printf('%!.17g', value), printf('%!.17g', stderr) FROM metrics ORDER BY 1, 2"
}
rows "$TMP/b1.db" >"$TMP/rows1"
rows "$TMP/b8.db" >"$TMP/rows8"
if [ "$(wc -l <"$TMP/rows1")" -gt 100 ] && cmp -s "$TMP/rows1" "$TMP/rows8"
then pass kobest_neox_batch_invariant; else fail kobest_neox_batch_invariant "$(diff "$TMP/rows1" "$TMP/rows8" | head -5)"; fi
exit $e2e_fail
