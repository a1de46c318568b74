#!/usr/bin/env python3
"""Small random-weight checkpoints of the newer architectures and their
transformers log-probs, for tests/unit/test_forward.c (the arch goldens).

Writes tests/golden/arch/<name>/ for each model: config.json,
model.safetensors, tokenizer.json (the HF folder), model.gguf (the same
weights as llama.cpp's convert_hf_to_gguf.py lays them out, written with the
gguf package), and golden.json: for each text, the token ids and, for every
position t >= 1, ln p(token t | tokens before it), the argmax and the top 5,
computed by transformers in float64 from the stored weights (the same
format as the HF goldens of the shared assets).

Models:
  neox-parallel-f32   GPTNeoXForCausalLM, parallel residual, rotary_pct 0.25
  neox-serial-f16     GPTNeoXForCausalLM, sequential residual, rotary_pct 0.5, F16
  llama3-scaled-f32   LlamaForCausalLM, rope_scaling llama3 (all three bands
                      of frequencies used), GQA 4/2
  llama-linear-f32    LlamaForCausalLM, rope_scaling linear, factor 4
  qwen3-tied-f16      Qwen3ForCausalLM: q_norm/k_norm, head_dim 32 with dim 64
                      (q_dim 128), GQA 4/2, tied embeddings, F16
  qwen2.5-tied-f16    Qwen2ForCausalLM as Qwen2.5 ships it: Q/K/V biases,
                      tied embeddings, rope_theta 1e6, use_sliding_window false
  exaone-tied-f16     EXAONE 3.5 (ExaoneForCausalLM, its own tensor and config
                      names), llama3 RoPE in rope_scaling, tied, GQA 4/2, F16
  gpt2-f16            GPT2LMHeadModel: learned positions, Conv1D weights,
                      gelu_new, n_inner 128, tied, F16
  mistral-swa16-f32   MistralForCausalLM, sliding_window 16 (shorter than
                      every text), GQA 4/2; its GGUF (llama) carries
                      llama.attention.sliding_window
  gemma2-swa-f32      Gemma2ForCausalLM: embeddings x sqrt(dim), RMSNorm (1 + w),
                      post-attention and post-feedforward norms, GeGLU
                      (gelu_pytorch_tanh), query_pre_attn_scalar, attention
                      softcap 5 and final softcap 3 (both bite on these
                      weights), sliding_window 12 on layers 0 and 2 (layer 1
                      global), head_dim 32 with dim 64, GQA 4/2, tied
  gemma3-swa-f32      Gemma3ForCausalLM (gemma3_text): as Gemma 2 plus q_norm/
                      k_norm (1 + w), no attention softcap, final softcap 4,
                      6 layers of which layer 5 is global (sliding_window_pattern
                      6, window 10), local RoPE base 10000 and global rope_theta
                      1e6 with linear scaling 4, dim 48 (sqrt not exact)

The tokenizer is a byte-level BPE (GPT-2 pre-tokenizer, as Polyglot-ko's)
trained here on a few lines, so that the vocabulary and the files stay
small (Gemma's own tokenizer is SentencePiece; the model class is what
matters here). Gemma GGUFs hold each norm weight as w + 1, as llama.cpp's
converter writes them. Everything is seeded: a rerun gives the same files.

Run by hand (CI only reads the output), in a venv under ~/.cache/chaejeom/
with torch (CPU), transformers, tokenizers, safetensors and gguf:
    python tests/golden/make_arch_goldens.py [NAME ...]
(names: only those models; none: all of them).
"""
import json
import math
import os
import sys

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import (AutoModelForCausalLM, Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM,
                          Gemma3TextConfig, GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM,
                          LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM)
import gguf
from safetensors.torch import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "arch")
ONLY = set(sys.argv[1:])


def wanted(name):
    return not ONLY or name in ONLY

TRAIN = [
    "The following are multiple choice questions (with answers) about anatomy.",
    "What is the embryological origin of the hyoid bone? Answer: D",
    "다음 중 옳은 것을 고르시오. 정답은 무엇입니까? 한국어 문장입니다.",
    "Once upon a time, there was a little girl who liked to read books.",
]
TEXTS = [
    "The following are multiple choice questions (with answers) about anatomy.\n\nWhat is the embryological "
    "origin of the hyoid bone?\nA. The first pharyngeal arch\nAnswer: D",
    "다음 문장을 읽고 질문에 답하시오. 철수는 학교에 갔다. 질문: 철수는 어디에 갔는가? 정답: 학교",
    "  leading spaces, tabs\tand emoji 🙂 and numbers 12345 and symbols #@!",
    "Once upon a time, there was a little girl who liked to read books. One day she found a very old book "
    "in the library and started to read it aloud to her friends, who all listened quietly until the end.",
]


def make_tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    tok.save(path)
    return tok


def golden(model, tok, name, dtype):
    model = model.double().eval()
    texts = []
    for text in TEXTS:
        ids = tok.encode(text).ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        lp = torch.log_softmax(logits, dim=-1)
        pos = []
        for t in range(1, len(ids)):
            row = lp[t - 1]
            top = torch.topk(row, 5)
            pos.append({"token": ids[t], "logprob": row[ids[t]].item(), "argmax": int(torch.argmax(row)),
                        "top5": [[int(i), v.item()] for v, i in zip(top.values, top.indices)]})
        texts.append({"text": text, "ids": ids, "positions": pos})
    return {"model": name, "stored_dtype": str(dtype), "note": "log-probs computed in float64 from the stored weights",
            "texts": texts}


def add_vocab(w, tok, path, pre="gpt-2"):
    j = json.load(open(path, encoding="utf-8"))
    vocab = j["model"]["vocab"]
    tokens = [None] * len(vocab)
    for s, i in vocab.items():
        tokens[i] = s
    types = [gguf.TokenType.CONTROL if t == "<|endoftext|>" else gguf.TokenType.NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)


def tensor(w, name, t, f16):
    a = t.detach().float().numpy()
    w.add_tensor(name, a.astype(np.float16) if f16 and a.ndim == 2 else a)


def gguf_neox(cfg, tok, tokpath, path, f16):
    w = gguf.GGUFWriter(path, "gptneox")
    hd = cfg.hidden_size // cfg.num_attention_heads
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_rope_dimension_count(int(cfg.rope_parameters["partial_rotary_factor"] * hd))
    w.add_head_count(cfg.num_attention_heads)
    w.add_parallel_residual(cfg.use_parallel_residual)
    w.add_layer_norm_eps(cfg.layer_norm_eps)
    add_vocab(w, tok, tokpath)
    sd = load_file(os.path.join(os.path.dirname(path), "model.safetensors"))
    n, d = cfg.num_attention_heads, cfg.hidden_size
    tensor(w, "token_embd.weight", sd["gpt_neox.embed_in.weight"], f16)
    tensor(w, "output_norm.weight", sd["gpt_neox.final_layer_norm.weight"], f16)
    tensor(w, "output_norm.bias", sd["gpt_neox.final_layer_norm.bias"], f16)
    tensor(w, "output.weight", sd["embed_out.weight"], f16)
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "attention.dense": "attn_output",
             "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down"}
    for l in range(cfg.num_hidden_layers):
        p = f"gpt_neox.layers.{l}."
        # convert_hf_to_gguf.py: per-head [q_h | k_h | v_h] becomes [q | k | v]
        qkv = sd[p + "attention.query_key_value.weight"].reshape(n, 3, d // n, d)
        tensor(w, f"blk.{l}.attn_qkv.weight", torch.cat([qkv[:, i].reshape(-1, d) for i in range(3)]), f16)
        qb = sd[p + "attention.query_key_value.bias"].reshape(n, 3, d // n)
        tensor(w, f"blk.{l}.attn_qkv.bias", torch.cat([qb[:, i].reshape(-1) for i in range(3)]), f16)
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                tensor(w, f"blk.{l}.{gg}.{kind}", sd[f"{p}{hf}.{kind}"], f16)
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def permute(t, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: HF's rotate-halves layout
    of Q/K rows to llama.cpp's adjacent pairs."""
    return t.reshape(n_head, 2, t.shape[0] // n_head // 2, *t.shape[1:]).swapaxes(1, 2).reshape(t.shape)


def llama3_factors(cfg):
    """convert_hf_to_gguf.py's rope_freqs for rope_type llama3."""
    rp = cfg.rope_parameters
    hd = cfg.head_dim
    base, factor = rp["rope_theta"], rp["factor"]
    low, high, old = rp["low_freq_factor"], rp["high_freq_factor"], rp["original_max_position_embeddings"]
    low_wl, high_wl = old / low, old / high
    out = []
    for i in range(0, hd, 2):
        freq = 1.0 / (base ** (i / hd))
        wl = 2 * math.pi / freq
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32)


def gguf_llama(cfg, tok, tokpath, path, arch="llama", f16=False, pre="gpt-2"):
    """Llama-like blocks: llama (Q/K permuted to adjacent pairs), and qwen2,
    qwen3, exaone (kept in HF's halves layout, as the converter does)."""
    w = gguf.GGUFWriter(path, arch)
    rp = cfg.rope_parameters
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_rope_dimension_count(hd)
    if hd != cfg.hidden_size // cfg.num_attention_heads:
        w.add_key_length(hd)
        w.add_value_length(hd)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(rp["rope_theta"])
    if rp["rope_type"] == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rp["factor"])
    if getattr(cfg, "sliding_window", None):
        w.add_sliding_window(cfg.sliding_window)
    add_vocab(w, tok, tokpath, pre)
    sd = llama_state(path)
    tensor(w, "token_embd.weight", sd["model.embed_tokens.weight"], f16)
    tensor(w, "output_norm.weight", sd["model.norm.weight"], f16)
    if "lm_head.weight" in sd and not cfg.tie_word_embeddings:
        tensor(w, "output.weight", sd["lm_head.weight"], f16)
    if rp["rope_type"] == "llama3":
        tensor(w, "rope_freqs.weight", llama3_factors(cfg), False)
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}
    for l in range(cfg.num_hidden_layers):
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                key = f"model.layers.{l}.{hf}.{kind}"
                if key not in sd:
                    continue
                t = sd[key]
                if arch == "llama" and gg == "attn_q":
                    t = permute(t, cfg.num_attention_heads)
                if arch == "llama" and gg == "attn_k":
                    t = permute(t, cfg.num_key_value_heads)
                tensor(w, f"blk.{l}.{gg}.{kind}", t, f16)
    finish(w)


# EXAONE 3.5's own tensor names (its checkpoints predate transformers'
# support, which renames them on load to Llama's)
EXAONE_NAMES = [("transformer.wte.", "model.embed_tokens."), ("transformer.ln_f.", "model.norm."),
                ("transformer.h.", "model.layers."), (".attn.attention.out_proj.", ".self_attn.o_proj."),
                (".attn.attention.", ".self_attn."), (".ln_1.", ".input_layernorm."),
                (".ln_2.", ".post_attention_layernorm."), (".mlp.c_fc_0.", ".mlp.gate_proj."),
                (".mlp.c_fc_1.", ".mlp.up_proj."), (".mlp.c_proj.", ".mlp.down_proj.")]


def rename(name, pairs):
    for a, b in pairs:
        name = name.replace(a, b)
    return name


def llama_state(path):
    """The folder's tensors under Llama's names."""
    sd = load_file(os.path.join(os.path.dirname(path), "model.safetensors"))
    return {rename(k, EXAONE_NAMES): v for k, v in sd.items()}


def gguf_gpt2(cfg, tok, tokpath, path):
    """convert_hf_to_gguf.py's GPT2Model: Conv1D weights transposed to
    [out, in], the tied head written out as output.weight."""
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_context_length(cfg.n_positions)
    w.add_embedding_length(cfg.n_embd)
    w.add_block_count(cfg.n_layer)
    w.add_feed_forward_length(cfg.n_inner or 4 * cfg.n_embd)
    w.add_head_count(cfg.n_head)
    w.add_layer_norm_eps(cfg.layer_norm_epsilon)
    add_vocab(w, tok, tokpath)
    sd = load_file(os.path.join(os.path.dirname(path), "model.safetensors"))
    tensor(w, "token_embd.weight", sd["transformer.wte.weight"], True)
    tensor(w, "position_embd.weight", sd["transformer.wpe.weight"], True)
    tensor(w, "output_norm.weight", sd["transformer.ln_f.weight"], True)
    tensor(w, "output_norm.bias", sd["transformer.ln_f.bias"], True)
    tensor(w, "output.weight", sd["transformer.wte.weight"], True)
    names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
             "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for l in range(cfg.n_layer):
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                t = sd[f"transformer.h.{l}.{hf}.{kind}"]
                tensor(w, f"blk.{l}.{gg}.{kind}", t.T if t.ndim == 2 else t, True)
    finish(w)


def randomize(model, seed):
    """Weights of a visible size everywhere (transformers' init leaves
    biases at 0 and norms at 1, which would test nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            scale = 0.3 if p.ndim == 1 else 0.12
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + scale * torch.randn(p.shape, generator=g))


def build(name, model, cfg, tok, tokpath, dtype, writer):
    if not wanted(name):
        return
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model = model.to(dtype)
    model.save_pretrained(d)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(d, extra)):
            os.remove(os.path.join(d, extra))
    tok.save(os.path.join(d, "tokenizer.json"))
    # the golden is computed from the stored (rounded) weights
    stored = type(model).from_pretrained(d, dtype=torch.float64)
    # the GGUF from the stored tensors, as llama.cpp's converter reads them
    writer(os.path.join(d, "model.gguf"))
    with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden(stored, tok, name, dtype), f, ensure_ascii=False)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    tokpath = os.path.join(OUT, "tokenizer.json.tmp")
    tok = make_tokenizer(tokpath)
    V = tok.get_vocab_size()
    for name, parallel, pct, dtype, seed in (("neox-parallel-f32", True, 0.25, torch.float32, 1),
                                             ("neox-serial-f16", False, 0.5, torch.float16, 2)):
        cfg = GPTNeoXConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=256, max_position_embeddings=512, use_parallel_residual=parallel,
                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                             "partial_rotary_factor": pct},
                            bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
        torch.manual_seed(seed)
        m = GPTNeoXForCausalLM(cfg)
        randomize(m, seed)
        build(name, m, cfg, tok, tokpath, dtype,
              lambda p, cfg=cfg, f16=dtype == torch.float16: gguf_neox(cfg, tok, tokpath, p, f16))
    for name, rope, seed in (("llama3-scaled-f32", {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 64}, 3),
                             ("llama-linear-f32", {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}, 4)):
        cfg = LlamaConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, head_dim=16, intermediate_size=128, max_position_embeddings=512,
                          rms_norm_eps=1e-5, rope_parameters=rope, bos_token_id=0, eos_token_id=0,
                          tie_word_embeddings=False)
        torch.manual_seed(seed)
        m = LlamaForCausalLM(cfg)
        randomize(m, seed)
        build(name, m, cfg, tok, tokpath, torch.float32,
              lambda p, cfg=cfg: gguf_llama(cfg, tok, tokpath, p))
    for name, cls, conf, seed in (("qwen3-tied-f16", Qwen3ForCausalLM, Qwen3Config, 5),
                                  ("qwen2.5-tied-f16", Qwen2ForCausalLM, Qwen2Config, 6)):
        extra = {"head_dim": 32} if cls is Qwen3ForCausalLM else {"use_sliding_window": False, "sliding_window": 4096,
                                                                   "max_window_layers": 2}
        cfg = conf(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128, max_position_embeddings=512, rms_norm_eps=1e-6,
                   rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=0,
                   eos_token_id=0, tie_word_embeddings=True, **extra)
        torch.manual_seed(seed)
        m = cls(cfg)
        randomize(m, seed)
        arch = "qwen3" if cls is Qwen3ForCausalLM else "qwen2"
        build(name, m, cfg, tok, tokpath, torch.float16,
              lambda p, cfg=cfg, arch=arch: gguf_llama(cfg, tok, tokpath, p, arch, True, "qwen2"))
    build_exaone(tok, tokpath, V)
    cfg = GPT2Config(vocab_size=V, n_embd=64, n_layer=2, n_head=4, n_inner=128, n_positions=256,
                     activation_function="gelu_new", bos_token_id=0, eos_token_id=0)
    torch.manual_seed(8)
    m = GPT2LMHeadModel(cfg)
    randomize(m, 8)
    build("gpt2-f16", m, cfg, tok, tokpath, torch.float16, lambda p: gguf_gpt2(cfg, tok, tokpath, p))
    build_mistral(tok, tokpath, V)
    build_gemma(tok, tokpath, V)
    os.remove(tokpath)
    return 0


def build_mistral(tok, tokpath, V):
    """Mistral with a window of 16 keys: every text is longer, so most
    positions see only part of their prefix. eager attention: transformers'
    sliding-window mask (key kept when q - k < 16) applied to the scores."""
    if not wanted("mistral-swa16-f32"):
        return
    cfg = MistralConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, head_dim=16, intermediate_size=128, max_position_embeddings=512,
                        rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                        sliding_window=16, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False,
                        attn_implementation="eager")
    torch.manual_seed(9)
    m = MistralForCausalLM(cfg)
    randomize(m, 9)
    build("mistral-swa16-f32", m, cfg, tok, tokpath, torch.float32, lambda p: gguf_llama(cfg, tok, tokpath, p))
    # the window must have been applied: the same weights without it differ
    full = MistralForCausalLM.from_pretrained(os.path.join(OUT, "mistral-swa16-f32"), dtype=torch.float64,
                                              sliding_window=None).eval()
    windowed = MistralForCausalLM.from_pretrained(os.path.join(OUT, "mistral-swa16-f32"),
                                                  dtype=torch.float64).eval()
    ids = torch.tensor([tok.encode(TEXTS[0]).ids])
    with torch.no_grad():
        assert not torch.allclose(full(ids).logits, windowed(ids).logits), "the window changed nothing"


GEMMA_NAMES = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
               "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
               "post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
               "post_feedforward_layernorm": "post_ffw_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
               "mlp.down_proj": "ffn_down", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"}


def gguf_gemma(cfg, tok, tokpath, path, arch):
    """convert_hf_to_gguf.py's Gemma2Model / Gemma3Model: the keys each
    writes (Gemma 2: both softcaps and the window; Gemma 3: the global
    rope_theta and its linear scaling, the final softcap when set, the
    window), no lm_head, every norm weight stored as w + 1 (computed in the
    stored dtype), Q/K unpermuted (llama.cpp runs Gemma with NeoX RoPE)."""
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    if arch == "gemma2":
        w.add_attn_logit_softcapping(cfg.attn_logit_softcapping)
        w.add_final_logit_softcapping(cfg.final_logit_softcapping)
    else:
        full = cfg.rope_parameters["full_attention"]
        w.add_rope_freq_base(full["rope_theta"])
        if full["rope_type"] == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(full["factor"])
        if cfg.final_logit_softcapping:
            w.add_final_logit_softcapping(cfg.final_logit_softcapping)
    w.add_sliding_window(cfg.sliding_window)
    add_vocab(w, tok, tokpath)
    sd = load_file(os.path.join(os.path.dirname(path), "model.safetensors"))
    tensor(w, "token_embd.weight", sd["model.embed_tokens.weight"], False)
    tensor(w, "output_norm.weight", sd["model.norm.weight"] + 1, False)
    for l in range(cfg.num_hidden_layers):
        for hf, gg in GEMMA_NAMES.items():
            key = f"model.layers.{l}.{hf}.weight"
            if key in sd:
                t = sd[key]
                tensor(w, f"blk.{l}.{gg}.weight", t + 1 if key.endswith("norm.weight") else t, False)
    finish(w)


def check_bites(cls, d, ids, **off):
    """The feature must matter: the stored model with it turned off
    (config overrides off) gives other logits."""
    with torch.no_grad():
        on = cls.from_pretrained(d, dtype=torch.float64).eval()(ids).logits
        other = cls.from_pretrained(d, dtype=torch.float64, **off).eval()(ids).logits
    diff = (torch.log_softmax(on, -1) - torch.log_softmax(other, -1)).abs().max().item()
    assert diff > 1e-2, f"{d}: {off} changed the log-probs by only {diff}"


def one_gemma(name, cls, cfg, seed, tok, tokpath, offs):
    """Builds one Gemma model and checks that each of offs (config
    overrides turning a feature off) changes its log-probs."""
    if not wanted(name):
        return
    torch.manual_seed(seed)
    m = cls(cfg)
    randomize(m, seed)
    arch = "gemma2" if cls is Gemma2ForCausalLM else "gemma3"
    build(name, m, cfg, tok, tokpath, torch.float32, lambda p: gguf_gemma(cfg, tok, tokpath, p, arch))
    ids = torch.tensor([tok.encode(TEXTS[3]).ids])
    for off in offs:
        check_bites(cls, os.path.join(OUT, name), ids, **off)


def build_gemma(tok, tokpath, V):
    """Gemma 2 and Gemma 3 text models, eager attention (transformers'
    softcap and window masks on the scores)."""
    common = dict(vocab_size=V, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=0,
                  pad_token_id=0, tie_word_embeddings=True, attn_implementation="eager")
    cfg = Gemma2Config(hidden_size=64, num_hidden_layers=3, head_dim=32, intermediate_size=64,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, query_pre_attn_scalar=32,
                       sliding_window=12, attn_logit_softcapping=5.0, final_logit_softcapping=3.0, **common)
    one_gemma("gemma2-swa-f32", Gemma2ForCausalLM, cfg, 10, tok, tokpath,
              [{"attn_logit_softcapping": None}, {"final_logit_softcapping": None}, {"sliding_window": 4096}])
    rope = {"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    cfg = Gemma3TextConfig(hidden_size=48, num_hidden_layers=6, head_dim=16, intermediate_size=64,
                           query_pre_attn_scalar=16, sliding_window=10, rope_parameters=rope,
                           final_logit_softcapping=4.0, **common)
    assert cfg.layer_types == ["sliding_attention"] * 5 + ["full_attention"], cfg.layer_types
    one_gemma("gemma3-swa-f32", Gemma3ForCausalLM, cfg, 11, tok, tokpath,
              [{"final_logit_softcapping": None}, {"sliding_window": 4096}])


def build_exaone(tok, tokpath, V):
    """An EXAONE 3.5 folder as LG publishes it (config keys num_layers,
    layer_norm_epsilon, activation_function; transformer.h.N... tensors),
    made from a Llama model of the same weights; the golden comes from
    transformers loading that folder back (its exaone support)."""
    if not wanted("exaone-tied-f16"):
        return
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}
    cfg = LlamaConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16, intermediate_size=128, max_position_embeddings=512,
                      rms_norm_eps=1e-5, rope_parameters=dict(rope, rope_theta=1000000.0), bos_token_id=0,
                      eos_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(7)
    m = LlamaForCausalLM(cfg)
    randomize(m, 7)
    d = os.path.join(OUT, "exaone-tied-f16")
    os.makedirs(d, exist_ok=True)
    to_exaone = [(b, a) for a, b in EXAONE_NAMES]
    sd = {rename(k, to_exaone): v.contiguous() for k, v in m.to(torch.float16).state_dict().items()
          if k != "lm_head.weight"}
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    conf = {"architectures": ["ExaoneForCausalLM"], "model_type": "exaone", "activation_function": "silu",
            "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "vocab_size": V, "max_position_embeddings": 512,
            "layer_norm_epsilon": 1e-5, "rope_theta": 1000000.0, "rope_scaling": rope, "tie_word_embeddings": True,
            "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0, "torch_dtype": "float16",
            "attention_dropout": 0.0, "embed_dropout": 0.0}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    tok.save(os.path.join(d, "tokenizer.json"))
    stored = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64)
    assert stored.config.rope_parameters["rope_type"] == "llama3", stored.config.rope_parameters
    gguf_llama(cfg, tok, tokpath, os.path.join(d, "model.gguf"), "exaone", True, "exaone")
    with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden(stored, tok, "exaone-tied-f16", torch.float16), f, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
