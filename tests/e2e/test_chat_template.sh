#!/bin/sh
# chaejeom chat-template: a template from a file, from an HF folder
# (tokenizer_config.json, chat_template.jinja) and from a GGUF file, byte for
# byte as jinja2 renders them (checked with transformers' environment when
# written); the template's own error with exit 2; bad input.
. "$(dirname "$0")/lib.sh"

# same_text NAME WANT CMD...: the command's stdout is exactly WANT (printf format).
same_text() {
    name=$1; want=$2; shift 2
    printf "$want" >"$TMP/want"
    if "$@" >"$TMP/out" 2>"$TMP/err" && cmp -s "$TMP/out" "$TMP/want"; then pass "$name"
    else fail "$name" "got '$(head -c 300 "$TMP/out")' $(head -c 300 "$TMP/err")"; fi
}

cat >"$TMP/msgs.json" <<'JSON'
[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "안녕 😊"},
 {"role": "assistant", "content": "  Hi  "}, {"role": "user", "content": "1 + 1 = ?"}]
JSON
cat >"$TMP/llama3.jinja" <<'JINJA'
{{- bos_token }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
JINJA
L3='<B><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n안녕 😊<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n1 + 1 = ?<|eot_id|>'
same_text chat_template_file "$L3" "$CJ" chat-template --template "$TMP/llama3.jinja" --messages "$TMP/msgs.json" --bos-token '<B>'
same_text chat_template_generation_prompt "$L3<|start_header_id|>assistant<|end_header_id|>\n\n" \
    "$CJ" chat-template --template "$TMP/llama3.jinja" --messages "$TMP/msgs.json" --bos-token '<B>' --add-generation-prompt

# an HF folder: tokenizer_config.json's template and tokens, then chat_template.jinja before it
mkdir "$TMP/hf"
cat >"$TMP/hf/tokenizer_config.json" <<'JSON'
{"bos_token": {"content": "<s>"}, "eos_token": "</s>",
 "chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}{{ strftime_now('%d %b %Y') }}"}
JSON
same_text chat_template_hf_config '[system]You are helpful.</s>[user]안녕 😊</s>[assistant]  Hi  </s>[user]1 + 1 = ?</s>26 Jul 2024' \
    "$CJ" chat-template -m "$TMP/hf" --messages "$TMP/msgs.json" --date 2024-07-26
printf '{{ bos_token }}{{ messages | length }}\n' >"$TMP/hf/chat_template.jinja"
same_text chat_template_hf_jinja '<s>4' "$CJ" chat-template -m "$TMP/hf" --messages "$TMP/msgs.json"

# a GGUF file's tokenizer.chat_template (phi-3's vocabulary carries one)
PHI3="$ASSETS/vocab-gguf/ggml-vocab-phi-3.gguf"
if [ -f "$PHI3" ]; then
    same_text chat_template_gguf '<s><|user|>\n안녕 😊<|end|>\n<|assistant|>\n  Hi  <|end|>\n<|user|>\n1 + 1 = ?<|end|>\n<|assistant|>\n' \
        "$CJ" chat-template -m "$PHI3" --messages "$TMP/msgs.json"
else echo "SKIP chat_template_gguf: $PHI3 is missing"; fi

# the template raises: exit 2, its own message
printf "{%% if messages[0]['role'] == 'system' %%}{{ raise_exception('System role not supported') }}{%% endif %%}" >"$TMP/nosys.jinja"
expect chat_template_raises 2 "$CJ" chat-template --template "$TMP/nosys.jinja" --messages "$TMP/msgs.json"
if [ "$(cat "$TMP/err")" = "System role not supported" ]; then pass chat_template_raise_message
else fail chat_template_raise_message "$(head -c 300 "$TMP/err")"; fi

# bad input: exit 2 and a message naming what is wrong
expect chat_template_no_args 2 "$CJ" chat-template
expect chat_template_both_sources 2 "$CJ" chat-template -m "$TMP/hf" --template "$TMP/nosys.jinja" --messages "$TMP/msgs.json"
printf '[{"role": "user"' >"$TMP/bad.json"
expect chat_template_bad_messages 2 "$CJ" chat-template --template "$TMP/nosys.jinja" --messages "$TMP/bad.json"
printf '{%% for m in messages %%}' >"$TMP/open.jinja"
expect chat_template_unclosed_block 2 "$CJ" chat-template --template "$TMP/open.jinja" --messages "$TMP/msgs.json"
if grep -q "open.jinja: .*endfor" "$TMP/err"; then pass chat_template_syntax_message; else fail chat_template_syntax_message "$(cat "$TMP/err")"; fi
BIN="$ASSETS/models/stories260K/stories260K.bin"
if [ -f "$BIN" ]; then
    expect chat_template_llama2c 2 "$CJ" chat-template -m "$BIN" --messages "$TMP/msgs.json"
    if grep -q "carries no chat template" "$TMP/err"; then pass chat_template_llama2c_message; else fail chat_template_llama2c_message "$(cat "$TMP/err")"; fi
else echo "SKIP chat_template_llama2c: $BIN is missing"; fi
# --- prompts through a chat template: lm-eval's contexts byte for byte -------
# (tests/golden/gen_chat_prompts.py builds them with lm-eval's fewshot_context)
G=tests/golden/chat-prompts
if [ -f "$ASSETS/datasets/mmlu/test/anatomy_test.csv" ]; then
    P="--task mmlu_anatomy --shots 2 --bos-token <s> --eos-token </s>"
    SI="Answer with one letter."
    same_file() { name=$1; want=$2; shift 2
        if "$@" >"$TMP/out" 2>"$TMP/err" && cmp -s "$TMP/out" "$want"; then pass "$name"
        else fail "$name" "$(cmp "$TMP/out" "$want" 2>&1 | head -c 200) $(head -c 300 "$TMP/err")"; fi; }
    same_file chat_prompt_plain "$G/plain.txt" "$CJ" prompt $P
    same_file chat_prompt_system "$G/system.txt" "$CJ" prompt $P --system-instruction "$SI"
    same_file chat_prompt_template "$G/chat.txt" "$CJ" prompt $P --apply-chat-template "$G/template.jinja"
    same_file chat_prompt_template_system "$G/chat_system.txt" "$CJ" prompt $P --apply-chat-template "$G/template.jinja" \
        --system-instruction "$SI"
    same_file chat_prompt_multiturn "$G/chat_multiturn.txt" "$CJ" prompt $P --apply-chat-template "$G/template.jinja" \
        --fewshot-as-multiturn
    # under a template the answers follow the generation prompt with no delimiter, as in lm-eval
    if "$CJ" prompt $P --apply-chat-template "$G/template.jinja" --json | grep -A1 '"continuations"' | grep -q '^    "A",$'
    then pass chat_prompt_no_delimiter
    else fail chat_prompt_no_delimiter "$("$CJ" prompt $P --apply-chat-template "$G/template.jinja" --json | head -c 300)"; fi
    expect chat_prompt_multiturn_needs_template 2 "$CJ" prompt $P --fewshot-as-multiturn
    expect chat_prompt_needs_a_source 2 "$CJ" prompt $P --apply-chat-template
else echo "SKIP chat_prompt: the MMLU data is missing"; fi

# --- run: the chat settings join the run's identity -------------------------
M="$ASSETS/models/stories260K"
if [ -f "$M/stories260K.bin" ] && [ -f "$ASSETS/datasets/mmlu/test/anatomy_test.csv" ]; then
    run() { "$CJ" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --db "$TMP/chat.db" -q --tasks mmlu_anatomy \
        --limit 2 --shots 1 "$@"; }
    expect chat_run_plain 0 run
    expect chat_run_template 0 run --apply-chat-template "$G/template.jinja"
    expect chat_run_again 0 run --apply-chat-template "$G/template.jinja"
    grep -q 'from the cache' "$TMP/err" && pass chat_run_cached || fail chat_run_cached "$(grep requests "$TMP/err")"
    expect chat_run_multiturn 0 run --apply-chat-template "$G/template.jinja" --fewshot-as-multiturn --system-instruction Hi
    # runs 2 and 3 share an identity; the plain run 1 and the multi-turn run 4 have their own
    if command -v sqlite3 >/dev/null; then
        same=$(sqlite3 "$TMP/chat.db" "SELECT (SELECT count(DISTINCT config_hash) FROM runs) || '/' ||
            ((SELECT config_hash FROM runs WHERE id = 2) = (SELECT config_hash FROM runs WHERE id = 3))")
        [ "$same" = "3/1" ] && pass chat_run_identity || fail chat_run_identity "distinct hashes and 2 = 3: '$same'"
    else echo "SKIP chat_run_identity: no sqlite3 command"; fi
else echo "SKIP chat_run: stories260K or the MMLU data is missing"; fi
exit $e2e_fail
