#!/bin/sh
# A held-out check: a benchmark the project does not know, added from its
# files with task JSON and no C — a semicolon-separated file with bare quotes
# and choices stored as a Python list literal, scored by acc and macro F1; and
# a generative task with inline few-shot examples and two named answer
# filters — run end to end on stories260K into SQLite, compared and
# reported.
. tests/e2e/lib.sh
M=$ASSETS/models/stories260K
command -v sqlite3 >/dev/null || { fail heldout_sqlite3_cli "the sqlite3 command-line tool is needed"; exit 1; }
D=$TMP/data/newbench
mkdir -p "$D" "$TMP/defs"
{
    printf 'id;premise;options;label\n'
    i=0
    while [ $i -lt 12 ]; do
        printf '%d;The "big" dog number %d ran to the park;['"'"'happy'"'"', '"'"'sad'"'"', "it'"'"'s late"];%d\n' \
            $i $i $((i % 3))
        i=$((i + 1))
    done
} >"$D/test.csv"
{
    i=0
    while [ $i -lt 6 ]; do
        printf '{"q": "What is %d plus %d?", "a": "%d"}\n' $i $i $((i + i))
        i=$((i + 1))
    done
} >"$D/arith.jsonl"
cat >"$TMP/defs/newbench_mc.json" <<'EOF'
{
  "name": "newbench_mc",
  "version": "1",
  "dataset": {"format": "csv", "delimiter": ";", "quoting": false, "list_fields": ["options"],
              "splits": {"test": "newbench/test.csv"}},
  "eval_split": "test",
  "output_type": "multiple_choice",
  "doc_to_text": "{{premise}}. The dog was",
  "doc_to_choice": "{{options}}",
  "doc_to_target": "{{label|int}}",
  "metrics": ["acc", "f1"]
}
EOF
cat >"$TMP/defs/newbench_gen.json" <<'EOF'
{
  "name": "newbench_gen",
  "version": "1",
  "dataset": {"format": "jsonl", "splits": {"test": "newbench/arith.jsonl"}},
  "eval_split": "test",
  "output_type": "generate_until",
  "doc_to_text": "Q: {{q}}\nA:",
  "doc_to_target": "{{a}}",
  "fewshot": {"samples": [{"q": "What is 7 plus 7?", "a": "14"}, {"q": "What is 9 plus 9?", "a": "18"}], "k": 2},
  "generation": {"until": ["\n"], "max_tokens": 12, "temperature": 0},
  "filters": [{"name": "first-number", "regex": "(-?[0-9]+)"},
              {"name": "last-number", "regex": "(-?[0-9]+)", "group_select": -1}],
  "metrics": ["exact_match"]
}
EOF
run() {
    "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --tasks-dir "$TMP/defs" \
        --data-dir "$TMP/data" --db "$TMP/h.db" -q "$@"
}
q() { sqlite3 -batch -noheader "$TMP/h.db" "$1"; }
expect heldout_tasks_listed 0 "$CJ" tasks --tasks-dir "$TMP/defs"
grep -q newbench_mc "$TMP/out" && grep -q newbench_gen "$TMP/out" && pass heldout_tasks_listed_names ||
    fail heldout_tasks_listed_names "$(head -c 300 "$TMP/out")"
expect heldout_prompt 0 "$CJ" prompt --task newbench_gen --doc 1 --tasks-dir "$TMP/defs" --data-dir "$TMP/data"
grep -q 'Q: What is 7 plus 7?' "$TMP/out" && grep -q 'Q: What is 1 plus 1?' "$TMP/out" && pass heldout_prompt_shots ||
    fail heldout_prompt_shots "$(head -c 300 "$TMP/out")"
expect heldout_run_a 0 run --tasks newbench_mc,newbench_gen --tag step=1
expect heldout_run_b 0 run --tasks newbench_mc,newbench_gen --tag step=2 --no-resume
[ "$(q "SELECT count(*) FROM choices WHERE run_id = 1 AND task = 'newbench_mc'")" = 36 ] &&
    [ "$(q "SELECT count(*) FROM generations WHERE run_id = 1")" = 6 ] && pass heldout_rows ||
    fail heldout_rows "$(q "SELECT task, count(*) FROM docs GROUP BY task")"
[ "$(q "SELECT count(*) FROM metrics WHERE run_id = 1 AND task = 'newbench_mc' AND metric IN ('acc', 'f1')
        AND stderr IS NOT NULL")" = 2 ] && pass heldout_mc_metrics || fail heldout_mc_metrics
[ "$(q "SELECT count(*) FROM metrics WHERE run_id = 1 AND task = 'newbench_gen'
        AND metric IN ('exact_match,first-number', 'exact_match,last-number')")" = 2 ] && pass heldout_gen_filters ||
    fail heldout_gen_filters "$(q "SELECT metric FROM metrics WHERE run_id = 1 AND task = 'newbench_gen'")"
expect heldout_compare 0 "$CJ" compare tag:step=1 tag:step=2 --db "$TMP/h.db"
grep -q '^newbench_mc  *acc  *12 ' "$TMP/out" && grep -q '^newbench_gen  *exact_match  *6 ' "$TMP/out" &&
    pass heldout_compare_pairs || fail heldout_compare_pairs "$(head -c 600 "$TMP/out")"
if command -v gnuplot >/dev/null; then
    expect heldout_report 0 "$CJ" report 1 2 --db "$TMP/h.db" --out "$TMP/rep"
    # Markdown escapes the underscores
    grep -qF 'newbench\_mc' "$TMP/rep/report.md" && grep -qF 'exact\_match,last-number' "$TMP/rep/report.md" &&
        pass heldout_report_content || fail heldout_report_content
else
    echo "SKIP heldout_report: gnuplot is absent"
fi
exit $e2e_fail
