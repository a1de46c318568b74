#!/usr/bin/env python3
"""Writes tests/golden/chat-features.json: small chat templates, one Jinja
feature each, rendered by jinja2 the way transformers' apply_chat_template
renders (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, tojson with ensure_ascii off, raise_exception, strftime_now
pinned to 2024-07-26). tests/unit/test_chat_template.c checks our engine
against it. Needs jinja2 (3.1); run from the repository root:

    python3 tests/golden/gen_chat_features.py
"""
import json
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

CASES = [
    # whitespace control
    ("a  {{- 'b' -}}  c", {}),
    ("{% if true %}\nx\n{% endif %}\ny", {}),
    ("  {% if true %}x{% endif %}\n", {}),
    ("a  {%+ if true %}x{% endif %}", {}),
    ("a{# note #}\nb", {}),
    ("x\r\ny\n\n", {}),
    ("  {{ 'v' }}  \n  {%- if true %} t {% endif -%}  \n.", {}),
    # statements
    ("{% for m in ms %}{{ loop.index }}{{ m }}{% if not loop.last %},{% endif %}{% endfor %}", {"ms": ["a", "b", "c"]}),
    ("{% for m in ms if m != 'b' %}{{ loop.length }}{{ m }}{% else %}none{% endfor %}", {"ms": ["a", "b"]}),
    ("{% for m in ms %}{% else %}none{% endfor %}", {"ms": []}),
    ("{% for m in ms %}{% if m == 2 %}{% break %}{% endif %}{{ m }}{% endfor %}", {"ms": [1, 2, 3]}),
    ("{% for m in ms %}{% if m == 2 %}{% continue %}{% endif %}{{ m }}{% endfor %}", {"ms": [1, 2, 3]}),
    ("{% for m in ms %}{{ loop.previtem is defined }}{{ loop.nextitem }}{{ loop.revindex0 }}{% endfor %}", {"ms": [1, 2]}),
    ("{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", {"d": {"a": 1, "b": [True, "x", None]}}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"a": 1.5, "b": {"c": "it's"}}}),
    ("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(x=1) %}{% for i in [1] %}{% set ns.x = ns.x + 2 %}{% endfor %}{{ ns.x }}", {}),
    ("{% set a, b = [1, 2] %}{{ b }}{{ a }}", {}),
    ("{% set s %}in {{ 'block' }}{% endset %}[{{ s }}]", {}),
    ("{% macro m(a, b='y') %}<{{ a }}{{ b }}>{% endmacro %}{{ m('x') }}{{ m(b='z', a=1) }}", {}),
    ("{% filter upper %}abc{% endfilter %}", {}),
    ("{% if a %}1{% elif b %}2{% else %}3{% endif %}", {"b": 1}),
    # expressions
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 * 3 }} {{ 'ab' * 2 }} {{ 1 + 2.5 }}", {}),
    ("{{ 'a' ~ 1 ~ none }} {{ 1 if x else 2 }} {{ x or 'd' }} {{ 'b' in 'abc' }} {{ 3 not in [1] }}", {}),
    ("{{ s[1:] }}|{{ s[:-1] }}|{{ s[::-1] }}|{{ l[1:] }}|{{ s[0] }}", {"s": "한국어", "l": [1, 2]}),
    ("{{ x }}|{{ x is defined }}|{{ y is none }}|{{ y is not string }}|{{ d is mapping }}", {"y": None, "d": {}}),
    ("{{ {'a': 1, 'b': 'é\"'}|tojson }} {{ [1, 2.5, none, true]|tojson(indent=2) }} {{ {}|tojson(indent=2) }}", {}),
    ("{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}",
     {"ms": [{"role": "user", "c": "a"}, {"role": "x", "c": "b"}, {"role": "user", "c": "d"}]}),
    ("{{ ms|rejectattr('c')|list|length }} {{ [3, 1, 3]|unique|list }} {{ ms|first }} {{ ms|last }}",
     {"ms": [{"c": 0}, {"c": 1}]}),
    ("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'x'|indent(2, first=true) }}|{{ 'p\\n\\nq'|indent(1, blank=true) }}", {}),
    ("{{ ' A b '|trim|title }} {{ 'x'.upper() }} {{ 'ab'.startswith('a') }} {{ d.get('k', 'no') }} {{ 'a,b'.split(',') }}",
     {"d": {}}),
    ("{{ x|default('dflt') }} {{ ''|default('e', true) }} {{ range(3)|list }} {{ none|map('x')|list }}", {}),
    ("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %A') }}", {}),
    ("{{ [1, 'a', none, 2.0, {'k': ['v']}] }} {{ 'q\\'s' }} {{ ['q\\'s', 'a\"b'] }}", {}),
    ("{{ 1 < 2 and 'b' > 'a' }} {{ not 0 }} {{ [1, 2] == [1, 2] }} {{ 1 == 1.0 }}", {}),
    ("{{ messages[0]['content'] }}{{ messages|length }}{{ messages[-1].role }}",
     {"messages": [{"role": "user", "content": "안녕 😊"}, {"role": "assistant", "content": "B"}]}),
    # errors
    ("{{ raise_exception('Roles must alternate') }}", {}),
    ("{% for t in tools %}{% endfor %}", {"tools": None}),
    ("{{ 'a' + nope }}", {}),
    ("{{ nope[0] }}", {}),
    ("{{ d.a.b }}", {"d": {}}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 1 + 'a' }}", {}),
    ("{{ none|length }}", {}),
]


def strftime_now(fmt):
    return datetime(2024, 7, 26).strftime(fmt)


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    out = []
    for src, variables in CASES:
        case = {"template": src, "vars": variables}
        try:
            case["output"] = env.from_string(src).render(**variables)
        except Exception as e:  # jinja2's message is what the engine must give
            case["error"] = str(e)
        out.append(case)
    with open("tests/golden/chat-features.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
