#!/usr/bin/env python3
"""Makes the real quantized models of tests/golden/quant/ and llama.cpp's
log-probs for them, for tests/unit/test_quant_models.c.

stories260K.gguf (the llama.cpp golden, all F32) is quantized by llama.cpp
itself (llama_model_quantize, --pure: every 2-D tensor in the type) to each
type whose blocks fit its rows: its rows are 64 and 172 values long, so the
32-value types Q4_1, Q5_0, Q5_1 and IQ4_NL, with ffn_down (172) left in F16
by llama.cpp's own fallback. The 256-value types need rows of 256 and are
covered by the block goldens (make_quant_goldens.py) only.

The log-probs are llama.cpp's "F32 compute" ones, as in the shared goldens:
each quantized file is dequantized back to F32 by llama.cpp (llama-quantize
--allow-requantize ... F32), and that F32 file is scored with an F32 KV
cache, one sequence per context, every position's logits kept; log-softmax
in float64 from the float logits. The texts are those of the shared
stories260K golden. Run by hand, never by the tests:

    ~/.cache/chaejeom/venv/bin/python tests/golden/make_quant_models.py \\
        --src $CHAEJEOM_ASSETS/../golden/llamacpp
(a venv with llama-cpp-python and numpy). Writes stories260K-<type>.gguf and
stories260K-<type>.f32compute.logprobs.json.
"""
import argparse
import ctypes
import json
import pathlib
import tempfile

import llama_cpp
import numpy as np

TYPES = [("q4_1", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1), ("q5_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_0),
         ("q5_1", llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_1), ("iq4_nl", llama_cpp.LLAMA_FTYPE_MOSTLY_IQ4_NL)]


def quantize(src, dst, ftype, requantize=False, pure=True):
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = 1
    p.ftype = ftype
    p.pure = pure
    p.allow_requantize = requantize
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize {src} -> {dst} failed ({rc})")


def open_llm(model_path):
    """llama.cpp in F32 compute on an F32 file: F32 KV cache, no flash attention, 1 thread."""
    return llama_cpp.Llama(model_path=str(model_path), n_ctx=512, n_batch=512, n_ubatch=512, n_threads=1,
                           logits_all=True, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32,
                           flash_attn=False, verbose=False)


def score_ids(llm, ids):
    """ln p(ids[t] | ids[:t]) for t >= 1: one sequence, one context, log-softmax in float64."""
    llm.reset()
    llm.eval(ids)
    logits = np.asarray(llm.scores[:len(ids)], dtype=np.float32)
    lp = []
    for t in range(1, len(ids)):
        row = logits[t - 1]
        mx = row.max()
        lse = np.log(np.exp(row.astype(np.float64) - mx).sum())
        lp.append(float(row[ids[t]] - mx - lse))
    return lp


def logprobs(model_path, texts):
    llm = open_llm(model_path)
    out = []
    for text in texts:
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        out.append({"text": text, "ids": ids, "logprobs": score_ids(llm, ids)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="the shared llamacpp golden folder (stories260K.gguf and its logprobs)")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "quant"))
    a = ap.parse_args()
    src = pathlib.Path(a.src)
    texts = [t["text"] for t in json.loads((src / "stories260K.f32compute.logprobs.json").read_text())["texts"]]
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, ftype in TYPES:
            q = out / f"stories260K-{name}.gguf"
            quantize(src / "stories260K.gguf", q, ftype)
            f32 = pathlib.Path(tmp) / f"stories260K-{name}-f32.gguf"
            quantize(q, f32, llama_cpp.LLAMA_FTYPE_ALL_F32, requantize=True)
            golden = {"model": q.name, "llama_cpp_python": llama_cpp.__version__,
                      "note": "llama.cpp on the F32 dequantization of the file, F32 KV cache, 1 thread",
                      "texts": logprobs(f32, texts)}
            (out / f"stories260K-{name}.f32compute.logprobs.json").write_text(json.dumps(golden, indent=1) + "\n")
            n = sum(len(t["logprobs"]) for t in golden["texts"])
            print(f"{q.name}: {q.stat().st_size} bytes, {n} positions")


if __name__ == "__main__":
    main()
