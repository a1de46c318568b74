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

static const role_names NAMES[R_COUNT] = {
    [R_TOK_EMBD] = {"token_embd.weight", {"model.embed_tokens.weight", "gpt_neox.embed_in.weight"}},
    [R_OUTPUT_NORM] = {"output_norm.weight", {"model.norm.weight", "gpt_neox.final_layer_norm.weight"}},
    [R_OUTPUT_NORM_B] = {"output_norm.bias", {NULL, "gpt_neox.final_layer_norm.bias"}},
    [R_OUTPUT] = {"output.weight", {"lm_head.weight", "embed_out.weight"}},
    [R_ROPE_FREQS] = {"rope_freqs.weight", {NULL, NULL}},
    [R_ATTN_NORM] = {"blk.%d.attn_norm.weight",
                     {"model.layers.%d.input_layernorm.weight", "gpt_neox.layers.%d.input_layernorm.weight"}},
    [R_ATTN_NORM_B] = {"blk.%d.attn_norm.bias", {NULL, "gpt_neox.layers.%d.input_layernorm.bias"}},
    [R_ATTN_Q] = {"blk.%d.attn_q.weight", {"model.layers.%d.self_attn.q_proj.weight", NULL}},
    [R_ATTN_K] = {"blk.%d.attn_k.weight", {"model.layers.%d.self_attn.k_proj.weight", NULL}},
    [R_ATTN_V] = {"blk.%d.attn_v.weight", {"model.layers.%d.self_attn.v_proj.weight", NULL}},
    [R_ATTN_QKV] = {"blk.%d.attn_qkv.weight", {NULL, "gpt_neox.layers.%d.attention.query_key_value.weight"}},
    [R_ATTN_Q_B] = {"blk.%d.attn_q.bias", {"model.layers.%d.self_attn.q_proj.bias", NULL}},
    [R_ATTN_K_B] = {"blk.%d.attn_k.bias", {"model.layers.%d.self_attn.k_proj.bias", NULL}},
    [R_ATTN_V_B] = {"blk.%d.attn_v.bias", {"model.layers.%d.self_attn.v_proj.bias", NULL}},
    [R_ATTN_QKV_B] = {"blk.%d.attn_qkv.bias", {NULL, "gpt_neox.layers.%d.attention.query_key_value.bias"}},
    [R_ATTN_OUT] = {"blk.%d.attn_output.weight",
                    {"model.layers.%d.self_attn.o_proj.weight", "gpt_neox.layers.%d.attention.dense.weight"}},
    [R_ATTN_OUT_B] = {"blk.%d.attn_output.bias", {NULL, "gpt_neox.layers.%d.attention.dense.bias"}},
    [R_FFN_NORM] = {"blk.%d.ffn_norm.weight",
                    {"model.layers.%d.post_attention_layernorm.weight",
                     "gpt_neox.layers.%d.post_attention_layernorm.weight"}},
    [R_FFN_NORM_B] = {"blk.%d.ffn_norm.bias", {NULL, "gpt_neox.layers.%d.post_attention_layernorm.bias"}},
    [R_FFN_GATE] = {"blk.%d.ffn_gate.weight", {"model.layers.%d.mlp.gate_proj.weight", NULL}},
    [R_FFN_UP] = {"blk.%d.ffn_up.weight",
                  {"model.layers.%d.mlp.up_proj.weight", "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight"}},
    [R_FFN_UP_B] = {"blk.%d.ffn_up.bias", {NULL, "gpt_neox.layers.%d.mlp.dense_h_to_4h.bias"}},
    [R_FFN_DOWN] = {"blk.%d.ffn_down.weight",
                    {"model.layers.%d.mlp.down_proj.weight", "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight"}},
    [R_FFN_DOWN_B] = {"blk.%d.ffn_down.bias", {NULL, "gpt_neox.layers.%d.mlp.dense_4h_to_h.bias"}},
};

#define LLAMA_BLOCK                                                                                              \
    (ROLE(R_TOK_EMBD) | ROLE(R_OUTPUT_NORM) | ROLE(R_ATTN_NORM) | ROLE(R_ATTN_Q) | ROLE(R_ATTN_K) |           \
     ROLE(R_ATTN_V) | ROLE(R_ATTN_OUT) | ROLE(R_FFN_NORM) | ROLE(R_FFN_GATE) | ROLE(R_FFN_UP) | ROLE(R_FFN_DOWN))
#define QKV_BIASES (ROLE(R_ATTN_Q_B) | ROLE(R_ATTN_K_B) | ROLE(R_ATTN_V_B))
#define NEOX_BLOCK                                                                                               \
    (ROLE(R_TOK_EMBD) | ROLE(R_OUTPUT_NORM) | ROLE(R_OUTPUT_NORM_B) | ROLE(R_ATTN_NORM) | ROLE(R_ATTN_NORM_B) | \
     ROLE(R_ATTN_QKV) | ROLE(R_ATTN_QKV_B) | ROLE(R_ATTN_OUT) | ROLE(R_ATTN_OUT_B) | ROLE(R_FFN_NORM) |         \
     ROLE(R_FFN_NORM_B) | ROLE(R_FFN_UP) | ROLE(R_FFN_UP_B) | ROLE(R_FFN_DOWN) | ROLE(R_FFN_DOWN_B))

/* Llama 1/2/3 GGUFs may carry Q/K/V biases (some fine-tunes) and Llama 3.1's
 * rope_freqs; Qwen2 always has the biases and rotates halves. */
static const arch_desc ARCHS[] = {
    {"llama", "LlamaForCausalLM", "llama", HF_LLAMA, 2048, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 0, LLAMA_BLOCK,
     QKV_BIASES | ROLE(R_ROPE_FREQS)},
    {"mistral", "MistralForCausalLM", "mistral", HF_LLAMA, 4096 * 32, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 0,
     LLAMA_BLOCK, QKV_BIASES},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", HF_LLAMA, 32768, NORM_RMS, MLP_SWIGLU, QKV_SEPARATE, QKV_SEPARATE, 1,
     LLAMA_BLOCK | QKV_BIASES, 0},
    {"gptneox", "GPTNeoXForCausalLM", "gpt_neox", HF_NEOX, 2048, NORM_LAYER, MLP_GELU, QKV_FUSED_PER_HEAD, QKV_FUSED, 1, NEOX_BLOCK, 0},
};
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

void arch_shape(const model_hparams *hp, arch_role r, int64_t *rows, int64_t *cols) {
    int64_t d = hp->dim, ff = hp->ffn_dim, q = (int64_t)hp->n_heads * hp->head_dim;
    int64_t kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    *cols = 0;
    switch (r) {
    case R_TOK_EMBD: case R_OUTPUT: *rows = hp->vocab_size, *cols = d; break;
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
    case R_ATTN_OUT: *mat = &ly->wo; break;
    case R_ATTN_OUT_B: *vec = &ly->bo; break;
    case R_FFN_NORM: *vec = &ly->ffn_norm; break;
    case R_FFN_NORM_B: *vec = &ly->ffn_norm_b; break;
    case R_FFN_GATE: *mat = &ly->w_gate; break;
    case R_FFN_UP: *mat = &ly->w_up; break;
    case R_FFN_UP_B: *vec = &ly->b_up; break;
    case R_FFN_DOWN: *mat = &ly->w_down; break;
    default: *vec = &ly->b_down; break; /* R_FFN_DOWN_B */
    }
}
