#!/usr/bin/env python3
"""Writes tests/golden/chat-prompts/<case>.txt: the contexts lm-eval (0.4.13)
builds for mmlu_anatomy doc 0 with 2 shots under --system_instruction,
--apply_chat_template and --fewshot_as_multiturn, for
tests/e2e/test_chat_template.sh to compare with `chaejeom prompt`.

lm-eval's own ConfigurableTask.fewshot_context and build_qa_turn assemble
the prompt; the task is MMLU's YAML (doc_to_text, choices A-D, the
description, first_n shots from dev) over the local CSV files; the chat
template (chat-prompts/template.jinja) is rendered as transformers renders
it (jinja2 sandbox, trim_blocks, lstrip_blocks). Needs lm-eval in a venv:

    CHAEJEOM_ASSETS=<assets> <venv>/bin/python tests/golden/gen_chat_prompts.py
"""
import csv
import functools
import os
import types

from jinja2.sandbox import ImmutableSandboxedEnvironment
from lm_eval.api.task import ConfigurableTask
from lm_eval.utils import apply_template

ASSETS = os.environ.get("CHAEJEOM_ASSETS", "../shared/assets")
OUT = "tests/golden/chat-prompts"
DOC_TO_TEXT = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
DESCRIPTION = "The following are multiple choice questions (with answers) about anatomy.\n\n"
SHOTS = 2


def read(split):
    path = f"{ASSETS}/datasets/mmlu/{split}/anatomy_{split}.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return [{"question": r[0], "choices": r[1:5], "answer": "ABCD".index(r[5])} for r in csv.reader(f)]


def fake_task(dev):
    cfg = types.SimpleNamespace(description=DESCRIPTION, fewshot_delimiter="\n\n", target_delimiter=" ", doc_to_choice=True,
                                test_split="test")
    fs = types.SimpleNamespace(split="dev", doc_to_text=None, doc_to_choice=["A", "B", "C", "D"], doc_to_target=None,
                               gen_prefix=None, target_delimiter=" ", fewshot_delimiter="\n\n")
    t = types.SimpleNamespace(config=cfg, fewshot_cfg=fs, multiple_input=False)
    t.resolve_field = lambda doc, field: field
    t.sampler = types.SimpleNamespace(sample=lambda n, eval_doc=None: dev[:n])
    t.doc_to_text = lambda doc, _=None: apply_template(DOC_TO_TEXT, doc)
    t.doc_to_choice = lambda doc, _=None: ["A", "B", "C", "D"]
    t.doc_to_target = lambda doc, _=None: doc["answer"]
    t.build_qa_turn = functools.partial(ConfigurableTask.build_qa_turn, t)
    return t


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    with open(f"{OUT}/template.jinja", encoding="utf-8") as f:
        template = env.from_string(f.read())

    def chat(messages, add_generation_prompt=True):
        return template.render(messages=messages, add_generation_prompt=add_generation_prompt, bos_token="<s>",
                               eos_token="</s>", tools=None, documents=None)

    t = fake_task(read("dev"))
    doc = read("test")[0]
    cases = {
        "plain": {},
        "system": {"system_instruction": "Answer with one letter."},
        "chat": {"apply_chat_template": True},
        "chat_system": {"apply_chat_template": True, "system_instruction": "Answer with one letter."},
        "chat_multiturn": {"apply_chat_template": True, "fewshot_as_multiturn": True},
    }
    for name, kw in cases.items():
        ctx = ConfigurableTask.fewshot_context(t, doc, SHOTS, chat_template=chat, **kw)
        with open(f"{OUT}/{name}.txt", "w", encoding="utf-8") as f:
            f.write(ctx)


if __name__ == "__main__":
    main()
