#!/usr/bin/env python3
"""Makes tests/fixtures/polyglot-ko-tiny/: a Polyglot-ko-shaped GPT-NeoX
checkpoint (random weights) for the KoBEST end-to-end test
(tests/e2e/test_kobest_neox.sh).

Polyglot-ko's layout at a tiny size: GPTNeoXForCausalLM, parallel residual,
rotary_pct 0.5, separate embed_out, exact GELU, F16, no BOS; hidden 64,
2 layers, 4 heads, ffn 256. Its tokenizer is a byte-level BPE (GPT-2
pre-tokenizer, as Polyglot-ko's) of 1,024 tokens trained here on the text
of KoBEST's train splits, so that Hangul syllables and common words are
single tokens (Polyglot-ko's own tokenizer.json is not shipped by any
registry package). golden.json holds, for a few KoBEST-shaped texts, the
ids HF tokenizers gives and transformers' float64 log-probs (from the
stored F16 weights).

Run by hand (CI only reads the output; deterministic), in a venv with torch
(CPU), transformers, tokenizers and safetensors:
    CHAEJEOM_ASSETS=../shared/assets python tests/golden/make_polyglot_tiny.py
"""
import csv
import json
import os
import pathlib

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "polyglot-ko-tiny"
VOCAB = 1024
SEED = 1300
TEXTS = [
    "새로 산 바지의 허리가 컸다. 그 결과로, 벨트를 바지에 끼워 사이즈를 조절했다.",
    "문장: 영화를 보고 눈물을 흘렸다.\n질문: 이 문장은 긍정적인가요?\n답변: 부정",
    "Polyglot-ko 12.8B는 한국어 KoBEST에서 평가되었다. 숫자 2024와 기호 #@!",
]


def kobest_lines(assets):
    """Every text field of KoBEST's train splits, in file order."""
    root = pathlib.Path(assets) / "datasets" / "kobest"
    for task in ("BoolQ", "COPA", "HellaSwag", "SentiNeg", "WiC"):
        with open(root / task / "train.tsv", encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                yield from (c for c in row[1:] if c and not c.isdigit())


def make_tokenizer(assets):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(kobest_lines(assets)), trainer)
    return tok


def make_model():
    cfg = GPTNeoXConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=2048, use_parallel_residual=True,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
                        bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(SEED)
    m = GPTNeoXForCausalLM(cfg)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in sorted(m.named_parameters()):
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + (0.3 if p.ndim == 1 else 0.12) * torch.randn(p.shape, generator=g))
    return m.to(torch.float16)


def golden(tok):
    stored = GPTNeoXForCausalLM.from_pretrained(OUT, dtype=torch.float64).eval()
    texts = []
    for text in TEXTS:
        ids = tok.encode(text).ids
        with torch.no_grad():
            lp = torch.log_softmax(stored(torch.tensor([ids])).logits[0], dim=-1)
        texts.append({"text": text, "ids": ids, "logprobs": [lp[t - 1, ids[t]].item() for t in range(1, len(ids))]})
    return {"model": "polyglot-ko-tiny", "note": "ids from HF tokenizers; log-probs from transformers in float64 "
            "on the stored F16 weights", "texts": texts}


def main():
    repo = OUT.parent.parent.parent
    assets = os.environ.get("CHAEJEOM_ASSETS", str(repo / ".." / "shared" / "assets"))
    OUT.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(assets)
    make_model().save_pretrained(OUT)
    (OUT / "generation_config.json").unlink(missing_ok=True)
    tok.save(str(OUT / "tokenizer.json"))
    g = golden(tok)
    (OUT / "golden.json").write_text(json.dumps(g, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for t in g["texts"]:
        print(f"{len(t['text'].encode())} bytes -> {len(t['ids'])} tokens")


if __name__ == "__main__":
    main()
