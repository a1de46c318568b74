#!/bin/sh
# run.sh — `make bench`: the machine and commit, a check that the generated
# benchmark models load and score, then bench/prefill.sh, bench/mmlu.sh on
# its two samples (whole subjects first, then spread; quick: one) and on the
# GPT-NeoX (Polyglot-ko-1.3B) shape, and bench/gen.sh.
# BENCH_QUICK=1 for a short run; see bench/lib.sh for the environment.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
bench_need_tools

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores;" \
    "threads=$BENCH_THREADS type=$BENCH_TYPE quick=$BENCH_QUICK"
echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"

# The generated models: a two-layer SmolLM-shaped model in every type loads
# and gives plausible log-probs; the F32 and F16 GGUFs score as the HF
# folders of the same weights do.
check=$(mktemp -d "${TMPDIR:-/tmp}/chaejeom-check.XXXXXX") || exit 2
trap 'rm -rf "$check"' EXIT INT TERM
status=0
for type in f32 f16 q8_0; do
    hf=""
    [ "$type" != q8_0 ] && hf="--hf $check/$type-hf"
    # shellcheck disable=SC2086 # $hf is an option and its value, or nothing
    "$TOOLS/mkmodel" --shape smollm-135m --layers 2 --type "$type" --seed "$BENCH_SEED" --vocab "$VOCAB" \
        -o "$check/$type.gguf" $hf || { status=1; continue; }
    if [ -n "$hf" ]; then
        "$TOOLS/prefill" --check -m "$check/$type.gguf" --compare "$check/$type-hf" \
            --tokenizer "$check/$type-hf/tokenizer.bin" -t "$BENCH_THREADS" || status=1
    else
        "$TOOLS/prefill" --check -m "$check/$type.gguf" -t "$BENCH_THREADS" || status=1
    fi
done
# and a two-layer GPT-NeoX of the Polyglot-ko shape, on its cut GPT-2 vocabulary
"$TOOLS/mkmodel" --shape polyglot-ko-1.3b --layers 2 --type f16 --seed "$BENCH_SEED" --vocab "$VOCAB_BPE" \
    -o "$check/neox.gguf" && "$TOOLS/prefill" --check -m "$check/neox.gguf" -t "$BENCH_THREADS" || status=1
rm -rf "$check"
[ $status = 0 ] || { echo "bench: the model check failed" >&2; exit 1; }

echo
sh bench/prefill.sh || status=1
echo
BENCH_MMLU_SAMPLE=whole sh bench/mmlu.sh || status=1
if [ "$BENCH_QUICK" != 1 ]; then
    echo
    BENCH_MMLU_SAMPLE=spread sh bench/mmlu.sh || status=1
fi
# GPT-NeoX at Polyglot-ko-1.3B's shape: the 6 mmlu_college_* subjects, 4
# questions each (quick: 1), baselines on 4 of them (quick: 1); its KV is
# 0.375 MiB a token, so the longest 5-shot prompts need about 1.1 GiB.
echo
if [ "$BENCH_QUICK" = 1 ]; then neox_limit=1 neox_base=1; else neox_limit=4 neox_base=4; fi
BENCH_QUICK=0 BENCH_MMLU_SHAPE=polyglot-ko-1.3b BENCH_MMLU_SAMPLE=spread BENCH_MMLU_TASKS="mmlu_college_*" \
    BENCH_MMLU_LIMIT=${BENCH_MMLU_NEOX_LIMIT:-$neox_limit} BENCH_MMLU_BASE=${BENCH_MMLU_NEOX_BASE:-$neox_base} \
    BENCH_MMLU_KV_MB=${BENCH_MMLU_NEOX_KV_MB:-1200} sh bench/mmlu.sh || status=1
echo
sh bench/gen.sh || status=1
exit $status
