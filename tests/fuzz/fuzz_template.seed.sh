#!/bin/sh
# Seeds fuzz_template: sh fuzz_template.seed.sh CORPUS_DIR ASSETS_DIR
#
# Every template string of the built-in task definitions (tasks/defs), the
# real chat templates of <golden>/chat/templates.json, and a few that use
# every function on the fuzz doc's fields (fuzz_template.c).
dir=$1
golden=$2/../golden/chat/templates.json
i=0
if command -v jq >/dev/null 2>&1 && [ -f "$golden" ]; then
    jq -r '.templates[].template | @base64' "$golden" | while IFS= read -r b64; do
        printf '%s' "$b64" | base64 -d >"$dir/chat-$(printf '%s' "$b64" | cksum | cut -d' ' -f1)"
    done
fi
if command -v jq >/dev/null 2>&1; then
    # one file per distinct template (the subjects of a benchmark share theirs)
    find tasks/defs -name '*.json' | sort | while IFS= read -r f; do
        jq -r '.. | strings | select(test("[{][{]")) | @base64' "$f" 2>/dev/null
    done | sort -u | while IFS= read -r b64; do
        printf '%s' "$b64" | base64 -d >"$dir/def-$(printf '%s' "$b64" | cksum | cut -d' ' -f1)"
    done
fi
for t in \
    "{{question.strip()}}\nA. {{choices.text[0]}}\nAnswer:" \
    "{{choices.label.index(answer)}}" \
    "{{query|hellaswag_preprocess}} {{endings|hellaswag_preprocess}}" \
    "{{mc2_targets|keys}}{{mc2_targets|values|len}}" \
    "{{ko|strip|upper}} {{question|lower|capitalize|replace('2', 'two')}}" \
    "{{sentence.before('_')}}{{option1}}{{sentence.after('_')|rstrip('.')}}" \
    "{{nested.list|map('k')|join(', ')}} {{'a,b,c'.split(',')[-1]}}" \
    "{{label|int + gold - 1}} {{(neg + 3)|str}} {{['A', 'B', 'C'][gold]}} {{ '{{' }}" \
    "{{question|lstrip(' W')}}{{flag}}{{off}}{{big}}{{choices['text'][-2]}}" \
    "{%- for c in choices.text if c != '4' %}{{ loop.index }}{{ c|trim }}{% else %}-{% endfor %}" \
    "{% set ns = namespace(n=0) %}{% macro m(x, y='z') %}{{ x ~ y }}{% endmacro %}{{ m(ko) }}{{ nested|tojson(indent=2) }}" \
    "{{ nested.list|selectattr('k', 'equalto', 'v')|map(attribute='k')|list }}{{ question[1:-1] }}{{ raise_exception('x') }}"; do
    printf "%b" "$t" >"$dir/fn$i"
    i=$((i + 1))
done
