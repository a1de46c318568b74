#!/bin/sh
# gen.sh — GSM8K-shaped generation: questions/s and generated tokens/s for
# ours (every question of a call decoded together, the 8-shot block
# computed once), ours one question at a time (--gen-batch 1
# --no-prefix-cache: each prompt in full, one sequence per step, as
# generation ran before bulk decoding), and llama.cpp (llama-cpp-python, one
# sequence, with its prompt cache reusing the shared block), on the same
# GGUF, thread count and prompts, in one run.
#
# Prompts: the first 8 GSM8K train questions with their worked answers
# ("Question: ..\nAnswer: ..", about 900 tokens), then a test question;
# greedy, up to BENCH_GEN_MAX_NEW tokens, stop at "Question:" (bench/gen.c).
# The benchmark models have random weights, so every answer runs to the
# limit (or to an end-of-generation token): the cost per question is that
# of the limit.
#
# Ours runs BENCH_GEN_QUESTIONS questions; the two baselines cost the same
# per question however many there are, so they run on the first
# BENCH_GEN_BASE of them. On those, ours and ours one-at-a-time must give
# the same texts byte for byte (exit 1 otherwise); llama.cpp's agreement is
# printed as a second opinion. A last measure, single-sequence decoding:
# ours with --gen-batch 1 and the prefix kept between questions (what
# llama.cpp's prompt cache does) in generated tokens/s against llama.cpp's,
# and decoding alone: `chaejeom bench`'s tg (TOKENS one at a time from a
# one-token context) against bench/peer/tg.py's, printed as
#   decode-only tgN tokens/s ours=A llama.cpp=B ratio=R
# and the arithmetic ceiling: the bulk run's estimated GFLOP (bench/gen.c's
# gen-work) and GFLOP/s against the fastest weight product measured now (ours
# or cblas_sgemm, one layer at 512 rows), and what 8x llama.cpp's
# questions/s would need:
#   ceiling gflop=W ours_gflops=G peak_product_gflops=P ours_share_of_peak=S
#           gflops_for_8x_llamacpp=N share_of_peak_for_8x=F
#
# Environment (see bench/lib.sh for the common ones):
#   BENCH_GEN_SHAPES     default "smollm-135m tinyllama-1.1b" (quick: smollm-135m)
#   BENCH_GEN_QUESTIONS  default 64 (quick: 16)
#   BENCH_GEN_MAX_NEW    default 128 (quick: 32)
#   BENCH_GEN_BASE       default 4 (quick: 2)
#
# The last line (of the last shape) reads
#   questions/s ours=Q1 one_at_a_time=Q2 llama.cpp=Q3 ratio_vs_llamacpp=R1 ratio_vs_one_at_a_time=R2
# with llama.cpp=absent and ratio_vs_llamacpp=na when the peer is not installed.
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
bench_need_tools
[ -x "$TOOLS/gen" ] || bench_die "$TOOLS/gen is missing (make BUILD=$BUILD bench-tools)"

if [ "$BENCH_QUICK" = 1 ]; then
    shapes=${BENCH_GEN_SHAPES:-smollm-135m} nq=${BENCH_GEN_QUESTIONS:-16}
    max_new=${BENCH_GEN_MAX_NEW:-32} base=${BENCH_GEN_BASE:-2} tg_n=16
else
    shapes=${BENCH_GEN_SHAPES:-smollm-135m tinyllama-1.1b} nq=${BENCH_GEN_QUESTIONS:-64}
    max_new=${BENCH_GEN_MAX_NEW:-128} base=${BENCH_GEN_BASE:-4} tg_n=64
fi
t=$BENCH_THREADS
data=$ASSETS/datasets
[ -f "$data/gsm8k/train.jsonl" ] || bench_die "$data/gsm8k is missing (set CHAEJEOM_ASSETS)"
work=$(mktemp -d "${TMPDIR:-/tmp}/chaejeom-gen.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
py=$CHAEJEOM_CACHE/venv/bin/python
status=0

for shape in $shapes; do
    model=$(bench_model "$shape" "$BENCH_TYPE") || exit 2
    common="--data $data --max-new $max_new -t $t"
    echo "gen: $shape $BENCH_TYPE, threads=$t, 8-shot GSM8K prompts, max_new=$max_new;" \
        "ours on $nq questions, the baselines on the first $base"
    # shellcheck disable=SC2086 # $common is a list of options
    ours_all=$("$TOOLS/gen" -m "$model" $common --questions "$nq" --batch "$nq" --gen-batch "$nq" \
        --out "$work/ours.txt")
    ours=$(echo "$ours_all" | tail -n 1)
    work_line=$(echo "$ours_all" | grep '^gen-work:' | tail -n 1)
    # shellcheck disable=SC2086
    one=$("$TOOLS/gen" -m "$model" $common --questions "$base" --batch 1 --gen-batch 1 --no-prefix-cache \
        --dump "$work/prompts.jsonl" --out "$work/one.txt" | tail -n 1)
    # shellcheck disable=SC2086
    single=$("$TOOLS/gen" -m "$model" $common --questions "$base" --batch 1 --gen-batch 1 | tail -n 1)
    case "$ours$one$single" in *gen:*gen:*gen:*) ;; *) bench_die "gen failed" ;; esac
    echo "ours           $ours"
    echo "one-at-a-time  $one"
    echo "single, kept   $single"
    same=$(head -n "$base" "$work/ours.txt" | cmp -s - "$work/one.txt" && echo yes || echo NO)
    echo "ours vs one-at-a-time on $base questions: identical texts=$same"
    [ "$same" = yes ] || status=1

    peer=""
    if [ -x "$py" ]; then
        peer=$("$py" bench/peer/gen.py "$model" "$work/prompts.jsonl" "$t" "$work/peer.txt" 2>"$work/peer.err" | tail -n 1)
        case "$peer" in
        peer:*) echo "llama.cpp      $peer"
            agree=$(awk 'FNR == NR { t[$1] = $0; next } { n++; s += (t[$1] == $0) } END { printf "%d of %d", s, n }' \
                "$work/one.txt" "$work/peer.txt")
            echo "llama.cpp's texts equal ours on $agree questions (it computes in other precisions)" ;;
        "peer absent"*) echo "$peer"; peer="" ;;
        *) echo "llama.cpp peer failed: $(tail -n 3 "$work/peer.err")"; peer="" ;;
        esac
    else
        echo "peer absent: no $py (run bench/peer/install.sh)"
    fi
    q1=$(bench_field "$ours" qps)
    q2=$(bench_field "$one" qps)
    echo "generated tokens/s ours=$(bench_field "$ours" tok_s) one_at_a_time=$(bench_field "$one" tok_s)" \
        "llama.cpp=$( [ -n "$peer" ] && bench_field "$peer" tok_s || echo absent)"
    if [ -n "$peer" ]; then
        q3=$(bench_field "$peer" qps)
        r1=$(awk -v a="$q1" -v b="$q3" 'BEGIN { printf "%.2f", a / b }')
        echo "single-sequence decode tokens/s ours=$(bench_field "$single" tok_s) llama.cpp=$(bench_field "$peer" tok_s)" \
            "ratio=$(awk -v a="$(bench_field "$single" tok_s)" -v b="$(bench_field "$peer" tok_s)" 'BEGIN { printf "%.2f", a / b }')"
    else
        q3=absent
        r1=na
    fi
    # Decoding alone (llama-bench's tg test): the single-sequence line above
    # also counts the prompts' prefill.
    tg_ours=$("$BUILD/chaejeom" bench -m "$model" -t "$t" --prompt-tokens 0 --gen-tokens "$tg_n" -r 3 \
        --db "$work/tg.db" --json 2>/dev/null | awk -F': *' '/"tg_tok_s"/ { sub(/,$/, "", $2); printf "%.2f", $2 }')
    tg_peer=absent tg_r=na
    if [ -n "$peer" ]; then
        tg_peer=$(bench_field "$("$py" bench/peer/tg.py "$model" "$t" "$tg_n" 2>/dev/null | tail -n 1)" tok_s)
        [ -n "$tg_peer" ] && [ -n "$tg_ours" ] && tg_r=$(awk -v a="$tg_ours" -v b="$tg_peer" 'BEGIN { printf "%.2f", a / b }')
    fi
    echo "decode-only tg$tg_n tokens/s ours=${tg_ours:-failed} llama.cpp=${tg_peer:-failed} ratio=$tg_r"
    # The ceiling: the run's arithmetic (gen-work) against the best rate a
    # weight product reaches on this machine, ours or cblas_sgemm's, on one
    # layer at 512 rows (bench/sgemm), measured now. What 8x llama.cpp's
    # questions/s would need is the same arithmetic in 1/8 of its time.
    ceil_out=$("$TOOLS/sgemm" -m "$model" -M 512 -t "$t")
    peak=$(echo "$ceil_out" | awk '/^(own|sgemm):/ { for (i = 1; i <= NF; i++) if ($i ~ /^gflops=/) { v = substr($i, 8) + 0; if (v > m) m = v } } END { printf "%.2f", m }')
    gf=$(bench_field "$work_line" gflop)
    need=na need_share=na
    if [ -n "$peer" ] && [ -n "$gf" ]; then
        need=$(awk -v w="$gf" -v n="$nq" -v q="$q3" 'BEGIN { printf "%.2f", w / (n / (8 * q)) }')
        need_share=$(awk -v a="$need" -v b="$peak" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    fi
    echo "ceiling gflop=${gf:-na} ours_gflops=$(bench_field "$work_line" gflops) peak_product_gflops=$peak" \
        "ours_share_of_peak=$(awk -v a="$(bench_field "$work_line" gflops)" -v b="$peak" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
        "gflops_for_8x_llamacpp=$need share_of_peak_for_8x=$need_share"
    r2=$(awk -v a="$q1" -v b="$q2" 'BEGIN { printf "%.2f", a / b }')
    echo "questions/s ours=$q1 one_at_a_time=$q2 llama.cpp=$q3 ratio_vs_llamacpp=$r1 ratio_vs_one_at_a_time=$r2"
    echo
done
exit $status
