#!/bin/sh
# prefill.sh — our prefill against the cblas_sgemm ceiling, measured in the
# same run on the same matrix shapes and thread count.
#
# Per shape: the ceiling (bench/sgemm: one layer's products, M =
# tokens), our prefill of one sequence of that many tokens (bench/prefill,
# best of R after a warm-up), the ceiling again; the ceiling is the better
# of the two. Two ratios: ratio_products_vs_sgemm, the GFLOP/s inside our
# weight products (dequantization included, timed by the forward pass)
# over the ceiling: how well the batching fills the products; and
# ratio_vs_sgemm, the whole prefill's matrix GFLOP/s over the ceiling: the
# share of the prefill time that runs at sgemm speed, attention, norms and
# SwiGLU counted against it.
#
# Environment (see bench/lib.sh for the common ones):
#   BENCH_PREFILL_SHAPES  default "smollm-135m tinyllama-1.1b polyglot-ko-1.3b" (quick: smollm-135m);
#                         polyglot-ko-1.3b is GPT-NeoX (fused QKV, GELU MLP, partial RoPE)
#   BENCH_PREFILL_TOKENS  default 512
#   BENCH_PREFILL_REPS    default 3 (quick: 1)
set -u
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
bench_need_tools

if [ "$BENCH_QUICK" = 1 ]; then
    shapes=${BENCH_PREFILL_SHAPES:-smollm-135m}
    reps=${BENCH_PREFILL_REPS:-1}
else
    shapes=${BENCH_PREFILL_SHAPES:-smollm-135m tinyllama-1.1b polyglot-ko-1.3b}
    reps=${BENCH_PREFILL_REPS:-3}
fi
tokens=${BENCH_PREFILL_TOKENS:-512}
t=$BENCH_THREADS
summary=""
summary_products=""
status=0

for shape in $shapes; do
    model=$(bench_model "$shape" "$BENCH_TYPE") || exit 2
    s1=$("$TOOLS/sgemm" -m "$model" -M "$tokens" -t "$t" | tail -n 1)
    out=$("$TOOLS/prefill" -m "$model" -n "$tokens" -t "$t" --reps "$reps")
    p=$(echo "$out" | grep '^prefill:' | tail -n 1)
    parts=$(echo "$out" | grep '^prefill-parts:' | tail -n 1)
    s2=$("$TOOLS/sgemm" -m "$model" -M "$tokens" -t "$t" | tail -n 1)
    case "$p" in prefill:*) ;; *)
        echo "prefill.sh: $shape: prefill failed" >&2
        status=1
        summary="$summary $shape=failed"
        continue ;;
    esac
    ceil=$(printf '%s\n%s\n' "$(bench_field "$s1" gflops)" "$(bench_field "$s2" gflops)" | sort -g | tail -n 1)
    ours=$(bench_field "$p" gflops_matrix)
    ratio=$(awk -v a="$ours" -v b="$ceil" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    inner=$(bench_field "$parts" gflops_in_products)
    ratio_products=$(awk -v a="$inner" -v b="$ceil" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    rss=$(bench_field "$p" rss_mb)
    wf=$(bench_field "$p" weights_file_mb)
    kv=$(bench_field "$p" kv_mb)
    echo "prefill shape=$shape type=$BENCH_TYPE tokens=$tokens threads=$t tok_s=$(bench_field "$p" tok_s)" \
        "gflops_matrix=$ours gflops_all=$(bench_field "$p" gflops_all) sgemm_gflops=$ceil ratio_vs_sgemm=$ratio"
    echo "products shape=$shape gflops_in_products=$inner ratio_products_vs_sgemm=$ratio_products" \
        "share_products=$(bench_field "$parts" share_products) share_attention=$(bench_field "$parts" share_attention)" \
        "share_other=$(bench_field "$parts" share_other)"
    awk -v r="$rss" -v wf="$wf" -v kv="$kv" -v s="$shape" 'BEGIN {
        printf "memory shape=%s peak_rss_mb=%.1f weights_file_mb=%.1f kv_mb=%.1f rss_over_weights_plus_kv=%.3f\n",
            s, r, wf, kv, r / (wf + kv)
    }'
    summary_products="$summary_products $shape=$ratio_products"
    summary="$summary $shape=$ratio"
done
echo "prefill ratio_products_vs_sgemm$summary_products"
echo "prefill ratio_vs_sgemm$summary"

# Our products (gemm.c: every element one ascending FMA chain, the same bits
# everywhere) against cblas_sgemm on the same F32 operands and the same seven
# shapes, in one process (bench/sgemm's `own:` and `sgemm:` lines; each the
# best of its repetitions, interleaved): the cost of invariance. Under
# OpenBLAS's own choice of kernels and under its Haswell (AVX2) kernels; on
# an AVX-512 CPU also from a build without AVX-512 (-mno-avx512f), against
# the Haswell kernels.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
variants="native:default"
has avx2 && variants="$variants native:Haswell"
if has avx512f; then
    if make -s BUILD=build-avx2 OPT="-O2 -march=native -mno-avx512f" build-avx2/bench/sgemm >/dev/null 2>&1; then
        variants="$variants avx2only:Haswell"
    else
        echo "prefill.sh: the AVX2-only build failed" >&2
        status=1
    fi
fi
ksummary=""
for shape in $shapes; do
    model=$(bench_model "$shape" "$BENCH_TYPE") || exit 2
    for v in $variants; do
        build=${v%%:*} ct=${v#*:}
        tool=$TOOLS/sgemm
        [ "$build" = avx2only ] && tool=build-avx2/bench/sgemm
        if [ "$ct" = default ]; then out=$("$tool" -m "$model" -M "$tokens" -t "$t" --min-time 2)
        else out=$(OPENBLAS_CORETYPE=$ct "$tool" -m "$model" -M "$tokens" -t "$t" --min-time 2); fi
        own=$(echo "$out" | grep '^own:' | tail -n 1)
        sg=$(echo "$out" | grep '^sgemm:' | tail -n 1)
        r=$(bench_field "$own" ratio_vs_sgemm)
        echo "kernels shape=$shape build=$build isa=$(bench_field "$own" isa) openblas_coretype=$ct" \
            "own_gflops=$(bench_field "$own" gflops) sgemm_gflops=$(bench_field "$sg" gflops) ratio_own_vs_sgemm=$r"
        ksummary="$ksummary $shape/$build/$ct=$r"
    done
done
echo "prefill ratio_own_vs_sgemm$ksummary"
exit $status
