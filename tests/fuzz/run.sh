#!/bin/sh
# Builds and runs every libFuzzer target tests/fuzz/fuzz_*.c (see README.md).
#
# Each target is linked with clang -fsanitize=fuzzer,address,undefined
# against the library (every source but cli/main.c, built into
# $FUZZ_BUILD by the Makefile with coverage instrumentation), seeded from
# small samples of the real data under $CHAEJEOM_ASSETS, and run for
# $FUZZ_SECONDS. Prints one PASS/FAIL line per target; exits 1 if any target
# crashed, leaked, hung or failed to build.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  space-separated target names (default: all)
#   FUZZ_MAX_LEN  largest input in bytes (default 4096; more for the model and
#                 tokenizer targets, whose seeds are whole small files)
#   FUZZ_CC       compiler (default clang)
#   FUZZ_BUILD    build folder (default build-fuzz)
set -u
SECS=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}
B=${FUZZ_BUILD:-build-fuzz}
ASSETS=${CHAEJEOM_ASSETS:-../shared/assets}
DS=$ASSETS/datasets
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# The library, instrumented for coverage but without libFuzzer's main.
# Warnings are the business of the ordinary builds, not of this one; OpenMP
# too (clang's runtime is another package, and no target runs the model).
mkdir -p "$B"
if ! make -s -j2 BUILD="$B" CC="$CC" OMP= OPT="-O1" SAN="-fsanitize=fuzzer-no-link $SAN -Wno-error" \
        "$B/libchaejeom.a" >"$B/build.log" 2>&1; then
    grep -m 10 'error' "$B/build.log"
    echo "FAIL fuzz (library build; log: $B/build.log)"
    exit 1
fi
PKGS="openblas jansson libpcre2-8 sqlite3 zlib"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror $(pkg-config --cflags $PKGS 2>/dev/null)"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null || echo -lopenblas -ljansson -lpcre2-8 -lsqlite3 -lz) -lm -pthread"

# seed DIR TARGET: a few small samples of real files (never whole data sets).
seed() {
    dir=$1
    case $2 in
    fuzz_csv)
        # first byte: bit 0 = header, bits 1-3 = columns - 1 (see fuzz_csv.c)
        i=0
        for f in "$DS"/mmlu/dev/abstract_algebra_dev.csv "$DS"/mmlu/test/anatomy_test.csv \
                 "$DS"/mmlu/dev/high_school_us_history_dev.csv; do
            [ -f "$f" ] || continue
            { printf '\012'; head -c 3000 "$f"; } >"$dir/mmlu$i"; i=$((i + 1))
        done
        for f in "$DS"/kmmlu/data/math-dev.csv "$DS"/kmmlu/data/Law-dev.csv; do
            [ -f "$f" ] || continue
            { printf '\017'; head -c 3000 "$f"; } >"$dir/kmmlu$i"; i=$((i + 1))
        done
        printf '\003\357\273\277"a ""b""",c\r\n"x\ny",z\r\n,\r\n' >"$dir/edge0"
        printf '\002a,"b\nc""",d\r"e"' >"$dir/edge1"
        ;;
    fuzz_jsonl)
        for f in "$DS"/arc/ARC-Easy/ARC-Easy-Dev.jsonl "$DS"/winogrande/dev.jsonl; do
            [ -f "$f" ] && head -n 3 "$f" >"$dir/$(basename "$f")"
        done
        f="$DS"/truthfulqa/data/v1/mc_task.json
        # the first question as a one-element array
        [ -f "$f" ] && sed -n '1,/^  },$/p' "$f" | sed '$s/,$/]/' >"$dir/mc_task.json"
        printf '[{"a": 1, "b": [true, null, 1.5e-3, "\\u00e9\\ud83d\\ude00"]}]\n' >"$dir/array.json"
        ;;
    fuzz_hellaswag)
        f="$DS"/hellaswag/hellaswag_val_full.txt.gz
        [ -f "$f" ] && gzip -dc "$f" | head -n 12 >"$dir/val12.txt"
        [ -f "$f" ] && gzip -dc "$f" | head -n 6 | sed 's/$/\r/' >"$dir/crlf.txt"
        ;;
    fuzz_gzip)
        f="$DS"/hellaswag/hellaswag_val_full.txt.gz
        [ -f "$f" ] && gzip -dc "$f" | head -n 6 | gzip -c >"$dir/hellaswag.gz"
        f="$DS"/mmlu/dev/anatomy_dev.csv
        [ -f "$f" ] && head -c 1500 "$f" | gzip -c >"$dir/mmlu.gz"
        f="$DS"/arc/ARC-Easy/ARC-Easy-Dev.jsonl
        [ -f "$f" ] && head -n 2 "$f" | gzip -c >"$dir/arc.gz"
        [ -f "$dir/arc.gz" ] && head -c 60 "$dir/arc.gz" >"$dir/arc-truncated.gz"
        printf 'a,b\n1,2\n' >"$dir/plain.csv"
        ;;
    fuzz_serve_req)
        # first byte: vocabulary size - 1; then what lm-eval and OpenAI clients send
        printf '\377{"model":"m","prompt":[[1,5,6,7]],"temperature":0,"max_tokens":1,"logprobs":1,"seed":1234,"echo":true}' >"$dir/score"
        printf '\377{"prompt":["Q: a?\\nA:","b"],"max_tokens":64,"temperature":0,"stop":["\\n\\n","Q:"],"top_p":0.9}' >"$dir/gen"
        printf '\017{"prompt":[1,2,3],"prompt_logprobs":1,"echo":false,"n":1,"logprobs":null}' >"$dir/ids"
        printf '\377{"prompt":"Once upon a time","add_special_tokens":false}' >"$dir/tokenize"
        printf '\377{"tokens":[1,403,407,261,378]}' >"$dir/detokenize"
        ;;
    esac
    # A target may bring its own seeding: tests/fuzz/<target>.seed.sh DIR ASSETS
    if [ -f "tests/fuzz/$2.seed.sh" ]; then sh "tests/fuzz/$2.seed.sh" "$dir" "$ASSETS"; fi
}

# max_len TARGET: the largest input libFuzzer makes for it.
max_len() {
    if [ -n "${FUZZ_MAX_LEN:-}" ]; then echo "$FUZZ_MAX_LEN"; return; fi
    case $1 in
    fuzz_tok_json) echo 16384 ;;
    fuzz_gguf | fuzz_llama2c | fuzz_hf_config | fuzz_tok_bin) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# dict TARGET: a libFuzzer dictionary file, or nothing.
dict() {
    d="$B/$1.dict"
    case $1 in
    fuzz_csv)
        printf '"q"="\\x22"\n"qq"="\\x22\\x22"\n"c"=","\n"crlf"="\\x0d\\x0a"\n"bom"="\\xef\\xbb\\xbf"\n"ko"="\\xec\\xa7\\x88"\n' >"$d" ;;
    fuzz_jsonl)
        printf '"lb"="{"\n"rb"="}"\n"la"="["\n"ra"="]"\n"u"="\\x5cu"\n"sur"="\\x5cud83d"\n"nl"="\\x0a"\n"t"="true"\n"n"="null"\n' >"$d" ;;
    fuzz_hellaswag)
        printf '"nl"="\\x0a"\n"cr"="\\x0d"\n"l0"="0"\n"l3"="3"\n' >"$d" ;;
    fuzz_template)
        for w in '{{' '}}' '|' '.' '[' ']' '(' ')' "'" ',' '+' '-' strip lstrip rstrip lower upper capitalize \
            replace before after hellaswag_preprocess int str len keys values map index join split \
            question choices text label endings query mc2_targets nested list ko neg big \
            '{%' '%}' '{%-' '-%}' '{#' '#}' if elif else endif for in endfor set endset macro endmacro \
            filter endfilter break continue loop namespace tojson selectattr items default is defined not and or; do
            printf '"%s"\n' "$w"
        done >"$d" ;;
    fuzz_task)
        for w in name version description dataset format header columns splits eval_split output_type \
            doc_to_text doc_to_choice doc_to_target doc_to_labels doc_to_continuation partial_scoring \
            target_delimiter fewshot_delimiter fewshot split k sampler seed generation until max_tokens \
            metrics group members multiple_choice loglikelihood_rolling generate_until first_n random \
            csv jsonl json hellaswag acc acc_norm acc_bytes exact_match mc2 word_perplexity \
            filter regex group_select fallback exact_match_options ignore_case ignore_punctuation \
            ignore_numbers regexes_to_ignore abstention patterns correct_metric doc_to_references \
            correct incorrect temperature top_p f1 bleu_max bleu_acc rouge1_max \
            mmlu.csv kmmlu.csv arc.jsonl wg.jsonl tqa.json tqa.csv hs.txt text.jsonl '{{' '}}'; do
            printf '"%s"\n' "$w"
        done >"$d" ;;
    fuzz_serve_req)
        for w in prompt echo logprobs prompt_logprobs max_tokens temperature top_p seed stop n best_of stream \
            add_special_tokens tokens model true false null '[[' ']]' '\\u0000'; do
            printf '"%s"\n' "$w"
        done >"$d" ;;
    fuzz_tok_json | fuzz_hf_config)
        for w in model type BPE vocab merges added_tokens content special lstrip rstrip id \
            pre_tokenizer pretokenizers normalizer normalizers post_processor decoder Sequence Split \
            ByteLevel Metaspace Prepend Replace TemplateProcessing Regex pattern behavior Isolated \
            use_regex add_prefix_space prepend_scheme byte_fallback fuse_unk ignore_merges unk_token \
            architectures model_type hidden_size intermediate_size num_hidden_layers \
            num_attention_heads num_key_value_heads vocab_size max_position_embeddings rms_norm_eps \
            rope_theta rope_parameters rope_type rope_scaling head_dim hidden_act tie_word_embeddings \
            mlp_bias attention_bias LlamaForCausalLM Qwen2ForCausalLM dtype shape data_offsets; do
            printf '"%s"\n' "$w"
        done >"$d" ;;
    *) return ;;
    esac
    echo "-dict=$d"
}

rc=0
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    t=$(basename "$src" .c)
    if [ -n "${FUZZ_TARGETS:-}" ]; then
        case " $FUZZ_TARGETS " in *" $t "*) ;; *) continue ;; esac
    fi
    bin="$B/$t"
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS -fsanitize=fuzzer $SAN -o "$bin" "$src" "$B/libchaejeom.a" $LIBS; then
        echo "FAIL $t (build)"; rc=1; continue
    fi
    corpus="$B/corpus/$t"
    mkdir -p "$corpus" "$B/crashes"
    [ -n "$(ls -A "$corpus")" ] || seed "$corpus" "$t"
    log="$B/$t.log"
    # shellcheck disable=SC2046
    "$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/crashes/$t-" $(dict "$t") "$corpus" >"$log" 2>&1
    st=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ "$st" -eq 0 ]; then
        echo "PASS $t (${SECS}s, ${runs:-?} runs, ${cov:-cov: ?})"
    else
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "FAIL $t (exit $st; input: ${art:-none}; log: $log)"
        grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$log" | sed 's/^/    /'
        rc=1
    fi
done
exit $rc
