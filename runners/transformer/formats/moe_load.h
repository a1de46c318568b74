/* moe_load — the tensors of the mixture-of-experts architectures (Mixtral,
 * Qwen2-MoE, Qwen3-MoE, OLMoE): their names in GGUF files and HF folders,
 * their shapes and where the model keeps them.
 *
 * llama.cpp's converter stacks a layer's experts into one 3-D tensor per
 * matrix, GGUF ne = [cols, rows, n_experts] (blk.N.ffn_gate_exps.weight,
 * ffn_up_exps, ffn_down_exps); HF checkpoints keep one 2-D tensor per
 * expert (Mixtral: block_sparse_moe.experts.E.w1/w3/w2, the others
 * mlp.experts.E.gate_proj/up_proj/down_proj). The router is ffn_gate_inp
 * (HF: the MoE block's gate); Qwen2-MoE's shared expert is ffn_*_shexp
 * with its sigmoid gate ffn_gate_inp_shexp (HF shared_expert.*,
 * shared_expert_gate). Either way each expert ends up as one model_mat per
 * matrix (model.h: model_layer's exp_gate/exp_up/exp_down), so the forward
 * pass (compute/moe.h) does not care which file it came from. */
#ifndef CJ_MOE_LOAD_H
#define CJ_MOE_LOAD_H

#include <stdint.h>

#include "../../../common/err.h"
#include "model.h"

typedef enum {
    MT_ROUTER, MT_GATE_EXPS, MT_UP_EXPS, MT_DOWN_EXPS, /* per expert: the three stacks */
    MT_GATE_SHEXP, MT_UP_SHEXP, MT_DOWN_SHEXP, MT_ROUTER_SHEXP, /* the shared expert */
    MT_COUNT
} moe_tensor;

/* 1 when the architecture (arch.h name) is a MoE one; shared = it has a
 * shared expert, norm_topk = the renormalization of its top-k weights when
 * the file does not say: in HF folders Mixtral always renormalizes and the
 * others follow norm_topk_prob (default off); llama.cpp fixes it per
 * architecture (on for Mixtral and Qwen3-MoE) unless the GGUF has
 * <arch>.expert_weights_norm. */
int moe_arch(const char *arch, int gguf, int *shared, int *norm_topk);

/* 1 when tensor t of a model of hp exists (the shared expert's only with
 * hp->shared_ffn). */
int moe_has(const model_hparams *hp, moe_tensor t);

/* Layer l's tensor t as GGUF names it (the stack for the experts), or as
 * arch's HF folders name it for expert x. */
const char *moe_gguf_name(moe_tensor t, int l, char *buf, int size);
const char *moe_hf_name(const char *arch, moe_tensor t, int l, int x, char *buf, int size);

/* One matrix's [rows, cols] (of one expert, for the stacks). */
void moe_shape(const model_hparams *hp, moe_tensor t, int64_t *rows, int64_t *cols);

/* Allocates m->expert_mats for hp's experts and points every layer's
 * exp_gate/exp_up/exp_down into it (m->layers must exist). */
void moe_alloc(model *m);

/* Where tensor t of layer ly is kept: n_experts matrices for a stack, one
 * otherwise. */
model_mat *moe_slot(model_layer *ly, moe_tensor t);

/* Checks the MoE hyper-parameters of an untrusted file (none: all zero). */
int moe_check_hparams(const model_hparams *hp, const char *what, cj_err *e);

#endif
