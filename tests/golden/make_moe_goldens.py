#!/usr/bin/env python3
"""Small random-weight mixture-of-experts checkpoints and their transformers
log-probs, for tests/unit/test_moe.c (same files and golden.json format as
make_arch_goldens.py, whose tokenizer, texts and helpers this reuses).

Writes tests/golden/arch/<name>/ for each model: the HF folder (per-expert
tensors, as the Hub's checkpoints have them), model.gguf laid out as
llama.cpp's convert_hf_to_gguf.py does (each layer's experts stacked into
3-D ffn_{gate,up,down}_exps tensors, the router ffn_gate_inp and Qwen2-MoE's
shared-expert gate kept F32), and golden.json from transformers in float64.

Models (dim 64, 2 layers):
  mixtral-f16    MixtralForCausalLM, 8 experts, top 2 (renormalized), GQA 4/2;
                 its GGUF is arch "llama" with llama.expert_count, Q/K permuted
  qwen3moe-f16   Qwen3MoeForCausalLM, 8 experts, top 2, norm_topk_prob true,
                 q/k norms per head, head_dim 32 (q_dim 128)
  qwen2moe-f16   Qwen2MoeForCausalLM, 4 experts, top 2, norm_topk_prob false,
                 a shared expert (width 48) with its sigmoid gate, Q/K/V biases
  olmoe-f32      OlmoeForCausalLM, 4 experts, top 2, norm_topk_prob false, q/k
                 norms over the whole projections

Run by hand, in the same venv as make_arch_goldens.py:
    python tests/golden/make_moe_goldens.py [NAME ...]
"""
import os
import sys

import numpy as np
import torch
from transformers import (MixtralConfig, MixtralForCausalLM, OlmoeConfig, OlmoeForCausalLM, Qwen2MoeConfig,
                          Qwen2MoeForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM)
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_arch_goldens  # noqa: E402
from make_arch_goldens import OUT, build, make_tokenizer, randomize  # noqa: E402

_golden = make_arch_goldens.golden
_finish = make_arch_goldens.finish


def golden_eager(model, *args):
    """The default grouped_mm experts take no float64: the eager loop over
    experts (transformers' reference) computes the golden."""
    model.set_experts_implementation("eager")
    return _golden(model, *args)


make_arch_goldens.golden = golden_eager  # what build() calls


def put(w, name, t, f16):
    """Matrices and expert stacks in F16 when asked; vectors, the routers
    and the shared-expert gate F32, as the converter keeps them."""
    a = t.detach().float().numpy()
    keep32 = a.ndim == 1 or "ffn_gate_inp" in name
    w.add_tensor(name, a.astype(np.float16) if f16 and not keep32 else a)


SHARED = {"mlp.gate": "ffn_gate_inp", "mlp.shared_expert.gate_proj": "ffn_gate_shexp",
          "mlp.shared_expert.up_proj": "ffn_up_shexp", "mlp.shared_expert.down_proj": "ffn_down_shexp",
          "mlp.shared_expert_gate": "ffn_gate_inp_shexp", "block_sparse_moe.gate": "ffn_gate_inp"}


def experts(sd, l, n, mixtral):
    """The layer's experts stacked [n, rows, cols] per GGUF stack name."""
    p = f"model.layers.{l}."
    parts = ({"w1": "ffn_gate_exps", "w3": "ffn_up_exps", "w2": "ffn_down_exps"} if mixtral else
             {"gate_proj": "ffn_gate_exps", "up_proj": "ffn_up_exps", "down_proj": "ffn_down_exps"})
    src = p + ("block_sparse_moe.experts." if mixtral else "mlp.experts.")
    return {gg: torch.stack([sd[f"{src}{x}.{hf}.weight"] for x in range(n)]) for hf, gg in parts.items()}


def gguf_moe(cfg, tok, tokpath, path, arch, f16):
    """make_arch_goldens.gguf_llama's file (attention, norms, vocabulary;
    Q/K permuted for llama), with the expert keys and tensors added just
    before it is written."""
    mixtral = arch == "llama"
    n_exp = cfg.num_local_experts if mixtral else cfg.num_experts
    sd = load_file(os.path.join(os.path.dirname(path), "model.safetensors"))

    def finish_moe(w):
        w.add_expert_count(n_exp)
        w.add_expert_used_count(cfg.num_experts_per_tok)
        if hasattr(cfg, "moe_intermediate_size"):
            w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
        if getattr(cfg, "shared_expert_intermediate_size", 0):
            w.add_expert_shared_feed_forward_length(cfg.shared_expert_intermediate_size)
        for l in range(cfg.num_hidden_layers):
            for hf, gg in SHARED.items():
                if f"model.layers.{l}.{hf}.weight" in sd:
                    put(w, f"blk.{l}.{gg}.weight", sd[f"model.layers.{l}.{hf}.weight"], f16)
            for gg, t in experts(sd, l, n_exp, mixtral).items():
                put(w, f"blk.{l}.{gg}.weight", t, f16)
        _finish(w)

    make_arch_goldens.finish = finish_moe
    try:
        make_arch_goldens.gguf_llama(cfg, tok, tokpath, path, arch, f16, "qwen2" if arch.startswith("qwen") else "gpt-2")
    finally:
        make_arch_goldens.finish = _finish


COMMON = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=512,
              bos_token_id=0, eos_token_id=0, pad_token_id=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    tokpath = os.path.join(OUT, "tokenizer.json.moe.tmp")
    tok = make_tokenizer(tokpath)
    V = tok.get_vocab_size()
    models = [
        ("mixtral-f16", MixtralForCausalLM, MixtralConfig, "llama", torch.float16, 11,
         dict(num_key_value_heads=2, head_dim=16, intermediate_size=32, num_local_experts=8, num_experts_per_tok=2,
              rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
              tie_word_embeddings=False)),
        ("qwen3moe-f16", Qwen3MoeForCausalLM, Qwen3MoeConfig, "qwen3moe", torch.float16, 12,
         dict(num_key_value_heads=2, head_dim=32, intermediate_size=96, moe_intermediate_size=32, num_experts=8,
              num_experts_per_tok=2, norm_topk_prob=True, rms_norm_eps=1e-6,
              rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, tie_word_embeddings=True)),
        ("qwen2moe-f16", Qwen2MoeForCausalLM, Qwen2MoeConfig, "qwen2moe", torch.float16, 13,
         dict(num_key_value_heads=2, intermediate_size=96, moe_intermediate_size=32, shared_expert_intermediate_size=48,
              num_experts=4, num_experts_per_tok=2, norm_topk_prob=False, rms_norm_eps=1e-6,
              use_sliding_window=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
              tie_word_embeddings=False)),
        ("olmoe-f32", OlmoeForCausalLM, OlmoeConfig, "olmoe", torch.float32, 14,
         dict(num_key_value_heads=4, intermediate_size=32, num_experts=4, num_experts_per_tok=2,
              norm_topk_prob=False, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
              tie_word_embeddings=False)),
    ]
    for name, cls, conf, arch, dtype, seed, extra in models:
        cfg = conf(vocab_size=V, **COMMON, **extra)
        torch.manual_seed(seed)
        m = cls(cfg)
        randomize(m, seed)
        build(name, m, cfg, tok, tokpath, dtype,
              lambda p, cfg=cfg, arch=arch, f16=dtype == torch.float16: gguf_moe(cfg, tok, tokpath, p, arch, f16))
    os.remove(tokpath)
    return 0


if __name__ == "__main__":
    sys.exit(main())
