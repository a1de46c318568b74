#!/usr/bin/env python3
"""Makes tests/golden/quant/: blocks of each GGUF quant type and the floats
ggml's own dequantize_row_* gives for them, for tests/unit/test_quant_golden.c.

Run by hand, never by the tests (CI has no PyPI). Needs numpy, gguf (gguf-py,
for a second opinion on every float) and llama-cpp-python's shared libraries,
whose libggml-base.so holds ggml's reference quantizers and dequantizers:

    python3 -m venv ~/.cache/chaejeom/venv-quant
    ~/.cache/chaejeom/venv-quant/bin/pip install numpy gguf llama-cpp-python
    ~/.cache/chaejeom/venv-quant/bin/python tests/golden/make_quant_goldens.py
    # or, with llama-cpp-python installed elsewhere:  --ggml-lib DIR/llama_cpp/lib

For each type, <type>.blocks holds N_VALUES / block_size blocks: the first
half quantized by ggml_quantize_chunk from seeded random floats (the layout
real files have), the second half random bytes with finite random f16
scales (every bit of every field exercised, subnormal and negative scales
included); <type>.f32 holds the N_VALUES little-endian floats that ggml's
dequantize_row_<type> returns for them. The output is deterministic.
"""
import argparse
import ctypes
import pathlib
import sys

import numpy as np

N_VALUES = 2048
SEED = 15

# name, ggml type id, elements per block, bytes per block, byte offsets of the f16 scale fields
TYPES = [
    ("Q4_1", 3, 32, 20, [0, 2]),
    ("Q5_0", 6, 32, 22, [0]),
    ("Q5_1", 7, 32, 24, [0, 2]),
    ("IQ4_NL", 20, 32, 18, [0]),
    ("Q2_K", 10, 256, 84, [80, 82]),
    ("Q3_K", 11, 256, 110, [108]),
    ("Q5_K", 13, 256, 176, [0, 2]),
    ("IQ4_XS", 23, 256, 136, [0]),
]


def find_ggml_lib(arg):
    if arg:
        return pathlib.Path(arg)
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama_cpp is not importable here: pass --ggml-lib DIR (the folder holding libggml-base.so)")
    return pathlib.Path(llama_cpp.__file__).parent / "lib"


def random_f16(rng, n):
    """Finite f16 scales of every kind: typical weights' scales, large ones,
    subnormals, zero, both signs."""
    kinds = rng.integers(0, 4, n)
    mag = np.where(kinds == 0, rng.uniform(1e-4, 1e-1, n),
          np.where(kinds == 1, rng.uniform(1e-1, 6e4, n),
          np.where(kinds == 2, rng.uniform(0, 6e-5, n), 0.0)))
    sign = np.where(rng.integers(0, 2, n) == 1, -1.0, 1.0)
    return (sign * mag).astype(np.float16)


def make_blocks(ggml, rng, tid, block, nbytes, f16_fields):
    nblocks = N_VALUES // block
    n_quant = nblocks // 2
    x = rng.standard_normal(n_quant * block).astype(np.float32)
    # per-block scales and offsets, so that mins and scales vary
    x *= np.repeat(rng.uniform(0.01, 4.0, n_quant), block).astype(np.float32)
    x += np.repeat(rng.uniform(-1.0, 1.0, n_quant), block).astype(np.float32)
    quant = np.zeros(n_quant * nbytes, np.uint8)
    ggml.ggml_quantize_chunk(tid, x.ctypes.data, quant.ctypes.data, 0, n_quant, block, None)
    raw = rng.integers(0, 256, (nblocks - n_quant, nbytes), dtype=np.uint8)
    for off in f16_fields:
        raw[:, off:off + 2] = random_f16(rng, nblocks - n_quant).view(np.uint8).reshape(-1, 2)
    return np.concatenate([quant, raw.reshape(-1)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ggml-lib", help="folder holding libggml-base.so (default: llama_cpp's)")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "quant"))
    a = ap.parse_args()
    ggml = ctypes.CDLL(str(find_ggml_lib(a.ggml_lib) / "libggml-base.so"))
    ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
    ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    try:
        import gguf.quants
    except ImportError:
        gguf = None
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for name, tid, block, nbytes, f16_fields in TYPES:
        blocks = make_blocks(ggml, rng, tid, block, nbytes, f16_fields)
        y = np.zeros(N_VALUES, np.float32)
        deq = getattr(ggml, "dequantize_row_" + name.lower().replace("_k", "_K"))
        deq.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        deq(blocks.ctypes.data, y.ctypes.data, N_VALUES)
        note = ""
        if gguf is not None:
            ref = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType(tid)).reshape(-1)
            same = np.array_equal(ref.view(np.uint32), y.view(np.uint32))
            note = "gguf-py agrees bit for bit" if same else "gguf-py DIFFERS"
        (out / (name.lower() + ".blocks")).write_bytes(blocks.tobytes())
        (out / (name.lower() + ".f32")).write_bytes(y.astype("<f4").tobytes())
        print(f"{name}: {len(blocks)} bytes of blocks, {N_VALUES} floats; {note}")


if __name__ == "__main__":
    main()
