#!/usr/bin/env python3
"""Makes tests/golden/arch/<name>/llamacpp.json: llama.cpp's own log-probs for
each architecture GGUF of tests/golden/arch/ (made by make_arch_goldens.py),
for tests/unit/test_arch_llamacpp.c.

llama.cpp scores the golden.json token ids of each text (the ids
transformers' tokenizer gave, which ours reproduces) in "F32 compute": an
F32 file is scored as it is; an F16 file is first widened to F32 by
llama.cpp itself (llama-quantize --allow-requantize ... F32; exact), since
llama.cpp multiplies F16 weights by activations rounded to F16. F32 KV
cache, flash attention off, 1 thread, one sequence per context, all logits
kept; log-softmax in float64 from its float logits. Each file also records
whether llama.cpp's tokenizer gives the same ids, the max |Δ| between
llama.cpp and transformers' float64 log-probs (golden.json), and for F16
files how far llama.cpp's run of the F16 file as it is lands from that.

Run by hand, never by the tests (a venv with numpy and llama-cpp-python;
deterministic):
    python tests/golden/make_llamacpp_goldens.py [NAME ...]
"""
import argparse
import json
import pathlib
import tempfile

import llama_cpp

from make_quant_models import open_llm, quantize, score_ids

ARCH = pathlib.Path(__file__).parent / "arch"


def score(path, texts):
    """llama.cpp's log-probs of the given ids, and whether its tokenizer agrees."""
    llm = open_llm(path)
    out, same_ids = [], True
    for tx in texts:
        same_ids &= llm.tokenize(tx["text"].encode(), add_bos=True, special=False) == tx["ids"]
        out.append({"text": tx["text"], "ids": tx["ids"], "logprobs": score_ids(llm, tx["ids"])})
    return out, same_ids


def make(name, tmp):
    d = ARCH / name
    golden = json.loads((d / "golden.json").read_text())
    src = d / "model.gguf"
    f16 = "f16" in name
    if f16:
        wide = pathlib.Path(tmp) / f"{name}-f32.gguf"
        quantize(src, wide, llama_cpp.LLAMA_FTYPE_ALL_F32, requantize=True, pure=True)
        src = wide
    texts, same_ids = score(src, golden["texts"])
    hf = max(abs(a - p["logprob"]) for t, g in zip(texts, golden["texts"])
             for a, p in zip(t["logprobs"], g["positions"]))
    out = {"model": name, "llama_cpp_python": llama_cpp.__version__,
           "note": ("llama.cpp on model.gguf widened to F32 by llama-quantize" if f16 else
                    "llama.cpp on model.gguf") + ", F32 KV cache, flash attention off, 1 thread; "
                    "the ids of golden.json",
           "llamacpp_tokenizer_same_ids": same_ids, "max_abs_diff_vs_transformers": hf, "texts": texts}
    if f16:  # for the record: llama.cpp's own path on the F16 file (activations rounded to F16)
        as_is, _ = score(d / "model.gguf", golden["texts"])
        out["max_abs_diff_f16_file_as_is"] = max(abs(a - b) for t, u in zip(texts, as_is)
                                                 for a, b in zip(t["logprobs"], u["logprobs"]))
    (d / "llamacpp.json").write_text(json.dumps(out, indent=1) + "\n")
    extra = f"; the F16 file as is differs by {out['max_abs_diff_f16_file_as_is']:.2e}" if f16 else ""
    print(f"{name}: max |d| vs transformers {hf:.2e}; llama.cpp's ids {'agree' if same_ids else 'DIFFER'}{extra}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="models under tests/golden/arch/ (default: every one with a model.gguf)")
    a = ap.parse_args()
    names = a.names or sorted(p.parent.name for p in ARCH.glob("*/model.gguf"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            make(name, tmp)


if __name__ == "__main__":
    main()
