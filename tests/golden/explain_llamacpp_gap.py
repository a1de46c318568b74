#!/usr/bin/env python3
"""Explains where llama.cpp's log-probs depart from transformers' on the
architecture goldens of tests/golden/arch/: for each model it scores the
golden ids with llama.cpp, with our forward pass and with transformers in
float64, then once more with transformers in float64 with llama.cpp's known
numeric departures put in, and prints per model the max |Δ| (and mean) of
ours, of transformers and of that emulation against llama.cpp. Where the
emulation lands within ~1e-4 of llama.cpp while transformers does not, the
departures emulated are the cause of the gap. The last column is the same
emulation run in float32 against float64: every f16 rounding emulated turns
a change far below it into a whole f16 step now and then, so no emulation
gets closer to llama.cpp (which computes in float32) than about that floor.
--per-matrix adds, for the Llama-named F16 models, llama.cpp's runs of the
file with every F16 tensor widened to F32 but one kind, against the
emulation rounding that kind's products only. Nothing here is used by the
tests; docs/models.md ("Checks against llama.cpp") records the output.

The departures emulated (read from ggml's CPU backend):
- GELU: ggml_vec_gelu_f32 (and the GeGLU of Gemma, the same lookup times the
  up projection) rounds its f32 input to f16 and reads gelu(x) from a
  65,536-entry f16 table of the tanh approximation computed in f32;
  x <= -10 gives 0 and x >= 10 gives x. Applied wherever transformers has a
  GELU (GPT-NeoX's exact erf, GPT-2's gelu_new, Gemma's gelu_pytorch_tanh).
- F16 weights: ggml's CPU product converts the activation rows to the
  weight type's vec_dot_type, F16 for F16 weights, before the dot products
  (f32 first, then f16). Applied to every product with a matrix the GGUF
  holds in F16 (all but the MoE routers, which stay F32), in the runs of
  the F16 files as they are.
- Sliding window: llama.cpp's `llama` architecture ignores
  llama.attention.sliding_window, so mistral-swa16-f32 is emulated with no
  window.
llama.cpp is run as tests/golden/make_llamacpp_goldens.py runs it: F32 KV
cache, flash attention off, 1 thread, log-softmax in float64 from its float
logits; "f32" is the F32 file, or the F16 file widened to F32 by
llama-quantize (exact), "f16 as is" the F16 file itself.

Run by hand from the repository root, in a venv with torch, transformers
(and gguf, for --per-matrix), naming a Python that has llama-cpp-python and
numpy, after `make`:
    python tests/golden/explain_llamacpp_gap.py --llama-python PY [--per-matrix] [NAME ...]
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).parent
ARCH = HERE / "arch"
ROUTER = re.compile(r"(\.gate\.weight|shared_expert_gate\.weight)$")  # MoE routers: F32 in the GGUF
# --per-matrix: a GGUF matrix kind and the transformers modules that multiply by it
# (Llama-named models: qwen3, qwen2.5, exaone; the tied output is token_embd)
PER_MATRIX = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_output": "o_proj",
              "ffn_gate": "gate_proj", "ffn_up": "up_proj", "ffn_down": "down_proj", "token_embd": "lm_head"}


# --- llama.cpp's side (run under --llama-python, imports llama_cpp) ---

def llamacpp_main(out_path, names, extra):
    """llama.cpp's log-probs of each model's golden ids, per run; extra
    ({name: {run: path}}) adds runs of other files of the same model."""
    import llama_cpp
    from make_quant_models import open_llm, quantize, score_ids
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            d = ARCH / name
            texts = json.loads((d / "golden.json").read_text())["texts"]
            src, runs = d / "model.gguf", {}
            if "f16" in name:
                runs["f16 as is"] = src
                src = pathlib.Path(tmp) / f"{name}-f32.gguf"
                quantize(d / "model.gguf", src, llama_cpp.LLAMA_FTYPE_ALL_F32, requantize=True, pure=True)
            runs = {"f32": src, **runs, **extra.get(name, {})}
            out[name] = {}
            for run, path in runs.items():
                llm = open_llm(path)
                out[name][run] = [score_ids(llm, t["ids"]) for t in texts]
                del llm
    pathlib.Path(out_path).write_text(json.dumps(out))


def widen_but(src, dst, kind):
    """A copy of an F16 GGUF with every F16 tensor widened to F32 (exact)
    except those of one matrix kind (blk.N.<kind>.weight, or token_embd)."""
    import gguf
    import numpy as np
    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(dst), r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if not name.startswith("GGUF.") and name != "general.architecture":
            sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(name, f.contents(), f.types[0], sub_type=sub)
    for t in r.tensors:
        data, shape = np.array(t.data), [int(x) for x in reversed(t.shape)]
        if t.tensor_type == gguf.GGMLQuantizationType.F16 and t.name.split(".")[-2] != kind:
            w.add_tensor(t.name, data.astype(np.float32).reshape(shape))
        else:
            w.add_tensor(t.name, data.reshape(shape), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --- ours ---

def ours(chaejeom, name, texts):
    out = []
    for t in texts:
        r = subprocess.run([chaejeom, "logprobs", "-m", str(ARCH / name / "model.gguf"), "--text", t["text"],
                            "--json", "-t", "1"], check=True, capture_output=True, text=True)
        j = json.loads(r.stdout)
        assert j["ids"] == t["ids"], f"{name}: our ids differ from golden.json's"
        out.append(j["logprobs"][1:])
    return out


# --- transformers, plain and with llama.cpp's departures ---

def gelu_table():
    """ggml's table: gelu_tanh(h) in f32 arithmetic, rounded to f16, for every f16 h."""
    import numpy as np
    import torch
    with np.errstate(all="ignore"):
        x = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
        c, a = np.float32(0.79788456080286535587989211986876), np.float32(0.044715)
        y = np.float32(0.5) * x * (np.float32(1) + np.tanh(c * x * (np.float32(1) + a * x * x)))
    return torch.from_numpy(y.astype(np.float16).astype(np.float64))


def table_gelu(table):
    """llama.cpp's GELU as a module, in place of transformers' (a function,
    since torch is not imported in the llama.cpp half)."""
    import torch

    class TableGelu(torch.nn.Module):
        def forward(self, x):
            x32 = x.float()
            y = table[x32.half().view(torch.int16).long() & 0xFFFF].to(x.dtype)
            y = torch.where(x32 >= 10, x, y)
            return torch.where(x32 <= -10, torch.zeros_like(x), y)

    return TableGelu()


GELUS = ("GELUActivation", "NewGELUActivation", "GELUTanh", "PytorchGELUTanh", "GELUPytorchTanh")


def swap_gelus(model, table):
    """Every GELU submodule of the model becomes the table's; returns how many."""
    n = 0
    for mod in list(model.modules()):
        for attr, child in list(mod.named_children()):
            if type(child).__name__ in GELUS:
                setattr(mod, attr, table_gelu(table))
                n += 1
    return n


def load(name, window=True, dtype=None):
    """The HF folder in float64 (or dtype), as golden.json's was loaded
    (the attention implementation its config picks)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    d = ARCH / name
    cfg = AutoConfig.from_pretrained(d)
    if not window:
        cfg.sliding_window = None
    m = AutoModelForCausalLM.from_pretrained(d, config=cfg, dtype=dtype or torch.float64).eval()
    if getattr(cfg, "num_local_experts", None) or getattr(cfg, "num_experts", None):
        m.set_experts_implementation("eager")  # the golden's expert loop (grouped_mm takes no float64)
    return m


def score(model, texts, f16_storages=None):
    """Per-position log-probs in float64; products with a matrix whose storage
    is in f16_storages see their input rounded f64 -> f32 -> f16 first."""
    import torch
    import torch.nn.functional as F
    from transformers.pytorch_utils import Conv1D
    lin, conv = F.linear, Conv1D.forward

    def rounded(x):
        return x.float().half().to(x.dtype)

    def linear16(x, w, b=None):
        return lin(rounded(x) if w.untyped_storage().data_ptr() in f16_storages else x, w, b)

    def conv16(self, x):
        return conv(self, rounded(x) if self.weight.untyped_storage().data_ptr() in f16_storages else x)

    if f16_storages:
        F.linear, Conv1D.forward = linear16, conv16
    try:
        out = []
        for t in texts:
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([t["ids"]])).logits[0].double(), dim=-1)
            out.append([lp[i - 1, t["ids"][i]].item() for i in range(1, len(t["ids"]))])
        return out
    finally:
        F.linear, Conv1D.forward = lin, conv


def f16_storages(model, module=None):
    """The matrices the GGUF holds in F16 (or only the weights of the modules
    named module: a tied lm_head is a parameter of embed_tokens only)."""
    if module:
        return {m.weight.untyped_storage().data_ptr() for n, m in model.named_modules() if n.split(".")[-1] == module}
    return {p.untyped_storage().data_ptr() for n, p in model.named_parameters()
            if p.dim() >= 2 and not ROUTER.search(n)}


def diff(a, b):
    d = [abs(x - y) for u, v in zip(a, b) for x, y in zip(u, v)]
    return max(d), sum(d) / len(d), len(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="models under tests/golden/arch/ (default: every one with a model.gguf)")
    ap.add_argument("--llama-python", default=sys.executable, help="a Python with llama-cpp-python")
    ap.add_argument("--chaejeom", default="build/chaejeom")
    ap.add_argument("--per-matrix", action="store_true",
                    help="also the F16 file with one matrix kind left F16 at a time (Llama-named F16 models)")
    ap.add_argument("--llamacpp-only", nargs=2, metavar=("OUT", "EXTRA"), help=argparse.SUPPRESS)  # in its venv
    a = ap.parse_args()
    names = a.names or sorted(p.parent.name for p in ARCH.glob("*/model.gguf"))
    if a.llamacpp_only:
        return llamacpp_main(a.llamacpp_only[0], names, json.loads(pathlib.Path(a.llamacpp_only[1]).read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        extra = {}
        for name in names if a.per_matrix else []:
            if "f16" in name and (ARCH / name / "model.gguf").exists() and re.match("(qwen3|qwen2.5|exaone)-", name):
                for kind in PER_MATRIX:
                    path = pathlib.Path(tmp) / f"{name}-{kind}.gguf"
                    widen_but(ARCH / name / "model.gguf", path, kind)
                    extra.setdefault(name, {})[f"f16 {kind} only"] = str(path)
        (pathlib.Path(tmp) / "extra.json").write_text(json.dumps(extra))
        out = pathlib.Path(tmp) / "llamacpp.json"
        r = subprocess.run([a.llama_python, __file__, "--llamacpp-only", str(out),
                            str(pathlib.Path(tmp) / "extra.json"), *names], capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr)
        lc = json.loads(out.read_text())
    import torch
    from transformers.utils import logging
    logging.disable_progress_bar()
    table = gelu_table()
    print(f"{'model':18} {'llama.cpp run':20} {'ours':>17} {'transformers':>17} {'emulated':>17}"
          f" {'emulation f32':>17}  emulated")
    print(f"{'':39} {'max / mean |Δ| vs llama.cpp':^53} {'vs f64':^17}")
    for name in names:
        texts = json.loads((ARCH / name / "golden.json").read_text())["texts"]
        gold = [[p["logprob"] for p in t["positions"]] for t in texts]
        mine = ours(a.chaejeom, name, texts)
        tf = score(load(name), texts)
        # golden.json is transformers float64 of an earlier release: the same up to ~1e-7
        assert diff(tf, gold)[0] < 1e-6, f"{name}: transformers no longer gives golden.json"
        # the emulation, and the same in float32: how far the emulated roundings
        # carry a change far below them (the floor an emulation can reach)
        emus = [load(name, window="mistral" not in name, dtype=dt) for dt in (torch.float64, torch.float32)]
        what = []
        if "mistral" in name:
            what.append("no window")
        if [swap_gelus(m, table) for m in emus][0]:
            what.append("f16-table GELU")
        for run, ref in lc[name].items():
            kind = run.split()[1] if run.endswith(" only") else None
            f16 = run == "f16 as is" or kind
            em, em32 = (score(m, texts, f16_storages(m, PER_MATRIX.get(kind)) if f16 else None) for m in emus)
            cells = [f"{m:.1e} / {u:.1e}" for m, u, _ in (diff(x, y) for x, y in
                                                          ((mine, ref), (tf, ref), (em, ref), (em32, em)))]
            into = f"f16 activations into {kind}'s products" if kind else "f16 activations into F16 products"
            label = ", ".join(what + ([into] if f16 else [])) or "nothing"
            print(f"{name:18} {run:20} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17} {cells[3]:>17}  {label}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
