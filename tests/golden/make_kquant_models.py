#!/usr/bin/env python3
"""Makes the real 256-value-block quantized models of tests/golden/quant/
(llama256-<type>.gguf, llama512-<type>.gguf) and their goldens, for
tests/unit/test_quant_models.c.

stories260K's rows (64 and 172 values) cannot hold blocks of 256, so this
writes a seeded random-weight Llama whose every matrix row is whole
256-blocks: dim 256, 1 layer, 4 heads of 64 (2 KV heads), ffn 256, the
384-token byte-level BPE vocabulary of tests/golden/arch/ (tied
embeddings), as an F32 GGUF (each quantized file stays under ~400 KB).
llama.cpp itself (llama_model_quantize) quantizes it:
  Q2_K, Q3_K, Q5_K, IQ4_XS   --pure: every 2-D tensor in the type;
  Q4_K_M, Q5_K_M             llama.cpp's own mixes (token_embd, the tied
                             output, in Q6_K; attn_v and ffn_down in Q6_K);
  Q6_K                       its Q6_K preset (every 2-D tensor in Q6_K).

llama256's rows are one block each, so a second model, llama512, has rows
of two: dim 512 (token_embd, attn_q/k/v, ffn_gate/up read 512 values per
row), 2 heads of 128 (q_dim 256, so attention.key_length is set) and 1 KV
head, ffn 256; the same seed and vocabulary. Only the Q4_K_M and Q6_K
presets are made of it (~650 and ~800 KB): a super-block index that is
wrong past the first block of a row shows in either.

For each file, <stem>.json records:
- tensors: each tensor's name, ggml type and the sha256 of the little-endian
  floats ggml's dequantization gives for it (ggml's dequantize_row_<type> on
  the file's bytes, called through libggml-base; the same bytes as
  llama-quantize's F32 requantization and gguf-py's numpy dequantizer, both
  checked here).
- texts: the 4 texts of tests/golden/arch/, their ids (llama.cpp's
  tokenizer) and llama.cpp's log-probs in "F32 compute": the file is
  dequantized back to F32 by llama.cpp (llama-quantize --allow-requantize
  ... F32) and that F32 file is scored with an F32 KV cache, flash attention
  off, 1 thread, one sequence per context, all logits kept; log-softmax in
  float64 from the float logits. (llama.cpp run on the quantized file itself
  would round each product's activations to Q8_K, so it is not comparable
  to 1e-4.)

Run by hand, never by the tests (a venv with numpy, gguf and
llama-cpp-python; deterministic):
    python tests/golden/make_kquant_models.py [llama256|llama512 ...]
"""
import argparse
import ctypes
import hashlib
import json
import pathlib
import tempfile

import gguf
import llama_cpp
import numpy as np

from make_quant_models import logprobs, quantize

HERE = pathlib.Path(__file__).parent
SEED = 256
TYPES = [("q2_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q2_K, True), ("q3_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q3_K_M, True),
         ("q5_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M, True), ("iq4_xs", llama_cpp.LLAMA_FTYPE_MOSTLY_IQ4_XS, True),
         ("q4_k_m", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, False),
         ("q5_k_m", llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M, False), ("q6_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K, False)]
DEQ = {2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 10: "q2_K", 11: "q3_K", 12: "q4_K", 13: "q5_K",
       14: "q6_K", 20: "iq4_nl", 23: "iq4_xs"}
# name: dim, ffn, heads, head_dim, KV heads, types (1 layer each)
MODELS = {"llama256": (256, 256, 4, 64, 2, TYPES),
          "llama512": (512, 256, 2, 128, 1, [t for t in TYPES if t[0] in ("q4_k_m", "q6_k")])}


def add_vocab(w, tokpath):
    j = json.loads(tokpath.read_text(encoding="utf-8"))
    tokens = [None] * len(j["model"]["vocab"])
    for s, i in j["model"]["vocab"].items():
        tokens[i] = s
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t == "<|endoftext|>" else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)
    return len(tokens)


def write_f32(path, tokpath, shape):
    """The source model: F32 weights ~ N(0, 1/in), norms 1 + 0.1 N(0, 1)."""
    DIM, FF, N_HEAD, HEAD_DIM, N_KV, _ = shape
    N_LAYER = 1
    rng = np.random.default_rng(SEED)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(512)
    w.add_embedding_length(DIM)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(FF)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    if N_HEAD * HEAD_DIM != DIM:
        w.add_key_length(HEAD_DIM)
        w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0)
    n_vocab = add_vocab(w, tokpath)

    def mat(name, rows, cols, gain=1.0):
        w.add_tensor(name, (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32))

    def norm(name):
        w.add_tensor(name, (1 + 0.1 * rng.standard_normal(DIM)).astype(np.float32))

    kv, qd = HEAD_DIM * N_KV, HEAD_DIM * N_HEAD
    mat("token_embd.weight", n_vocab, DIM, 2.0)
    for l in range(N_LAYER):
        norm(f"blk.{l}.attn_norm.weight")
        mat(f"blk.{l}.attn_q.weight", qd, DIM)
        mat(f"blk.{l}.attn_k.weight", kv, DIM)
        mat(f"blk.{l}.attn_v.weight", kv, DIM)
        mat(f"blk.{l}.attn_output.weight", DIM, qd)
        norm(f"blk.{l}.ffn_norm.weight")
        mat(f"blk.{l}.ffn_gate.weight", FF, DIM)
        mat(f"blk.{l}.ffn_up.weight", FF, DIM)
        mat(f"blk.{l}.ffn_down.weight", DIM, FF)
    norm("output_norm.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def ggml_floats(ggml, t):
    """ggml's own dequantization of a tensor of the quantized file."""
    raw = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
    n = int(np.prod(t.shape))
    if t.tensor_type == gguf.GGMLQuantizationType.F32:
        return raw.view("<f4").copy()
    y = np.zeros(n, np.float32)
    name = "ggml_fp16_to_fp32_row" if t.tensor_type == gguf.GGMLQuantizationType.F16 else \
        "dequantize_row_" + DEQ[int(t.tensor_type)]
    fn = getattr(ggml, name)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(raw.ctypes.data, y.ctypes.data, n)
    return y


def tensor_hashes(ggml, qpath, f32path):
    """Per tensor: sha256 of ggml's floats; asserts llama-quantize's F32 copy
    and gguf-py's dequantizer give the same bits."""
    back = {t.name: t for t in gguf.GGUFReader(str(f32path)).tensors}
    out = []
    for t in gguf.GGUFReader(str(qpath)).tensors:
        y = ggml_floats(ggml, t)
        f32 = np.ascontiguousarray(back[t.name].data).reshape(-1).astype("<f4")
        py = gguf.quants.dequantize(np.ascontiguousarray(t.data), t.tensor_type).reshape(-1).astype("<f4")
        assert y.tobytes() == f32.tobytes(), f"{t.name}: llama-quantize F32 differs from dequantize_row"
        assert y.tobytes() == py.tobytes(), f"{t.name}: gguf-py differs from dequantize_row"
        out.append({"name": t.name, "type": t.tensor_type.name, "n": int(y.size),
                    "sha256_f32": hashlib.sha256(y.astype("<f4").tobytes()).hexdigest()})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "quant"))
    ap.add_argument("models", nargs="*", choices=[[]] + list(MODELS), help="default: both")
    a = ap.parse_args()
    arch = HERE / "arch" / "llama3-scaled-f32"
    texts = [t["text"] for t in json.loads((arch / "golden.json").read_text())["texts"]]
    ggml = ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    out = pathlib.Path(a.out)
    for model in a.models or MODELS:
        make(model, MODELS[model], arch, texts, ggml, out)


def make(model, shape, arch, texts, ggml, out):
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / f"{model}-f32.gguf"
        write_f32(src, arch / "tokenizer.json", shape)
        for name, ftype, pure in shape[-1]:
            q = out / f"{model}-{name}.gguf"
            quantize(src, q, ftype, pure=pure)
            f32 = pathlib.Path(tmp) / f"{name}-f32.gguf"
            quantize(q, f32, llama_cpp.LLAMA_FTYPE_ALL_F32, requantize=True)
            write_golden(ggml, q, f32, texts, out / f"{model}-{name}.json", {"pure": pure})


def write_golden(ggml, q, f32, texts, path, extra):
    """The golden of quantized file q (f32: its F32 dequantization) into path: the
    tensors' hashes and llama.cpp's log-probs of texts; extra's fields after the version."""
    golden = {"model": q.name, "llama_cpp_python": llama_cpp.__version__, **extra,
              "note": "llama.cpp on the F32 dequantization of the file, F32 KV cache, 1 thread; "
                      "sha256_f32: ggml's dequantize_row_* of each tensor, little-endian floats",
              "tensors": tensor_hashes(ggml, q, f32), "texts": logprobs(f32, texts)}
    path.write_text(json.dumps(golden, indent=1) + "\n")
    types = sorted({t["type"] for t in golden["tensors"]})
    n = sum(len(t["logprobs"]) for t in golden["texts"])
    print(f"{q.name}: {q.stat().st_size} bytes, types {types}, {n} positions")


if __name__ == "__main__":
    main()
