#!/bin/sh
# `make run`: evaluate the default model (stories260K) on a small default task
# mix, write chaejeom.db in the current folder and a report in report/.
# Override with TASKS=..., LIMIT=..., MODEL=..., TOKENIZER=..., DB=...
#
# Assets: $CHAEJEOM_ASSETS, else ../shared/assets, when they hold the default
# model and MMLU; else the sample embedded in assets/ (no network needed),
# which has no KMMLU (its licence forbids modified copies; `chaejeom fetch
# kmmlu` gets the original).
set -e
has_full() { [ -n "$1" ] && [ -f "$1/models/stories260K/stories260K.bin" ] && [ -d "$1/datasets/mmlu" ]; }
DEFAULT_TASKS=mmlu,arc_easy,arc_challenge,hellaswag,truthfulqa_mc1,truthfulqa_mc2,winogrande
if has_full "${CHAEJEOM_ASSETS:-}"; then
    root=$CHAEJEOM_ASSETS
    echo "chaejeom: assets from \$CHAEJEOM_ASSETS ($root)"
    DEFAULT_TASKS=$DEFAULT_TASKS,kmmlu
elif has_full ../shared/assets; then
    root=../shared/assets
    echo "chaejeom: assets from $root"
    DEFAULT_TASKS=$DEFAULT_TASKS,kmmlu
else
    root=assets
    echo "chaejeom: assets from the embedded sample in assets/ (no \$CHAEJEOM_ASSETS, no ../shared/assets);"
    echo "chaejeom: KMMLU is left out (not embedded; 'chaejeom fetch kmmlu' downloads it)"
fi
MODEL=${MODEL:-$root/models/stories260K/stories260K.bin}
TOKENIZER=${TOKENIZER:-$root/models/stories260K/tok512.bin}
TASKS=${TASKS:-$DEFAULT_TASKS}
LIMIT=${LIMIT:-2}
DB=${DB:-chaejeom.db}
echo "chaejeom: model $MODEL"
echo "chaejeom: tasks $TASKS (--limit $LIMIT docs per task, seeded)"
./chaejeom run -m "$MODEL" --tokenizer "$TOKENIZER" --tasks "$TASKS" --limit "$LIMIT" \
    --data-dir "$root/datasets" --db "$DB" --tag source=make-run
id=$(sqlite3 "$DB" "SELECT max(id) FROM runs WHERE status='done'")
./chaejeom report "$id" --db "$DB" --out report
echo "chaejeom: results in $DB (run $id); report in report/report.md and report/index.html"
