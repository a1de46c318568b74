/* arch — the architectures and the tensor-name table (see arch.h). */
#include "arch.h"

#include <stdio.h>
#include <string.h>

/* Names per role: GGUF's (llama.cpp's, uniform across architectures) and
 * each HF family's; "%d" is the layer. NULL: the format has no such
 * tensor. */
typedef struct {
    const char *gguf;
    const char *hf[HF_NAMES];
} role_names;

#define L_(x) "model.layers.%d." x
#define N_(x) "gpt_neox.layers.%d." x
#define T_(x) "transformer.h.%d." x /* EXAONE and GPT-2 */
static const role_names NAMES[R_COUNT] = {
    [R_TOK_EMBD] = {"token_embd.weight",
                    {"model.embed_tokens.weight", "gpt_neox.embed_in.weight", "transformer.wte.weight",
                     "transformer.wte.weight", [HF_GEMMA] = "model.embed_tokens.weight"}},
    [R_POS_EMBD] = {"position_embd.weight", {[HF_GPT2] = "transformer.wpe.weight"}},
    [R_OUTPUT_NORM] = {"output_norm.weight",
                       {"model.norm.weight", "gpt_neox.final_layer_norm.weight", "transformer.ln_f.weight",
                        "transformer.ln_f.weight", [HF_GEMMA] = "model.norm.weight"}},
    [R_OUTPUT_NORM_B] = {"output_norm.bias",
                         {[HF_NEOX] = "gpt_neox.final_layer_norm.bias", [HF_GPT2] = "transformer.ln_f.bias"}},
    [R_OUTPUT] = {"output.weight",
                  {"lm_head.weight", "embed_out.weight", "lm_head.weight", "lm_head.weight", [HF_GEMMA] = "lm_head.weight"}},
    [R_ROPE_FREQS] = {"rope_freqs.weight", {NULL}},
    [R_ATTN_NORM] = {"blk.%d.attn_norm.weight",
                     {L_("input_layernorm.weight"), N_("input_layernorm.weight"), T_("ln_1.weight"),
                      T_("ln_1.weight"), [HF_GEMMA] = L_("input_layernorm.weight")}},
    [R_ATTN_NORM_B] = {"blk.%d.attn_norm.bias", {[HF_NEOX] = N_("input_layernorm.bias"), [HF_GPT2] = T_("ln_1.bias")}},
    [R_ATTN_Q] = {"blk.%d.attn_q.weight",
                  {[HF_LLAMA] = L_("self_attn.q_proj.weight"), [HF_EXAONE] = T_("attn.attention.q_proj.weight"),
                   [HF_GEMMA] = L_("self_attn.q_proj.weight")}},
    [R_ATTN_K] = {"blk.%d.attn_k.weight",
                  {[HF_LLAMA] = L_("self_attn.k_proj.weight"), [HF_EXAONE] = T_("attn.attention.k_proj.weight"),
                   [HF_GEMMA] = L_("self_attn.k_proj.weight")}},
    [R_ATTN_V] = {"blk.%d.attn_v.weight",
                  {[HF_LLAMA] = L_("self_attn.v_proj.weight"), [HF_EXAONE] = T_("attn.attention.v_proj.weight"),
                   [HF_GEMMA] = L_("self_attn.v_proj.weight")}},
    [R_ATTN_QKV] = {"blk.%d.attn_qkv.weight",
                    {[HF_NEOX] = N_("attention.query_key_value.weight"), [HF_GPT2] = T_("attn.c_attn.weight")}},
    [R_ATTN_Q_B] = {"blk.%d.attn_q.bias", {[HF_LLAMA] = L_("self_attn.q_proj.bias")}},
    [R_ATTN_K_B] = {"blk.%d.attn_k.bias", {[HF_LLAMA] = L_("self_attn.k_proj.bias")}},
    [R_ATTN_V_B] = {"blk.%d.attn_v.bias", {[HF_LLAMA] = L_("self_attn.v_proj.bias")}},
    [R_ATTN_QKV_B] = {"blk.%d.attn_qkv.bias",
                      {[HF_NEOX] = N_("attention.query_key_value.bias"), [HF_GPT2] = T_("attn.c_attn.bias")}},
    [R_ATTN_Q_NORM] = {"blk.%d.attn_q_norm.weight",
                       {[HF_LLAMA] = L_("self_attn.q_norm.weight"), [HF_GEMMA] = L_("self_attn.q_norm.weight")}},
    [R_ATTN_K_NORM] = {"blk.%d.attn_k_norm.weight",
                       {[HF_LLAMA] = L_("self_attn.k_norm.weight"), [HF_GEMMA] = L_("self_attn.k_norm.weight")}},
    [R_ATTN_OUT] = {"blk.%d.attn_output.weight",
                    {L_("self_attn.o_proj.weight"), N_("attention.dense.weight"), T_("attn.attention.out_proj.weight"),
                     T_("attn.c_proj.weight"), [HF_GEMMA] = L_("self_attn.o_proj.weight")}},
    [R_ATTN_OUT_B] = {"blk.%d.attn_output.bias",
                      {[HF_NEOX] = N_("attention.dense.bias"), [HF_GPT2] = T_("attn.c_proj.bias")}},
    [R_FFN_NORM] = {"blk.%d.ffn_norm.weight",
                    {L_("post_attention_layernorm.weight"), N_("post_attention_layernorm.weight"), T_("ln_2.weight"),
                     T_("ln_2.weight"), [HF_GEMMA] = L_("pre_feedforward_layernorm.weight")}},
    [R_FFN_NORM_B] = {"blk.%d.ffn_norm.bias",
                      {[HF_NEOX] = N_("post_attention_layernorm.bias"), [HF_GPT2] = T_("ln_2.bias")}},
    [R_FFN_GATE] = {"blk.%d.ffn_gate.weight",
                    {[HF_LLAMA] = L_("mlp.gate_proj.weight"), [HF_EXAONE] = T_("mlp.c_fc_0.weight"),
                     [HF_GEMMA] = L_("mlp.gate_proj.weight")}},
    [R_FFN_UP] = {"blk.%d.ffn_up.weight",
                  {L_("mlp.up_proj.weight"), N_("mlp.dense_h_to_4h.weight"), T_("mlp.c_fc_1.weight"),
                   T_("mlp.c_fc.weight"), [HF_GEMMA] = L_("mlp.up_proj.weight")}},
    [R_FFN_UP_B] = {"blk.%d.ffn_up.bias", {[HF_NEOX] = N_("mlp.dense_h_to_4h.bias"), [HF_GPT2] = T_("mlp.c_fc.bias")}},
    [R_FFN_DOWN] = {"blk.%d.ffn_down.weight",
                    {L_("mlp.down_proj.weight"), N_("mlp.dense_4h_to_h.weight"), T_("mlp.c_proj.weight"),
                     T_("mlp.c_proj.weight"), [HF_GEMMA] = L_("mlp.down_proj.weight")}},
    [R_FFN_DOWN_B] = {"blk.%d.ffn_down.bias",
                      {[HF_NEOX] = N_("mlp.dense_4h_to_h.bias"), [HF_GPT2] = T_("mlp.c_proj.bias")}},
    [R_ATTN_POST_NORM] = {"blk.%d.post_attention_norm.weight", {[HF_GEMMA] = L_("post_attention_layernorm.weight")}},
    [R_FFN_POST_NORM] = {"blk.%d.post_ffw_norm.weight", {[HF_GEMMA] = L_("post_feedforward_layernorm.weight")}},
};

#define LLAMA_BLOCK                                                                                              \
    (ROLE(R_TOK_EMBD) | ROLE(R_OUTPUT_NORM) | ROLE(R_ATTN_NORM) | ROLE(R_ATTN_Q) | ROLE(R_ATTN_K) |           \
     ROLE(R_ATTN_V) | ROLE(R_ATTN_OUT) | ROLE(R_FFN_NORM) | ROLE(R_FFN_GATE) | ROLE(R_FFN_UP) | ROLE(R_FFN_DOWN))
#define QKV_BIASES (ROLE(R_ATTN_Q_B) | ROLE(R_ATTN_K_B) | ROLE(R_ATTN_V_B))
#define NEOX_BLOCK                                                                                               \
    (ROLE(R_TOK_EMBD) | ROLE(R_OUTPUT_NORM) | ROLE(R_OUTPUT_NORM_B) | ROLE(R_ATTN_NORM) | ROLE(R_ATTN_NORM_B) | \
     ROLE(R_ATTN_QKV) | ROLE(R_ATTN_QKV_B) | ROLE(R_ATTN_OUT) | ROLE(R_ATTN_OUT_B) | ROLE(R_FFN_NORM) |         \
     ROLE(R_FFN_NORM_B) | ROLE(R_FFN_UP) | ROLE(R_FFN_UP_B) | ROLE(R_FFN_DOWN) | ROLE(R_FFN_DOWN_B))
#define QK_NORMS (ROLE(R_ATTN_Q_NORM) | ROLE(R_ATTN_K_NORM))
/* MoE: the MLP's tensors are the experts of moe_load.h instead */
#define MOE_BLOCK (LLAMA_BLOCK & ~(ROLE(R_FFN_GATE) | ROLE(R_FFN_UP) | ROLE(R_FFN_DOWN)))
#define GPT2_BLOCK (NEOX_BLOCK | ROLE(R_POS_EMBD))
#define GEMMA_BLOCK (LLAMA_BLOCK | ROLE(R_ATTN_POST_NORM) | ROLE(R_FFN_POST_NORM))
#define CONV1D (ROLE(R_ATTN_QKV) | ROLE(R_ATTN_OUT) | ROLE(R_FFN_UP) | ROLE(R_FFN_DOWN))

/* Llama 1/2/3 GGUFs may carry Q/K/V biases (some fine-tunes) and Llama 3.1's
 * rope_freqs; Qwen2 always has the biases and rotates halves; Qwen3 drops
 * the biases for per-head q/k norms; EXAONE 3.5 is Llama 3 under other
 * names, its GGUFs in halves; GPT-2 has learned positions instead of RoPE
 * (gguf_rope_neox is moot), [q | k | v] from one Conv1D, gelu_new; Gemma
 * 2/3 add post norms and GeGLU (Gemma 3 q/k norms too), tied, halves. */
/* name, HF class, model_type, HF names, default ctx, norm, MLP, HF and GGUF
 * Q/K/V, GGUF halves, need, GGUF maybe, Conv1D, tied default, parallel default */
static const arch_desc ARCHS[] = {
    {"llama", "LlamaForCausalLM", "llama", HF_LLAMA, 2048, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 0, LLAMA_BLOCK,
     QKV_BIASES | ROLE(R_ROPE_FREQS), 0, 0, 0},
    {"mistral", "MistralForCausalLM", "mistral", HF_LLAMA, 4096 * 32, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 0,
     LLAMA_BLOCK, QKV_BIASES, 0, 0, 0},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", HF_LLAMA, 32768, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     LLAMA_BLOCK | QKV_BIASES, 0, 0, 0, 0},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", HF_LLAMA, 40960, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     LLAMA_BLOCK | QK_NORMS, 0, 0, 0, 0},
    {"gptneox", "GPTNeoXForCausalLM", "gpt_neox", HF_NEOX, 2048, NORM_LAYER, MLP_GELU, QKV_FUSED_PER_HEAD, QKV_FUSED, 1,
     NEOX_BLOCK, 0, 0, 0, 1},
    {"exaone", "ExaoneForCausalLM", "exaone", HF_EXAONE, 4096, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     LLAMA_BLOCK, ROLE(R_ROPE_FREQS), 0, 0, 0},
    {"gpt2", "GPT2LMHeadModel", "gpt2", HF_GPT2, 1024, NORM_LAYER, MLP_GELU_TANH, QKV_FUSED, QKV_FUSED, 0, GPT2_BLOCK, 0,
     CONV1D, 1, 0},
    /* Mixtral's GGUFs say "llama" (model_gguf.c tells them by their experts);
     * OLMoE's q/k norms span the whole projections (arch_fill_hparams) */
    {"mixtral", "MixtralForCausalLM", "mixtral", HF_LLAMA, 4096 * 32, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 0,
     MOE_BLOCK, 0, 0, 0, 0},
    {"qwen2moe", "Qwen2MoeForCausalLM", "qwen2_moe", HF_LLAMA, 32768, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE,
     1, MOE_BLOCK | QKV_BIASES, 0, 0, 0, 0},
    {"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", HF_LLAMA, 40960, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE,
     1, MOE_BLOCK | QK_NORMS, 0, 0, 0, 0},
    {"olmoe", "OlmoeForCausalLM", "olmoe", HF_LLAMA, 4096, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     MOE_BLOCK | QK_NORMS, 0, 0, 0, 0},
    {"gemma2", "Gemma2ForCausalLM", "gemma2", HF_GEMMA, 8192, NORM_RMS, MLP_GEGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     GEMMA_BLOCK, 0, 0, 1, 0},
    {"gemma3", "Gemma3ForCausalLM", "gemma3_text", HF_GEMMA, 131072, NORM_RMS, MLP_GEGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     GEMMA_BLOCK | QK_NORMS, 0, 0, 1, 0},
};

/* What Gemma adds to its rows (kept apart so that ARCHS keeps its
 * columns): the default window period (transformers' layer_types default,
 * llama.cpp's swa pattern) and the local layers' RoPE base (Gemma 2 has one
 * base for all layers). */
static const struct {
    const char *name;
    int swa_period;
    float local_theta;
} GEMMA[] = {{"gemma2", 2, 0}, {"gemma3", 6, 10000}};
#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])

const arch_desc *arch_by_hf(const char *cls, const char *type) {
    for (size_t i = 0; i < N_ARCHS; i++) {
        if (cls && !strcmp(cls, ARCHS[i].hf_class)) return &ARCHS[i];
        if (!cls && type && !strcmp(type, ARCHS[i].hf_type)) return &ARCHS[i];
    }
    return NULL;
}

const arch_desc *arch_by_name(const char *name) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (!strcmp(name, ARCHS[i].name)) return &ARCHS[i];
    return NULL;
}

const char *arch_list(int hf) {
    static char buf[2][256];
    char *b = buf[hf != 0];
    if (!*b)
        for (size_t i = 0, n = 0; i < N_ARCHS; i++)
            n += (size_t)snprintf(b + n, sizeof buf[0] - n, "%s%s", i ? ", " : "", hf ? ARCHS[i].hf_class : ARCHS[i].name);
    return b;
}

static const char *fill(const char *fmt, int l, char *buf, int size) {
    if (!fmt) return NULL;
    snprintf(buf, (size_t)size, fmt, l);
    return buf;
}

/* The format strings are the table's own, with at most one %d. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
const char *arch_gguf_name(arch_role r, int l, char *buf, int size) { return fill(NAMES[r].gguf, l, buf, size); }
const char *arch_hf_name(arch_hf_names fam, arch_role r, int l, char *buf, int size) {
    return fill(NAMES[r].hf[fam], l, buf, size);
}
#pragma GCC diagnostic pop

void arch_fill_hparams(const arch_desc *a, int gguf, model_hparams *hp) {
    hp->norm = a->norm;
    hp->mlp = a->mlp;
    hp->qkv = gguf ? a->gguf_qkv : a->hf_qkv;
    hp->rope_neox = gguf ? a->gguf_rope_neox : 1; /* HF stores Q/K for RoPE over halves */
    hp->qkv_bias = !!(a->need & ROLE(R_ATTN_Q_B));
    hp->qk_norm = !(a->need & ROLE(R_ATTN_Q_NORM)) ? 0 : !strcmp(a->name, "olmoe") ? QK_NORM_FULL : 1;
    hp->pos_embd = !!(a->need & ROLE(R_POS_EMBD));
    hp->parallel_residual = a->parallel_default;
    hp->post_norms = !!(a->need & ROLE(R_ATTN_POST_NORM));
    for (size_t i = 0; i < sizeof GEMMA / sizeof GEMMA[0]; i++)
        if (!strcmp(a->name, GEMMA[i].name)) {
            hp->embd_scaled = 1;
            hp->swa_period = GEMMA[i].swa_period;
            hp->rope_local_theta = GEMMA[i].local_theta;
        }
}

int arch_hf_norm_shift(const arch_desc *a) { return a->hf_names == HF_GEMMA; }

int arch_role_is_norm(arch_role r) {
    return r == R_OUTPUT_NORM || r == R_ATTN_NORM || r == R_ATTN_Q_NORM || r == R_ATTN_K_NORM || r == R_FFN_NORM ||
           r == R_ATTN_POST_NORM || r == R_FFN_POST_NORM;
}

void arch_shape(const model_hparams *hp, arch_role r, int64_t *rows, int64_t *cols) {
    int64_t d = hp->dim, ff = hp->ffn_dim, q = (int64_t)hp->n_heads * hp->head_dim;
    int64_t kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    *cols = 0;
    switch (r) {
    case R_TOK_EMBD: case R_OUTPUT: *rows = hp->vocab_size, *cols = d; break;
    case R_POS_EMBD: *rows = hp->ctx_len, *cols = d; break;
    case R_ATTN_Q_NORM: *rows = hp->qk_norm == QK_NORM_FULL ? q : hp->head_dim; break;
    case R_ATTN_K_NORM: *rows = hp->qk_norm == QK_NORM_FULL ? kv : hp->head_dim; break;
    case R_ROPE_FREQS: *rows = model_rope_dims(hp) / 2; break;
    case R_ATTN_Q: *rows = q, *cols = d; break;
    case R_ATTN_K: case R_ATTN_V: *rows = kv, *cols = d; break;
    case R_ATTN_QKV: *rows = q + 2 * kv, *cols = d; break;
    case R_ATTN_Q_B: *rows = q; break;
    case R_ATTN_K_B: case R_ATTN_V_B: *rows = kv; break;
    case R_ATTN_QKV_B: *rows = q + 2 * kv; break;
    case R_ATTN_OUT: *rows = d, *cols = q; break;
    case R_FFN_GATE: case R_FFN_UP: *rows = ff, *cols = d; break;
    case R_FFN_UP_B: *rows = ff; break;
    case R_FFN_DOWN: *rows = d, *cols = ff; break;
    default: *rows = d; break; /* norms, their biases, the output and down biases */
    }
}

void arch_slot(model *m, model_layer *ly, arch_role r, model_mat **mat, const float ***vec) {
    *mat = NULL;
    *vec = NULL;
    switch (r) {
    case R_TOK_EMBD: *mat = &m->tok_embd; break;
    case R_OUTPUT: *mat = &m->output; break;
    case R_POS_EMBD: *mat = &m->pos_embd; break;
    case R_OUTPUT_NORM: *vec = &m->output_norm; break;
    case R_OUTPUT_NORM_B: *vec = &m->output_norm_b; break;
    case R_ROPE_FREQS: *vec = &m->rope_freqs; break;
    case R_ATTN_NORM: *vec = &ly->attn_norm; break;
    case R_ATTN_NORM_B: *vec = &ly->attn_norm_b; break;
    case R_ATTN_Q: *mat = &ly->wq; break;
    case R_ATTN_K: *mat = &ly->wk; break;
    case R_ATTN_V: *mat = &ly->wv; break;
    case R_ATTN_QKV: *mat = &ly->wqkv; break;
    case R_ATTN_Q_B: *vec = &ly->bq; break;
    case R_ATTN_K_B: *vec = &ly->bk; break;
    case R_ATTN_V_B: *vec = &ly->bv; break;
    case R_ATTN_QKV_B: *vec = &ly->bqkv; break;
    case R_ATTN_Q_NORM: *vec = &ly->q_norm; break;
    case R_ATTN_K_NORM: *vec = &ly->k_norm; break;
    case R_ATTN_OUT: *mat = &ly->wo; break;
    case R_ATTN_OUT_B: *vec = &ly->bo; break;
    case R_FFN_NORM: *vec = &ly->ffn_norm; break;
    case R_FFN_NORM_B: *vec = &ly->ffn_norm_b; break;
    case R_FFN_GATE: *mat = &ly->w_gate; break;
    case R_FFN_UP: *mat = &ly->w_up; break;
    case R_FFN_UP_B: *vec = &ly->b_up; break;
    case R_FFN_DOWN: *mat = &ly->w_down; break;
    case R_ATTN_POST_NORM: *vec = &ly->attn_post_norm; break;
    case R_FFN_POST_NORM: *vec = &ly->ffn_post_norm; break;
    default: *vec = &ly->b_down; break; /* R_FFN_DOWN_B */
    }
}
