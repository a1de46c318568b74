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
 * arch.h. Every tensor of the file must be used: a tensor we do not know (an
 * output bias, MoE experts) would change the numbers if ignored, so it is
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
    v = 0;
    if (hp_opt_int(L, "expert_count", &v)) return -1;
    if (v > 0)
        return cj_fail(L->e, "%s: metadata key '%s' = %" PRId64 ": mixture-of-experts models are not supported",
                       L->path, arch_key(L, "expert_count", key), v);
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
    return read_window(L) || read_gemma(L) || read_rope_and_refusals(L) ? -1 : 0;
}

/* ---- weights ---- */

static void note_type(loader *L, const gguf_tensor *t) {
    if (L->n_mat++ == 0) L->mat_type = t->type;
    else if (t->type != L->mat_type) L->mat_mixed = 1;
}

/* Finds tensor `name` of GGUF shape [ne0] (ne1 == 0) or [ne0, ne1] and
 * marks it used. Missing tensors are an error when required, else *out =
 * NULL. */
static int find(loader *L, const char *name, int64_t ne0, int64_t ne1, int required, const gguf_tensor **out) {
    *out = NULL;
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    if (!t) return required ? cj_fail(L->e, "%s: tensor '%s' is missing", L->path, name) : 0;
    int64_t want[4] = {ne0, ne1 ? ne1 : 1, 1, 1};
    if (memcmp(t->ne, want, sizeof want) != 0) {
        char need[64];
        if (ne1) snprintf(need, sizeof need, "[%" PRId64 ", %" PRId64 "]", ne0, ne1);
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

static int bind_layer(loader *L, int i) {
    model_layer *ly = &L->m->layers[i];
    for (int r = R_FIRST_LAYER; r < R_COUNT; r++)
        if ((L->a->need | L->a->gguf_maybe) & ROLE(r) && bind_role(L, (arch_role)r, i, !!(L->a->need & ROLE(r))))
            return -1;
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
    if (!L->a || !strcmp(L->arch, "mistral")) /* llama.cpp writes Mistral as llama */
        return cj_fail(L->e, "%s: architecture '%s' is not supported (%s)", L->path, L->arch, arch_list(0));
    if (read_hparams(L) != 0) return -1;
    L->used = cj_xcalloc((size_t)gguf_n_tensors(L->g) + 1, 1);
    if (bind_all(L) != 0) return -1;
    m->arch = cj_xstrdup(L->arch);
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
