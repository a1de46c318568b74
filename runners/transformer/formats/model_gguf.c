/* model_gguf — loads a llama.cpp GGUF checkpoint (the architectures of
 * arch.h) into a model: hyper-parameters from "<arch>.*" keys, weights from
 * the llama.cpp tensor names, the tokenizer from "tokenizer.ggml.*".
 *
 * The file stays mapped for the model's lifetime (model_keep_map): matrices
 * are used in place in their own type (model_set_mat), vectors as F32 (in
 * place, or dequantized once into buffers the model owns). GGUF lists a
 * matrix's shape as ne = [in, out] with ne[0] contiguous, which is exactly
 * the row-major [out, in] layout model.h wants, so no transposition is ever
 * needed.
 *
 * Which tensors an architecture has, and their names and shapes, come from
 * arch.h, and for the experts of MoE models from moe_load.h (3-D stacks,
 * each expert bound as a matrix of its own). Every tensor of the file must
 * be used: a tensor we do not know (an output bias, experts of an
 * architecture without them) would change the numbers if ignored, so it is
 * refused by name instead. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "arch.h"
#include "gguf.h"
#include "model.h"
#include "moe_load.h"
#include "quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF tensors are little-endian and F32 ones are used in place: a little-endian host is required"
#endif

typedef struct {
    model *m;
    gguf_ctx *g;
    const char *path;
    const char *arch;  /* general.architecture, owned by g */
    const arch_desc *a;
    unsigned char *used; /* [n_tensors]: 1 once a tensor is bound to a weight */
    int n_mat;         /* 2-D weights seen so far */
    ggml_type mat_type; /* their type, while they all agree */
    int mat_mixed;
    int64_t n_params;
    cj_err *e;
} loader;

/* ---- hyper-parameters ---- */

/* "<arch>.<suffix>" into buf. */
static const char *arch_key(const loader *L, const char *suffix, char buf[160]) {
    snprintf(buf, 160, "%s.%s", L->arch, suffix);
    return buf;
}

/* A positive int hyper-parameter; def (> 0) when the key is absent, or
 * def = 0 to make the key required. */
static int hp_int(loader *L, const char *suffix, int def, int *out) {
    char key[160];
    arch_key(L, suffix, key);
    if (gguf_find_key(L->g, key) < 0 && def > 0) {
        *out = def;
        return 0;
    }
    int64_t v;
    if (gguf_get_int(L->g, key, &v, L->e) != 0) return -1;
    if (v <= 0 || v > INT_MAX)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 " is out of range (1..%d)", L->path, key, v, INT_MAX);
    *out = (int)v;
    return 0;
}

/* A finite positive float hyper-parameter; def when absent (def < 0: required). */
static int hp_float(loader *L, const char *suffix, double def, float *out) {
    char key[160];
    arch_key(L, suffix, key);
    double v = def;
    if ((gguf_find_key(L->g, key) >= 0 || def < 0) && gguf_get_float(L->g, key, &v, L->e) != 0) return -1;
    if (!(v > 0 && v < 1e30))
        return cj_fail(L->e, "%s: metadata key '%s' = %g is not a finite positive number", L->path, key, v);
    *out = (float)v;
    return 0;
}

/* The optional int key <arch>.suffix into *out (left alone when absent). */
static int hp_opt_int(loader *L, const char *suffix, int64_t *out) {
    char key[160];
    if (gguf_find_key(L->g, arch_key(L, suffix, key)) < 0) return 0;
    return gguf_get_int(L->g, key, out, L->e);
}

/* Partial RoPE, its scaling, and features the forward pass does not
 * implement: refusing them is better than silently computing something
 * else. */
static int read_rope_and_refusals(loader *L) {
    model_hparams *hp = &L->m->hp;
    char key[160];
    int64_t v = hp->head_dim;
    if (hp_opt_int(L, "rope.dimension_count", &v)) return -1;
    if (v <= 0 || v > hp->head_dim || v % 2)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 " must be even and at most head_dim %d", L->path,
                       arch_key(L, "rope.dimension_count", key), v, hp->head_dim);
    hp->rope_dims = v < hp->head_dim ? (int)v : 0; /* 0: the whole head, as model.h has it */
    v = hp->head_dim;
    if (hp_opt_int(L, "attention.value_length", &v)) return -1;
    if (v != hp->head_dim)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 " differs from the key length %d (not supported)",
                       L->path, arch_key(L, "attention.value_length", key), v, hp->head_dim);
    if (gguf_find_key(L->g, arch_key(L, "rope.scaling.type", key)) >= 0) {
        const char *s = gguf_get_str(L->g, key, L->e);
        if (!s) return -1;
        if (!strcmp(s, "linear")) {
            hp->rope_scale = ROPE_SCALE_LINEAR;
            return hp_float(L, "rope.scaling.factor", -1, &hp->rope_factor);
        }
        if (strcmp(s, "none") != 0)
            return cj_fail(L->e, "%s: metadata key '%s' = '%s': only linear RoPE scaling is supported", L->path, key,
                           s);
    }
    return 0;
}

/* Mistral's sliding window (llama.cpp's key; its converter writes none for
 * Mistral, so most Mistral GGUFs run full attention, as llama.cpp runs
 * them), and Gemma's, on the layers of the architecture's period (llama.cpp
 * fixes it by architecture; an integer sliding_window_pattern overrides
 * it). Other per-layer patterns are not supported. */
static int read_window(loader *L) {
    model_hparams *hp = &L->m->hp;
    char key[160];
    int64_t v = 0;
    if (hp_opt_int(L, "attention.sliding_window", &v)) return -1;
    if (v < 0 || v > INT_MAX)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 " is out of range (0..%d)", L->path,
                       arch_key(L, "attention.sliding_window", key), v, INT_MAX);
    hp->sliding_window = (int)v;
    if (gguf_find_key(L->g, arch_key(L, "attention.sliding_window_pattern", key)) < 0) return 0;
    if (!hp->swa_period)
        return cj_fail(L->e, "%s: metadata key '%s': per-layer sliding windows are not supported", L->path, key);
    return hp_int(L, "attention.sliding_window_pattern", 0, &hp->swa_period);
}

/* An optional soft-cap key: absent or 0 is none. */
static int read_cap(loader *L, const char *suffix, float *out) {
    char key[160];
    double v = 0;
    if (gguf_find_key(L->g, arch_key(L, suffix, key)) >= 0 && gguf_get_float(L->g, key, &v, L->e)) return -1;
    if (!(v >= 0 && v < 1e30))
        return cj_fail(L->e, "%s: metadata key '%s' = %g is not a finite number >= 0", L->path, key, v);
    *out = (float)v;
    return 0;
}

/* llama.cpp's routing options beyond softmax top-k: a gating function
 * (1: softmax), a scale of the weights, and their renormalization, which
 * its architectures otherwise fix (as moe_arch does). */
static int read_moe_routing(loader *L) {
    char key[160];
    int64_t v = 1;
    if (hp_opt_int(L, "expert_gating_func", &v)) return -1;
    if (v != 1)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 ": only softmax routing (1) is supported", L->path,
                       arch_key(L, "expert_gating_func", key), v);
    double scale = 1;
    if (gguf_find_key(L->g, arch_key(L, "expert_weights_scale", key)) >= 0 &&
        gguf_get_float(L->g, key, &scale, L->e))
        return -1;
    if (scale != 1)
        return cj_fail(L->e, "%s: metadata key '%s' = %g: scaled expert weights are not supported", L->path, key,
                       scale);
    if (gguf_find_key(L->g, arch_key(L, "expert_weights_norm", key)) >= 0 &&
        gguf_get_bool(L->g, key, &L->m->hp.norm_topk, L->e))
        return -1;
    return 0;
}

/* The experts' counts and widths; experts in an architecture without them
 * are refused. */
static int read_moe(loader *L) {
    model_hparams *hp = &L->m->hp;
    char key[160];
    int64_t v = 0;
    int shared = 0;
    if (hp_opt_int(L, "expert_count", &v)) return -1;
    if (!moe_arch(L->a->name, 1, &shared, &hp->norm_topk))
        return v > 0 ? cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 ": %s models have no experts", L->path,
                               arch_key(L, "expert_count", key), v, L->arch)
                     : 0;
    if (hp_int(L, "expert_count", 0, &hp->n_experts) || hp_int(L, "expert_used_count", 0, &hp->n_expert_used) ||
        hp_int(L, "expert_feed_forward_length", hp->ffn_dim, &hp->expert_ffn) ||
        (shared && hp_int(L, "expert_shared_feed_forward_length", 0, &hp->shared_ffn)) || read_moe_routing(L))
        return -1;
    v = shared;
    if (hp_opt_int(L, "expert_shared_count", &v)) return -1;
    if (v != shared)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 ": %s models have %d shared experts", L->path,
                       arch_key(L, "expert_shared_count", key), v, L->a->name, shared);
    hp->ffn_dim = hp->expert_ffn > hp->shared_ffn ? hp->expert_ffn : hp->shared_ffn;
    return 0;
}

/* Gemma's soft-caps and query scale. The files carry no
 * query_pre_attn_scalar: llama.cpp takes 1/sqrt(dim / n_heads) for the 27B
 * shapes (Gemma 2 of 46 layers, Gemma 3 of 62) and 1/sqrt(head_dim) for the
 * others, as their configs have it; so do we. */
static int read_gemma(loader *L) {
    model_hparams *hp = &L->m->hp;
    if (!hp->embd_scaled) return 0;
    int big = hp->n_layers == (!strcmp(L->arch, "gemma2") ? 46 : 62);
    hp->attn_scale = 1.0f / sqrtf((float)(big ? hp->dim / hp->n_heads : hp->head_dim));
    return read_cap(L, "attn_logit_softcapping", &hp->attn_softcap) ||
                   read_cap(L, "final_logit_softcapping", &hp->final_softcap)
               ? -1
               : 0;
}

static int read_hparams(loader *L) {
    model_hparams *hp = &L->m->hp;
    const char *eps = L->a->norm == NORM_LAYER ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon";
    if (hp_int(L, "embedding_length", 0, &hp->dim) || hp_int(L, "feed_forward_length", 0, &hp->ffn_dim) ||
        hp_int(L, "block_count", 0, &hp->n_layers) || hp_int(L, "attention.head_count", 0, &hp->n_heads) ||
        hp_int(L, "attention.head_count_kv", hp->n_heads, &hp->n_kv_heads) ||
        hp_int(L, "context_length", 0, &hp->ctx_len) || hp_float(L, eps, -1, &hp->rms_eps) ||
        hp_float(L, "rope.freq_base", 10000.0, &hp->rope_theta))
        return -1;
    char key[160];
    if (gguf_find_key(L->g, arch_key(L, "attention.key_length", key)) >= 0) {
        if (hp_int(L, "attention.key_length", 0, &hp->head_dim)) return -1;
    } else {
        if (hp->dim % hp->n_heads != 0)
            return cj_fail(L->e, "%s: embedding_length %d is not a multiple of head_count %d (and no key_length)",
                           L->path, hp->dim, hp->n_heads);
        hp->head_dim = hp->dim / hp->n_heads;
    }
    arch_fill_hparams(L->a, 1, hp);
    /* llama.cpp reads it for GPT-NeoX only; GPT-NeoX's default is parallel */
    if (gguf_find_key(L->g, arch_key(L, "use_parallel_residual", key)) >= 0 &&
        gguf_get_bool(L->g, key, &hp->parallel_residual, L->e))
        return -1;
    return read_window(L) || read_gemma(L) || read_rope_and_refusals(L) || read_moe(L) ? -1 : 0;
}

/* ---- weights ---- */

static void note_type(loader *L, const gguf_tensor *t) {
    if (L->n_mat++ == 0) L->mat_type = t->type;
    else if (t->type != L->mat_type) L->mat_mixed = 1;
}

/* Finds tensor `name` of GGUF shape [ne0] (ne1 == 0), [ne0, ne1] or (ne2
 * > 0) [ne0, ne1, ne2] and marks it used. Missing tensors are an error
 * when required, else *out = NULL. */
static int find3(loader *L, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, int required,
                 const gguf_tensor **out) {
    *out = NULL;
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    if (!t) return required ? cj_fail(L->e, "%s: tensor '%s' is missing", L->path, name) : 0;
    int64_t want[4] = {ne0, ne1 ? ne1 : 1, ne2 ? ne2 : 1, 1};
    if (memcmp(t->ne, want, sizeof want) != 0) {
        char need[96];
        if (ne2) snprintf(need, sizeof need, "[%" PRId64 ", %" PRId64 ", %" PRId64 "]", ne0, ne1, ne2);
        else if (ne1) snprintf(need, sizeof need, "[%" PRId64 ", %" PRId64 "]", ne0, ne1);
        else snprintf(need, sizeof need, "[%" PRId64 "]", ne0);
        return cj_fail(L->e,
                       "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                       "], expected %s (ne order: [in, out])",
                       L->path, name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], need);
    }
    L->used[t - gguf_tensor_at(L->g, 0)] = 1;
    L->n_params += (int64_t)t->n_elements;
    *out = t;
    return 0;
}

static int find(loader *L, const char *name, int64_t ne0, int64_t ne1, int required, const gguf_tensor **out) {
    return find3(L, name, ne0, ne1, 0, required, out);
}

/* A vector [ne0] as F32: in place when it is, else dequantized now. */
static int bind(loader *L, const char *name, int64_t ne0, int required, const float **out) {
    const gguf_tensor *t;
    *out = NULL;
    if (find(L, name, ne0, 0, required, &t)) return -1;
    if (!t) return 0;
    if (t->type == GGML_F32 && (uintptr_t)t->data % _Alignof(float) == 0) {
        *out = t->data;
        return 0;
    }
    float *buf = model_alloc_f32(L->m, t->n_elements);
    if (!buf)
        return cj_fail(L->e, "%s: tensor '%s': cannot allocate %" PRIu64 " floats", L->path, name, t->n_elements);
    quant_dequantize(t->type, t->data, buf, t->n_elements);
    *out = buf;
    return 0;
}

/* A matrix [ne1 rows, ne0 columns] in the file's type (model_set_mat). */
static int bind_mat(loader *L, const char *name, int64_t ne0, int64_t ne1, int required, model_mat *out) {
    const gguf_tensor *t;
    *out = (model_mat){0};
    if (find(L, name, ne0, ne1, required, &t)) return -1;
    if (!t) return 0;
    note_type(L, t);
    char what[256];
    snprintf(what, sizeof what, "%s: tensor '%s'", L->path, name);
    return model_set_mat(L->m, out, t->data, t->nbytes, t->type, ne1, ne0, what, L->e);
}

/* Binds role r of layer l (global roles: l is ignored) from the table of
 * names, with the shape arch_shape gives; absent and not required leaves
 * the slot NULL. */
static int bind_role(loader *L, arch_role r, int l, int required) {
    char name[96];
    int64_t rows, cols;
    model_mat *mat;
    const float **vec;
    arch_shape(&L->m->hp, r, &rows, &cols);
    arch_slot(L->m, l >= 0 ? &L->m->layers[l] : NULL, r, &mat, &vec);
    arch_gguf_name(r, l, name, sizeof name);
    return mat ? bind_mat(L, name, cols, rows, required, mat) : bind(L, name, rows, required, vec);
}

/* The n experts' [rows, cols] matrices stacked in one tensor of GGUF
 * shape [cols, rows, n]: one model_mat per expert, in place. */
static int bind_stack(loader *L, const char *name, int64_t rows, int64_t cols, int n, model_mat *out) {
    const gguf_tensor *t;
    if (find3(L, name, cols, rows, n, 1, &t)) return -1;
    note_type(L, t);
    if (t->nbytes % (size_t)n)
        return cj_fail(L->e, "%s: tensor '%s': %zu bytes do not split into %d experts", L->path, name, t->nbytes, n);
    size_t each = t->nbytes / (size_t)n;
    for (int x = 0; x < n; x++) {
        char what[256];
        snprintf(what, sizeof what, "%s: tensor '%s' expert %d", L->path, name, x);
        if (model_set_mat(L->m, &out[x], (const uint8_t *)t->data + (size_t)x * each, each, t->type, rows, cols, what,
                          L->e))
            return -1;
    }
    return 0;
}

/* Layer l's router, experts and shared expert (moe_load.h). */
static int bind_moe(loader *L, int l) {
    const model_hparams *hp = &L->m->hp;
    for (int t = 0; t < MT_COUNT; t++) {
        char name[96];
        int64_t rows, cols;
        if (!moe_has(hp, (moe_tensor)t)) continue;
        moe_shape(hp, (moe_tensor)t, &rows, &cols);
        moe_gguf_name((moe_tensor)t, l, name, sizeof name);
        model_mat *slot = moe_slot(&L->m->layers[l], (moe_tensor)t);
        int stacked = t >= MT_GATE_EXPS && t <= MT_DOWN_EXPS;
        if (stacked ? bind_stack(L, name, rows, cols, hp->n_experts, slot) : bind_mat(L, name, cols, rows, 1, slot))
            return -1;
    }
    return 0;
}

static int bind_layer(loader *L, int i) {
    model_layer *ly = &L->m->layers[i];
    for (int r = R_FIRST_LAYER; r < R_COUNT; r++)
        if ((L->a->need | L->a->gguf_maybe) & ROLE(r) && bind_role(L, (arch_role)r, i, !!(L->a->need & ROLE(r))))
            return -1;
    if (L->m->hp.n_experts && bind_moe(L, i)) return -1;
    int nb = !!ly->bq + !!ly->bk + !!ly->bv;
    if (nb != 0 && nb != 3)
        return cj_fail(L->e, "%s: layer %d has only some of attn_q/k/v.bias (all three or none)", L->path, i);
    if ((nb == 3) != (L->m->hp.qkv_bias != 0) && i > 0)
        return cj_fail(L->e, "%s: layer %d disagrees with layer 0 on having attn_q/k/v.bias", L->path, i);
    L->m->hp.qkv_bias = nb == 3;
    return 0;
}

static int bind_all(loader *L) {
    model *m = L->m;
    model_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_find_tensor(L->g, "token_embd.weight");
    if (!emb) return cj_fail(L->e, "%s: tensor 'token_embd.weight' is missing", L->path);
    if (emb->ne[1] <= 0 || emb->ne[1] > INT_MAX)
        return cj_fail(L->e, "%s: tensor 'token_embd.weight' has %" PRId64 " rows (the vocabulary size)", L->path,
                       emb->ne[1]);
    hp->vocab_size = (int)emb->ne[1];
    if (model_check_hparams(hp, L->path, L->e) != 0) return -1;
    m->layers = cj_xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    if (hp->n_experts) moe_alloc(m);
    for (int r = 0; r < R_FIRST_LAYER; r++)
        if ((r == R_OUTPUT || (L->a->need | L->a->gguf_maybe) & ROLE(r)) &&
            bind_role(L, (arch_role)r, -1, !!(L->a->need & ROLE(r))))
            return -1;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    for (int i = 0; i < hp->n_layers; i++)
        if (bind_layer(L, i) != 0) return -1;
    for (int64_t i = 0; i < gguf_n_tensors(L->g); i++)
        if (!L->used[i])
            return cj_fail(L->e, "%s: tensor '%s' is not part of a supported %s model (%d layers)", L->path,
                           gguf_tensor_at(L->g, i)->name, L->arch, hp->n_layers);
    return 0;
}

/* ---- entry point ---- */

static int load(loader *L) {
    model *m = L->m;
    L->arch = gguf_get_str(L->g, "general.architecture", L->e);
    if (!L->arch) return -1;
    L->a = arch_by_name(L->arch);
    /* llama.cpp writes Mistral as llama, and Mixtral as llama with experts */
    int64_t experts = 0;
    if (L->a && !strcmp(L->arch, "llama") && gguf_find_key(L->g, "llama.expert_count") >= 0 &&
        gguf_get_int(L->g, "llama.expert_count", &experts, L->e) == 0 && experts > 0)
        L->a = arch_by_name("mixtral");
    if (!L->a || !strcmp(L->arch, "mistral") || !strcmp(L->arch, "mixtral"))
        return cj_fail(L->e, "%s: architecture '%s' is not supported (%s)", L->path, L->arch, arch_list(0));
    if (read_hparams(L) != 0) return -1;
    L->used = cj_xcalloc((size_t)gguf_n_tensors(L->g) + 1, 1);
    if (bind_all(L) != 0) return -1;
    m->arch = cj_xstrdup(L->a->name); /* Mixtral's "llama" file reports "mixtral", as its folder does */
    m->dtype = cj_xstrdup(L->mat_mixed ? "mixed" : quant_type_name(L->mat_type));
    m->n_params = L->n_params;
    m->format = "gguf";
    return tok_load_gguf(L->g, &m->tok, L->e);
}

int model_load_gguf(const char *path, model *m, cj_err *e) {
    cj_map map;
    if (cj_map_open(path, &map, e) != 0) return -1;
    const cj_map *kept = model_keep_map(m, &map);
    loader L = {.m = m, .path = path, .e = e};
    if (gguf_open_mem(kept->data, kept->size, path, &L.g, e) != 0) return -1;
    int rc = load(&L);
    free(L.used);
    gguf_close(L.g);
    return rc;
}
