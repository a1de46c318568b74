#!/bin/sh
# Regenerates the example report in this folder: three runs of stories260K
# (its F32 weights, the same quantized to Q4_1, the F32 weights zero-shot)
# on a 20-doc seeded sample of each default task but KMMLU, the report, and
# the 1280x800 screenshot of its first screen (needs chromium).
# Run from the repository root after `make`; reads $CHAEJEOM_ASSETS
# (default ../shared/assets). An argument names another output folder.
set -eu
ASSETS=${CHAEJEOM_ASSETS:-../shared/assets}
M=$ASSETS/models/stories260K
OUT=${1:-docs/example-report}
TASKS=mmlu,arc_easy,arc_challenge,hellaswag,truthfulqa_mc1,truthfulqa_mc2,winogrande
DB=$(mktemp -d)/ex.db
run() { ./chaejeom run --tasks "$TASKS" --limit 20 --seed 1 --db "$DB" -q "$@" >/dev/null; }
run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --tag weights=f32
run -m tests/golden/quant/stories260K-q4_1.gguf --tag weights=q4_1
run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --shots 0 --tag weights=f32 --tag shots=0
rm -f "$OUT"/*.png "$OUT"/*.svg "$OUT"/index.html "$OUT"/report.md
./chaejeom report 1 2 3 --db "$DB" --out "$OUT"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,800 \
    --screenshot="$OUT/first-screen.png" "file://$(cd "$OUT" && pwd)/index.html" >/dev/null 2>&1
rm -rf "$(dirname "$DB")"
