/* model — a loaded checkpoint (the architectures of arch.h): hyper-parameters and weights.
 *
 * model_load reads a GGUF file, an HF folder (config.json + safetensors), or
 * a llama2.c .bin. For a weight of shape [out, in], row r (one output
 * feature) is `in` consecutive elements, so that y = W x is cblas_sgemm
 * with W transposed. The matrices (model_mat) stay in the file's type and
 * are used in place from the mapped file: F32 directly, F16, BF16 and the
 * ggml block types dequantized by the forward pass one matrix at a time
 * into a buffer it reuses, so that memory holds the file's bytes and not an
 * F32 copy of them. Norms and biases (vectors) are F32, dequantized at load
 * when the file stores them otherwise; so is a matrix whose data cannot be
 * used in place (misaligned F32).
 *
 * Q/K weights are stored in the file's RoPE layout; hp.rope_neox says which
 * layout the forward pass must use (0: rotate adjacent pairs (x[2i],x[2i+1]),
 * as llama2.c and GGUF "llama"; 1: rotate halves (x[i], x[i+d/2]), as HF and
 * GGUF "qwen2").
 *
 * The block's variant (norm, Q/K/V layout, MLP, residual, partial and
 * scaled RoPE) is in hp, filled by the loaders from the architecture's
 * description (arch.h); zero in every such field is the Llama block.
 *
 * Ownership: model_free releases everything, including the tokenizer. */
#ifndef CJ_MODEL_H
#define CJ_MODEL_H

#include <stdint.h>

#include "../../../common/err.h"
#include "../../../common/fileio.h"
#include "gguf.h"
#include "../tokenizer/tokenizer.h"

typedef enum { NORM_RMS = 0, NORM_LAYER = 1 } model_norm; /* LayerNorm: with bias, as GPT-NeoX */
/* GELU: up + bias, exact erf GELU, down + bias; GELU_TANH: the same with
 * the tanh approximation (transformers' gelu_new, GPT-2); GEGLU: SwiGLU's
 * gate with that tanh GELU instead of silu (Gemma's gelu_pytorch_tanh) */
typedef enum { MLP_SWIGLU = 0, MLP_GELU = 1, MLP_GELU_TANH = 2, MLP_GEGLU = 3 } model_mlp;
/* Q/K/V: three matrices; one fused matrix whose output is [q | k | v]
 * (GGUF gptneox); or one whose output interleaves them per head, [q_h | k_h
 * | v_h] for each head h (HF GPT-NeoX). */
typedef enum { QKV_SEPARATE = 0, QKV_FUSED = 1, QKV_FUSED_PER_HEAD = 2 } model_qkv;
/* RoPE frequency scaling: HF rope_type "linear" (every frequency / factor)
 * and "llama3" (by wavelength: long ones / factor, short ones kept, a
 * smooth blend between), or GGUF's rope_freqs.weight (frequency i divided
 * by rope_freqs[i]; llama.cpp's converter writes Llama 3's that way). */
typedef enum { ROPE_SCALE_NONE = 0, ROPE_SCALE_LINEAR, ROPE_SCALE_LLAMA3 } model_rope_scale;

typedef struct {
    int dim;          /* model width (n_embd) */
    int ffn_dim;      /* SwiGLU hidden width */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;     /* usually dim / n_heads */
    int vocab_size;
    int ctx_len;      /* trained context length, informational (never a hard cap; see docs/models.md) */
    float rms_eps;
    float rope_theta;
    int rope_neox;    /* 0 adjacent pairs, 1 halves */
    int qkv_bias;     /* 1: bq/bk/bv present (Qwen2) */
    model_norm norm;  /* rms_eps is the LayerNorm eps too */
    model_mlp mlp;
    model_qkv qkv;
    int parallel_residual; /* x + attn(norm1(x)) + mlp(norm2(x)) (GPT-NeoX) */
    int rope_dims;    /* leading dims of a head that RoPE rotates; 0 = head_dim */
    int qk_norm;      /* RMSNorm of each head of Q and K before RoPE (Qwen3); QK_NORM_FULL: of the
                       * whole Q and K projections at once (OLMoE) */
    int pos_embd;     /* learned absolute positions added to the embeddings, no RoPE (GPT-2);
                       * positions then stop at ctx_len */
    model_rope_scale rope_scale;
    float rope_factor;      /* linear, llama3 */
    float rope_low_freq;    /* llama3: low_freq_factor */
    float rope_high_freq;   /* llama3: high_freq_factor */
    int rope_orig_ctx;      /* llama3: original_max_position_embeddings */
    int sliding_window;     /* > 0: a row at position p attends only to keys at positions > p - sliding_window
                             * (Mistral); 0: to every earlier position */
    /* Mixture of experts (moe.h): n_experts > 0 replaces every layer's MLP by
     * n_experts SwiGLU experts of expert_ffn hidden units, n_expert_used of
     * them per token, plus a shared expert of shared_ffn units when > 0;
     * ffn_dim is then the wider of the two (it sizes the hidden buffers). */
    int n_experts;
    int n_expert_used;
    int expert_ffn;
    int shared_ffn;
    int norm_topk;          /* the top-k router weights renormalized to sum to 1 */
    /* Gemma 2/3 (all 0 elsewhere) */
    int swa_period;         /* 0: the window is on every layer; N: on layer l iff l % N < N - 1
                             * (Gemma 2: 2, Gemma 3: 6, llama.cpp's swa pattern) */
    float rope_local_theta; /* > 0: windowed layers rotate by this base, unscaled (Gemma 3) */
    float attn_scale;       /* > 0: scores scaled by it (query_pre_attn_scalar^-0.5), else 1/sqrt(head_dim) */
    float attn_softcap;     /* > 0: each score s becomes cap tanh(s / cap) before the softmax */
    float final_softcap;    /* > 0: the same on each logit */
    int embd_scaled;        /* embeddings times sqrt(dim) */
    int post_norms;         /* RMSNorm of attention's and the MLP's outputs before each residual add */
} model_hparams;

#define QK_NORM_FULL 2

/* The dims of a head that RoPE rotates (rope_dims, or all of them). */
static inline int model_rope_dims(const model_hparams *hp) { return hp->rope_dims ? hp->rope_dims : hp->head_dim; }

/* Layer l is a windowed ("sliding_attention") layer: every layer, or those
 * the period says. */
static inline int model_layer_local(const model_hparams *hp, int l) {
    return hp->swa_period == 0 || l % hp->swa_period < hp->swa_period - 1;
}

/* The sliding window of layer l (0: none). */
static inline int model_layer_window(const model_hparams *hp, int l) {
    return model_layer_local(hp, l) ? hp->sliding_window : 0;
}

/* The MLP multiplies an activated gate by up (SwiGLU, GeGLU). */
static inline int model_mlp_gated(const model_hparams *hp) { return hp->mlp == MLP_SWIGLU || hp->mlp == MLP_GEGLU; }

/* A weight matrix [rows, cols], row-major, in its file's type. */
typedef struct {
    const void *data; /* rows * row_bytes bytes: in a map, or a buffer the model owns */
    ggml_type type;   /* GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, ... */
    size_t row_bytes; /* bytes of one row of cols elements (whole blocks) */
} model_mat;

typedef struct {
    const float *attn_norm; /* [dim] */
    model_mat wq;           /* [n_heads*head_dim, dim] */
    model_mat wk;           /* [n_kv_heads*head_dim, dim] */
    model_mat wv;           /* [n_kv_heads*head_dim, dim] */
    model_mat wo;           /* [dim, n_heads*head_dim] */
    const float *bq;        /* [n_heads*head_dim] or NULL */
    const float *bk;        /* [n_kv_heads*head_dim] or NULL */
    const float *bv;        /* [n_kv_heads*head_dim] or NULL */
    model_mat wqkv;         /* [q_dim + 2*kv_dim, dim] when hp.qkv is fused (then wq/wk/wv are unset) */
    const float *bqkv;      /* [q_dim + 2*kv_dim], same layout, or NULL */
    const float *q_norm;    /* [head_dim] when hp.qk_norm */
    const float *k_norm;    /* [head_dim] when hp.qk_norm */
    const float *bo;        /* [dim] or NULL */
    const float *attn_norm_b; /* [dim], LayerNorm */
    const float *ffn_norm;  /* [dim] */
    const float *ffn_norm_b;  /* [dim], LayerNorm */
    model_mat w_gate;       /* [ffn_dim, dim], SwiGLU */
    model_mat w_up;         /* [ffn_dim, dim] */
    model_mat w_down;       /* [dim, ffn_dim] */
    const float *b_up;      /* [ffn_dim] or NULL */
    const float *b_down;    /* [dim] or NULL */
    /* MoE (hp.n_experts > 0) instead of w_gate/w_up/w_down */
    model_mat router;       /* [n_experts, dim] */
    model_mat *exp_gate;    /* [n_experts] of [expert_ffn, dim], in model.expert_mats */
    model_mat *exp_up;      /* [n_experts] of [expert_ffn, dim] */
    model_mat *exp_down;    /* [n_experts] of [dim, expert_ffn] */
    model_mat sh_gate;      /* [shared_ffn, dim] when hp.shared_ffn */
    model_mat sh_up;        /* [shared_ffn, dim] */
    model_mat sh_down;      /* [dim, shared_ffn] */
    model_mat sh_router;    /* [1, dim]: the shared expert's sigmoid gate */
    const float *attn_post_norm; /* [dim] when hp.post_norms */
    const float *ffn_post_norm;  /* [dim] when hp.post_norms */
} model_layer;

typedef struct {
    model_hparams hp;
    model_mat tok_embd;       /* [vocab_size, dim] */
    model_mat pos_embd;       /* [ctx_len, dim] when hp.pos_embd */
    const float *output_norm; /* [dim] */
    const float *output_norm_b; /* [dim], LayerNorm */
    const float *rope_freqs;  /* [rope_dims / 2] divisors of the RoPE frequencies, or NULL */
    model_mat output;         /* [vocab_size, dim]; output.data == tok_embd.data when tied */
    model_layer *layers;      /* [n_layers], owned */
    model_mat *expert_mats;   /* [n_layers * 3 * n_experts] (MoE), owned: the layers' exp_* point here */
    tokenizer *tok;           /* owned */

    /* identity, for runner_info */
    char *path;               /* owned */
    char sha256[65];
    const char *format;       /* "gguf" | "safetensors" | "llama2c" (static) */
    char *arch;               /* owned: an arch.h name ("llama", "qwen3", "gpt2", ...) */
    char *dtype;              /* owned: "F32", "F16", "Q4_K", "mixed", ... */
    int64_t n_params;

    /* storage */
    cj_map *maps;             /* open file maps, owned */
    int n_maps;
    float **bufs;             /* dequantized buffers, owned */
    int n_bufs;
} model;

/* Loads path (a .gguf, an HF folder, or a llama2.c .bin). tokenizer_path is
 * required for llama2.c (its tokenizer.bin) and optional otherwise (an
 * override tokenizer.json / tokenizer.bin). On error returns -1 with a
 * message naming the file and what is wrong; *out is then NULL. */
int model_load(const char *path, const char *tokenizer_path, model **out, cj_err *e);
void model_free(model *m);

/* Loads only the tokenizer that model_load(path, tokenizer_path) would give
 * the model: cheaper for GGUF and HF (no weights are read), and it works on
 * vocab-only GGUF files. *out is the caller's (tok_free). */
int model_load_tokenizer(const char *path, const char *tokenizer_path, tokenizer **out, cj_err *e);

/* Format-specific loaders (model_load dispatches to them). */
int model_load_gguf(const char *path, model *m, cj_err *e);
int model_load_hf(const char *dir, model *m, cj_err *e);
int model_load_llama2c(const char *path, const char *tokenizer_path, model *m, cj_err *e);

/* Storage helpers for the loaders: keep a map / take ownership of a buffer.
 * model_keep_map moves *map into m (the caller's struct is zeroed) and
 * returns the kept copy; that pointer is valid until the next
 * model_keep_map, the mapped bytes until model_free. model_alloc_f32
 * returns n zeroed floats owned by m, or NULL if n*4 overflows or memory is
 * exhausted (the loader reports it). */
const cj_map *model_keep_map(model *m, cj_map *map);
float *model_alloc_f32(model *m, uint64_t n);

/* Points *w at a matrix of `rows` rows of `cols` elements of type t at
 * data (nbytes long, already checked to lie inside its file): in place when
 * the type can be used so (F32 aligned to 4 bytes; F16, BF16 and block
 * types whose rows are whole blocks), else dequantized now into an F32
 * buffer owned by m. Returns -1 (with a message naming what) when memory
 * runs out or nbytes does not match the shape. */
int model_set_mat(model *m, model_mat *w, const void *data, size_t nbytes, ggml_type t, int64_t rows, int64_t cols,
                  const char *what, cj_err *e);

/* Rows [r0, r0 + n) of w, each cols elements (w's shape), as F32 into
 * dst[n * cols]. The caller keeps the rows inside the matrix. */
void model_mat_rows(const model_mat *w, int64_t r0, int64_t n, int cols, float *dst);

/* w's data as F32 when it is stored so, else NULL. */
const float *model_mat_f32(const model_mat *w);

/* Replaces m->tok by the tokenizer at path: a *.json is an HF
 * tokenizer.json, anything else a llama2.c tokenizer.bin of m->hp.vocab_size
 * entries (so hp must be filled first). On error m->tok is unchanged. */
int model_set_tokenizer(model *m, const char *path, cj_err *e);

/* Checks hyper-parameters read from an untrusted file before any weight is
 * sized from them: every count positive and under a sane bound, n_kv_heads
 * divides n_heads, head_dim even, eps and theta finite and positive.
 * Loaders call it right after parsing their header; model_load calls it
 * again on the result. what names the file in the message. */
int model_check_hparams(const model_hparams *hp, const char *what, cj_err *e);

#endif
