#!/bin/sh
# mmlu.sh — 5-shot MMLU questions/s: ours with prefix sharing, ours with
# --no-prefix-cache, and llama.cpp (llama-cpp-python), on the same GGUF and
# thread count, in one run.
#
# The sample is `chaejeom run --tasks mmlu --shots 5 --limit L --seed S`'s
# over a seeded choice of K of the 57 subjects (mcq --subjects K). Two
# shapes of it (BENCH_MMLU_SAMPLE):
#   whole   (default) K=8 subjects, L=32 questions each: 256 questions. A
#           run of MMLU asks all 14,042 test questions, about 246 per
#           subject, so each subject's few-shot block is shared by hundreds
#           of questions; 32 per subject still shares it far less than a
#           run does (the block is ~20 of our prefill tokens per question
#           here, ~3 in a whole run).
#   spread  all 57 subjects, L=4 each: 228 questions, each block shared by
#           4 questions only; the slowest case for prefix sharing.
# Ours with sharing runs all of it, as a run would. The two baselines cost the
# same per question however many questions share a subject, so they run on
# a seeded subset of K of those questions (BENCH_MMLU_BASE; "all" for the
# whole sample) to keep the bench short; on that subset the three are
# compared question by question: our two modes must give identical
# decisions and log-probs within 1e-6 (exit 1 otherwise), and llama.cpp's
# agreement with us is printed as a second opinion.
#
# Environment (see bench/lib.sh for the common ones):
#   BENCH_MMLU_SHAPE   default smollm-135m
#   BENCH_MMLU_SAMPLE  whole (default) or spread, as above
#   BENCH_MMLU_TASKS   default mmlu (57 subjects; quick: mmlu_college_*, 6 subjects)
#   BENCH_MMLU_SUBJECTS subjects drawn from them (whole: 8, spread: all)
#   BENCH_MMLU_LIMIT   questions per subject (whole: 32, spread: 4)
#   BENCH_MMLU_BASE    baseline subset size (default 16; quick: 2), or "all"
#   BENCH_MMLU_KV_MB   our run's --kv-budget in MiB (default 160: the longest
#                      5-shot prompts of the sample, about 3,000 tokens, need
#                      about 140 MiB of SmolLM KV whatever the budget); the
#                      memory line compares its peak RSS (whole, and less the
#                      harness's share measured before the model loads) with
#                      the model file's bytes plus this budget
#
# The last line reads
#   questions/s ours=Q1 no-prefix=Q2 llama.cpp=Q3 ratio_vs_llamacpp=R1 ratio_vs_noprefix=R2
# with llama.cpp=absent and ratio_vs_llamacpp=na when the peer is not installed.
set -u -f # -f: task globs such as mmlu_college_* are for mcq, not the shell
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
bench_need_tools

if [ "$BENCH_QUICK" = 1 ]; then
    tasks=${BENCH_MMLU_TASKS:-mmlu_college_*}
    base=${BENCH_MMLU_BASE:-2}
else
    tasks=${BENCH_MMLU_TASKS:-mmlu}
    base=${BENCH_MMLU_BASE:-16}
fi
label=${BENCH_MMLU_SAMPLE:-whole}
[ "$BENCH_QUICK" = 1 ] && label=quick # the quick tasks, 4 questions each
case $label in
whole) subjects=${BENCH_MMLU_SUBJECTS:-8} limit=${BENCH_MMLU_LIMIT:-32} ;;
spread | quick) subjects=${BENCH_MMLU_SUBJECTS:-0} limit=${BENCH_MMLU_LIMIT:-4} ;;
*) bench_die "BENCH_MMLU_SAMPLE is whole or spread, not $label" ;;
esac
kv_mb=${BENCH_MMLU_KV_MB:-160}
[ "$base" = all ] && base=0
shape=${BENCH_MMLU_SHAPE:-smollm-135m}
t=$BENCH_THREADS
model=$(bench_model "$shape" "$BENCH_TYPE") || exit 2
work=$(mktemp -d "${TMPDIR:-/tmp}/chaejeom-mmlu.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

sample="--tasks $tasks --subjects $subjects --shots 5 --limit $limit --seed $BENCH_SEED"
echo "mmlu: $shape $BENCH_TYPE, threads=$t, sample $label: $sample; baselines on $( [ "$base" = 0 ] && echo "all of it" || echo "a subset of $base")"

# shellcheck disable=SC2086 # $sample is a list of options
ours=$("$TOOLS/mcq" $sample -m "$model" -t "$t" --kv-budget "$kv_mb" --out "$work/ours.txt" | tail -n 1)
# shellcheck disable=SC2086
nopre=$("$TOOLS/mcq" $sample --subset "$base" --dump "$work/subset.jsonl" -m "$model" -t "$t" \
    --no-prefix-cache --out "$work/noprefix.txt" | tail -n 1)
case "$ours$nopre" in *mcq:*mcq:*) ;; *) bench_die "mcq failed" ;; esac
echo "ours      $ours"
echo "no-prefix $nopre"

peer_line=""
py=$CHAEJEOM_CACHE/venv/bin/python
if [ -x "$py" ]; then
    peer_line=$("$py" bench/peer/mc.py "$model" "$work/subset.jsonl" "$t" "$work/peer.txt" 2>"$work/peer.err" | tail -n 1)
    case "$peer_line" in
    peer:*) echo "llama.cpp $peer_line" ;;
    "peer absent"*) echo "$peer_line"; peer_line="" ;;
    *) echo "llama.cpp peer failed: $(tail -n 3 "$work/peer.err")"; peer_line="" ;;
    esac
else
    echo "peer absent: no $py (run bench/peer/install.sh)"
fi

# Question by question on the subset: ours (from the full run) vs the others.
# Lines: id pred gold lp_0 .. lp_{n-1}. Prints: n, differing decisions, max |dlogprob|, our acc on it.
compare() {
    awk 'FNR == NR { pred[$1] = $2; n[$1] = NF; for (i = 4; i <= NF; i++) lp[$1, i] = $i; next }
         { if (!($1 in pred)) { missing++; next }
           k++; diff += pred[$1] != $2; ours_ok += pred[$1] == $3
           for (i = 4; i <= NF; i++) { d = lp[$1, i] - $i; if (d < 0) d = -d; if (d > m) m = d } }
         END { printf "%d %d %.3g %.4f %d\n", k, diff, m, k ? ours_ok / k : 0, missing }' "$1" "$2"
}
# shellcheck disable=SC2046 # the fields of compare's output become $1..$5
set -- $(compare "$work/ours.txt" "$work/noprefix.txt")
same=$(awk -v d="$2" -v m="$3" -v miss="$5" 'BEGIN { print (d == 0 && m <= 1e-6 && miss == 0) ? "yes" : "NO" }')
echo "ours vs no-prefix on $1 questions: identical=$same (decisions differing: $2, max |dlogprob| $3)"
echo "accuracy ours=$(bench_field "$ours" acc) (on the subset: $4) no-prefix=$(bench_field "$nopre" acc)" \
    "llama.cpp=$( [ -n "$peer_line" ] && bench_field "$peer_line" acc || echo absent)"
if [ -n "$peer_line" ]; then
    # shellcheck disable=SC2046
    set -- $(compare "$work/ours.txt" "$work/peer.txt")
    echo "ours vs llama.cpp on $1 questions: decisions differing: $2, max |dlogprob| $3 (llama.cpp computes in other precisions)"
fi
echo "prefill tokens per question: ours=$(awk -v a="$(bench_field "$ours" prefill_tokens)" -v n="$(bench_field "$ours" questions)" 'BEGIN { printf "%.0f", a / n }')" \
    "no-prefix=$(awk -v a="$(bench_field "$nopre" prefill_tokens)" -v n="$(bench_field "$nopre" questions)" 'BEGIN { printf "%.0f", a / n }')"

wf=$(awk -v b="$(wc -c <"$model")" 'BEGIN { printf "%.1f", b / 1048576 }')
awk -v r="$(bench_field "$ours" rss_mb)" -v h="$(bench_field "$ours" rss_before_model_mb)" -v w="$wf" -v b="$kv_mb" 'BEGIN {
    printf "memory ours: peak_rss_mb=%.1f harness_mb=%.1f model_file_mb=%.1f kv_budget_mb=%d", r, h, w, b
    printf " rss_over_file_plus_budget=%.3f model_rss_over_file_plus_budget=%.3f\n", r / (w + b), (r - h) / (w + b)
}'

q1=$(bench_field "$ours" qps)
q2=$(bench_field "$nopre" qps)
if [ -n "$peer_line" ]; then
    q3=$(bench_field "$peer_line" qps)
    r1=$(awk -v a="$q1" -v b="$q3" 'BEGIN { printf "%.2f", a / b }')
else
    q3=absent
    r1=na
fi
r2=$(awk -v a="$q1" -v b="$q2" 'BEGIN { printf "%.2f", a / b }')
echo "questions/s ours=$q1 no-prefix=$q2 llama.cpp=$q3 ratio_vs_llamacpp=$r1 ratio_vs_noprefix=$r2"
[ "$same" = yes ]
