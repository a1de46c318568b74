#!/usr/bin/env python3
"""Makes quantized mixtures of experts for tests/unit/test_quant_models.c:
tests/golden/quant/<model>-<type>.gguf and <model>-<type>.json.

llama.cpp itself (llama_model_quantize, its own presets) quantizes two MoE
GGUFs of tests/golden/arch/ (made by make_moe_goldens.py), so that expert
stacks (ffn_{gate,up,down}_exps, one [in, out, n_experts] tensor each) and
shared experts are read in a block type, not only in F16:
  mixtral-f16  -> mixtral-q8_0     Q8_0: every matrix and stack; the router
                                   (ffn_gate_inp) stays F32, as llama.cpp
                                   keeps it;
  qwen2moe-f16 -> qwen2moe-q4_k_m  Q4_K_M: rows of 64 values hold no
                                   256-block, so llama.cpp falls back per
                                   tensor (Q5_0 for Q4_K, Q8_0 for Q6_K).
The .json is as make_kquant_models.py writes it: every tensor's sha256 of
ggml's own dequantization (checked against llama-quantize's F32 copy and
gguf-py), and llama.cpp's F32-compute log-probs of the 4 golden texts (the
file dequantized to F32 by llama.cpp, F32 KV cache, flash attention off, 1
thread, log-softmax in float64).

Run by hand, never by the tests (a venv with numpy, gguf and
llama-cpp-python; deterministic):
    python tests/golden/make_moe_quant_models.py
"""
import argparse
import ctypes
import json
import pathlib
import tempfile

import llama_cpp

from make_kquant_models import write_golden
from make_quant_models import quantize

HERE = pathlib.Path(__file__).parent
MODELS = [("mixtral", "q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0),
          ("qwen2moe", "q4_k_m", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "quant"))
    a = ap.parse_args()
    ggml = ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    out = pathlib.Path(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        for model, name, ftype in MODELS:
            arch = HERE / "arch" / f"{model}-f16"
            texts = [t["text"] for t in json.loads((arch / "golden.json").read_text())["texts"]]
            q = out / f"{model}-{name}.gguf"
            quantize(arch / "model.gguf", q, ftype, pure=False)
            f32 = pathlib.Path(tmp) / f"{model}-{name}-f32.gguf"
            quantize(q, f32, llama_cpp.LLAMA_FTYPE_ALL_F32, requantize=True)
            write_golden(ggml, q, f32, texts, out / f"{model}-{name}.json", {"source": f"arch/{model}-f16"})


if __name__ == "__main__":
    main()
