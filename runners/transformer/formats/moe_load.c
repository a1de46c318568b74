/* moe_load — names, shapes and slots of the MoE tensors (see moe_load.h). */
#include "moe_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"

#define MOE_MAX_EXPERTS 1024 /* DeepSeek-class models have 256 */

typedef struct {
    const char *arch;
    int shared;
    int hf_norm, gguf_norm; /* renormalization when the file does not say */
    const char *hf[MT_COUNT]; /* "%d" the layer, then the expert */
} moe_names;

#define BSM "model.layers.%d.block_sparse_moe."
#define MLP "model.layers.%d.mlp."
static const moe_names ARCHS[] = {
    {"mixtral", 0, 1, 1, {BSM "gate.weight", BSM "experts.%d.w1.weight", BSM "experts.%d.w3.weight",
                       BSM "experts.%d.w2.weight"}},
    {"qwen2moe", 1, 0, 0, {MLP "gate.weight", MLP "experts.%d.gate_proj.weight", MLP "experts.%d.up_proj.weight",
                        MLP "experts.%d.down_proj.weight", MLP "shared_expert.gate_proj.weight",
                        MLP "shared_expert.up_proj.weight", MLP "shared_expert.down_proj.weight",
                        MLP "shared_expert_gate.weight"}},
    {"qwen3moe", 0, 0, 1, {MLP "gate.weight", MLP "experts.%d.gate_proj.weight", MLP "experts.%d.up_proj.weight",
                        MLP "experts.%d.down_proj.weight"}},
    {"olmoe", 0, 0, 0, {MLP "gate.weight", MLP "experts.%d.gate_proj.weight", MLP "experts.%d.up_proj.weight",
                     MLP "experts.%d.down_proj.weight"}},
};
#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])

static const char *const GGUF[MT_COUNT] = {
    "blk.%d.ffn_gate_inp.weight",   "blk.%d.ffn_gate_exps.weight", "blk.%d.ffn_up_exps.weight",
    "blk.%d.ffn_down_exps.weight",  "blk.%d.ffn_gate_shexp.weight", "blk.%d.ffn_up_shexp.weight",
    "blk.%d.ffn_down_shexp.weight", "blk.%d.ffn_gate_inp_shexp.weight",
};

static const moe_names *find_arch(const char *arch) {
    for (size_t i = 0; arch && i < N_ARCHS; i++)
        if (!strcmp(arch, ARCHS[i].arch)) return &ARCHS[i];
    return NULL;
}

int moe_arch(const char *arch, int gguf, int *shared, int *norm_topk) {
    const moe_names *a = find_arch(arch);
    if (!a) return 0;
    *shared = a->shared;
    *norm_topk = gguf ? a->gguf_norm : a->hf_norm;
    return 1;
}

int moe_has(const model_hparams *hp, moe_tensor t) {
    return hp->n_experts > 0 && (t < MT_GATE_SHEXP || hp->shared_ffn > 0);
}

/* The format strings are the tables' own: a layer, then maybe an expert. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
const char *moe_gguf_name(moe_tensor t, int l, char *buf, int size) {
    snprintf(buf, (size_t)size, GGUF[t], l);
    return buf;
}

const char *moe_hf_name(const char *arch, moe_tensor t, int l, int x, char *buf, int size) {
    const moe_names *a = find_arch(arch);
    if (!a || !a->hf[t]) return NULL;
    snprintf(buf, (size_t)size, a->hf[t], l, x);
    return buf;
}
#pragma GCC diagnostic pop

void moe_shape(const model_hparams *hp, moe_tensor t, int64_t *rows, int64_t *cols) {
    *cols = hp->dim;
    switch (t) {
    case MT_ROUTER: *rows = hp->n_experts; break;
    case MT_GATE_EXPS: case MT_UP_EXPS: *rows = hp->expert_ffn; break;
    case MT_DOWN_EXPS: *rows = hp->dim, *cols = hp->expert_ffn; break;
    case MT_GATE_SHEXP: case MT_UP_SHEXP: *rows = hp->shared_ffn; break;
    case MT_DOWN_SHEXP: *rows = hp->dim, *cols = hp->shared_ffn; break;
    default: *rows = 1; break; /* MT_ROUTER_SHEXP: one logit */
    }
}

void moe_alloc(model *m) {
    int ne = m->hp.n_experts;
    m->expert_mats = cj_xcalloc((size_t)m->hp.n_layers * 3 * (size_t)ne, sizeof *m->expert_mats);
    for (int l = 0; l < m->hp.n_layers; l++) {
        model_mat *b = m->expert_mats + (size_t)l * 3 * ne;
        m->layers[l].exp_gate = b;
        m->layers[l].exp_up = b + ne;
        m->layers[l].exp_down = b + 2 * ne;
    }
}

model_mat *moe_slot(model_layer *ly, moe_tensor t) {
    switch (t) {
    case MT_ROUTER: return &ly->router;
    case MT_GATE_EXPS: return ly->exp_gate;
    case MT_UP_EXPS: return ly->exp_up;
    case MT_DOWN_EXPS: return ly->exp_down;
    case MT_GATE_SHEXP: return &ly->sh_gate;
    case MT_UP_SHEXP: return &ly->sh_up;
    case MT_DOWN_SHEXP: return &ly->sh_down;
    default: return &ly->sh_router;
    }
}

int moe_check_hparams(const model_hparams *hp, const char *what, cj_err *e) {
    if (hp->n_experts == 0 && hp->n_expert_used == 0 && hp->expert_ffn == 0 && hp->shared_ffn == 0) return 0;
    if (hp->n_experts < 1 || hp->n_experts > MOE_MAX_EXPERTS)
        return cj_fail(e, "%s: expert count %d is out of range (1..%d)", what, hp->n_experts, MOE_MAX_EXPERTS);
    if (hp->n_expert_used < 1 || hp->n_expert_used > hp->n_experts)
        return cj_fail(e, "%s: experts used per token %d is out of range (1..%d)", what, hp->n_expert_used,
                       hp->n_experts);
    if (hp->expert_ffn < 1 || hp->expert_ffn > hp->ffn_dim || hp->shared_ffn < 0 || hp->shared_ffn > hp->ffn_dim)
        return cj_fail(e, "%s: expert widths %d and %d (shared) must be positive (shared: or 0) and at most %d", what,
                       hp->expert_ffn, hp->shared_ffn, hp->ffn_dim);
    if (hp->mlp != MLP_SWIGLU || hp->parallel_residual)
        return cj_fail(e, "%s: experts are only supported as SwiGLU MLPs of a sequential block", what);
    return 0;
}
