# lib.sh — what the bench scripts share (sourced, POSIX sh).
#
# Environment (all optional):
#   BUILD             build folder holding the tools (default build)
#   BENCH_THREADS     threads for every measurement (default 2)
#   BENCH_TYPE        weight type of the benchmark models: f32, f16, q8_0 (default f16)
#   BENCH_SEED        weight and sample seed (default 1234)
#   BENCH_QUICK=1     smaller samples, fewer repetitions
#   CHAEJEOM_CACHE    where generated models and the peer live
#                     (default ${XDG_CACHE_HOME:-~/.cache}/chaejeom); never the repository
#   CHAEJEOM_ASSETS   the shared assets (default ../shared/assets)

BUILD=${BUILD:-build}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_TYPE=${BENCH_TYPE:-f16}
BENCH_SEED=${BENCH_SEED:-1234}
BENCH_QUICK=${BENCH_QUICK:-0}
CHAEJEOM_CACHE=${CHAEJEOM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaejeom}
BENCH_MODELS=$CHAEJEOM_CACHE/bench
ASSETS=${CHAEJEOM_ASSETS:-../shared/assets}
VOCAB=$ASSETS/vocab-gguf/ggml-vocab-llama-spm.gguf
# GPT-NeoX shapes take a byte-level BPE (GPT-2's, cut by mkmodel to the shape's size)
VOCAB_BPE=$ASSETS/vocab-gguf/ggml-vocab-gpt-2.gguf
TOOLS=$BUILD/bench

bench_die() {
    echo "bench: $*" >&2
    exit 2
}

bench_need_tools() {
    for t in mkmodel prefill sgemm mcq; do
        [ -x "$TOOLS/$t" ] || bench_die "$TOOLS/$t is missing (make BUILD=$BUILD bench-tools)"
    done
    [ -f "$VOCAB" ] || bench_die "$VOCAB is missing (set CHAEJEOM_ASSETS)"
}

# bench_vocab SHAPE: the vocabulary GGUF mkmodel takes for that shape.
bench_vocab() {
    case $1 in
    polyglot-*) echo "$VOCAB_BPE" ;;
    *) echo "$VOCAB" ;;
    esac
}

# bench_model SHAPE TYPE: prints the path of the random-weight GGUF of that
# shape and type, writing it first if the cache lacks it.
bench_model() {
    _f=$BENCH_MODELS/$1-$2-s$BENCH_SEED.gguf
    if [ ! -f "$_f" ]; then
        mkdir -p "$BENCH_MODELS" || bench_die "cannot create $BENCH_MODELS"
        echo "bench: writing $_f" >&2
        "$TOOLS/mkmodel" --shape "$1" --type "$2" --seed "$BENCH_SEED" --vocab "$(bench_vocab "$1")" -o "$_f" >&2 ||
            bench_die "mkmodel failed for $1 $2"
    fi
    echo "$_f"
}

# bench_field LINE KEY: the value of KEY=VALUE in LINE.
bench_field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
