/* arch — what each supported architecture's block is made of, and the one
 * table of tensor names.
 *
 * An architecture is a row of ARCHS in arch.c: which norm (RMSNorm or
 * LayerNorm with bias), how Q/K/V come (three matrices, or one fused matrix
 * and in which order), which MLP (SwiGLU, or GELU with biases), whether the
 * residual is parallel, which RoPE layout its GGUF files use, and which
 * tensors a file must and may hold. Optional steps follow from the tensors:
 * q_norm/k_norm (Qwen3) norm each head of Q and K before RoPE, and a
 * position embedding (GPT-2) replaces RoPE, and post norms (Gemma) norm
 * attention's and the MLP's outputs. What Gemma 2/3 add besides (scaled
 * embeddings, soft-capping, alternating windows) is set by
 * arch_fill_hparams from a table of its own. Each tensor is a role (arch_role) with
 * a GGUF name, a name per HF naming family, and a shape computed from the
 * hyper-parameters. The loaders (model_hf.c, model_gguf.c) and the forward
 * pass read only these descriptions, so a new architecture of existing
 * parts is a row of ARCHS plus its names in the table.
 *
 * Everything here is static data; nothing is allocated. */
#ifndef CJ_ARCH_H
#define CJ_ARCH_H

#include <stdint.h>

#include "model.h"

typedef enum {
    /* global */
    R_TOK_EMBD, R_POS_EMBD, R_OUTPUT_NORM, R_OUTPUT_NORM_B, R_OUTPUT, R_ROPE_FREQS,
    /* per layer */
    R_ATTN_NORM, R_ATTN_NORM_B, R_ATTN_Q, R_ATTN_K, R_ATTN_V, R_ATTN_QKV, R_ATTN_Q_B, R_ATTN_K_B, R_ATTN_V_B,
    R_ATTN_QKV_B, R_ATTN_Q_NORM, R_ATTN_K_NORM, R_ATTN_OUT, R_ATTN_OUT_B, R_FFN_NORM, R_FFN_NORM_B, R_FFN_GATE, R_FFN_UP, R_FFN_UP_B, R_FFN_DOWN,
    R_FFN_DOWN_B,
    R_ATTN_POST_NORM, R_FFN_POST_NORM, /* Gemma: norms of attention's and the MLP's outputs */
    R_COUNT
} arch_role;

#define R_FIRST_LAYER R_ATTN_NORM
#define ROLE(r) (1u << (r))

/* HF naming families: the columns of the name table. */
typedef enum { HF_LLAMA, HF_NEOX, HF_EXAONE, HF_GPT2, HF_GEMMA, HF_NAMES } arch_hf_names;

typedef struct {
    const char *name;     /* ours, and GGUF's general.architecture */
    const char *hf_class; /* HF config "architectures"[0] */
    const char *hf_type;  /* HF config "model_type" */
    arch_hf_names hf_names;
    int ctx_default;      /* max_position_embeddings when a config has none */
    model_norm norm;
    model_mlp mlp;
    model_qkv hf_qkv;     /* Q/K/V layout in HF checkpoints */
    model_qkv gguf_qkv;   /* and in GGUF files (llama.cpp's converter reorders the fused one) */
    int gguf_rope_neox;   /* GGUF files rotate halves (1) or adjacent pairs (0) */
    uint32_t need;        /* roles every file holds (R_OUTPUT aside: tied or not) */
    uint32_t gguf_maybe;  /* roles a GGUF file may hold besides */
    uint32_t hf_conv1d;   /* matrices HF stores as [in, out] (GPT-2's Conv1D) */
    int tie_default;      /* tie_word_embeddings when a config has none */
    int parallel_default; /* parallel residual unless the file says otherwise */
} arch_desc;

/* The architecture whose HF class (or, lacking one, model_type) is cls /
 * type, or the GGUF general.architecture name; NULL if not supported. */
const arch_desc *arch_by_hf(const char *cls, const char *type);
const arch_desc *arch_by_name(const char *name);

/* "a, b, c": the supported names, HF classes when hf is set. */
const char *arch_list(int hf);

/* The tensor of role r in layer l (ignored for global roles) as GGUF or as
 * HF family fam names it, into buf; NULL when that format has no name for
 * it (rope_freqs in HF). */
const char *arch_gguf_name(arch_role r, int l, char *buf, int size);
const char *arch_hf_name(arch_hf_names fam, arch_role r, int l, char *buf, int size);

/* The block's fields of hp (norm, MLP, Q/K/V and RoPE layouts, Q/K biases
 * and norms, learned positions, the default residual) for a's GGUF files
 * (gguf = 1) or HF folders (0). */
void arch_fill_hparams(const arch_desc *a, int gguf, model_hparams *hp);

/* 1 when a's HF checkpoints store each RMSNorm weight as w for a scale of
 * 1 + w (Gemma; llama.cpp's converter writes w + 1 into the GGUF). */
int arch_hf_norm_shift(const arch_desc *a);

/* 1 for a norm weight (RMSNorm or LayerNorm scale, not a bias). */
int arch_role_is_norm(arch_role r);

/* The shape of role r under hp, as [rows, cols] with rows the output
 * features (HF's order; GGUF lists it as ne = [cols, rows]); cols = 0 for a
 * vector. */
void arch_shape(const model_hparams *hp, arch_role r, int64_t *rows, int64_t *cols);

/* Where role r of layer ly (or of m, for global roles) is kept: exactly one
 * of *mat and *vec is set. */
void arch_slot(model *m, model_layer *ly, arch_role r, model_mat **mat, const float ***vec);

#endif
