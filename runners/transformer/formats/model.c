/* model — format dispatch, identity, validation and storage of a loaded model.
 *
 * The format loaders (model_gguf.c, model_hf.c, llama2c.c) fill hp, the
 * weight pointers, the tokenizer, arch and dtype; everything they allocate or
 * map goes through model_keep_map / model_alloc_f32 so that model_free alone
 * can release a half-loaded model. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "gguf.h"
#include "moe_load.h"
#include "quant.h"

/* Upper bounds far above any real Llama-family checkpoint, low enough that
 * products of them (e.g. vocab_size * dim, n_layers * ffn_dim * dim) stay
 * well inside uint64 and a corrupt header cannot ask for absurd memory
 * before its sizes are checked against the file. */
#define HP_MAX_DIM (1 << 16)
#define HP_MAX_FFN (1 << 18)
#define HP_MAX_LAYERS 1024
#define HP_MAX_HEADS 1024
#define HP_MAX_HEAD_DIM 4096
#define HP_MAX_VOCAB (1 << 22)
#define HP_MAX_CTX (1 << 24)

static int check_range(const char *what, const char *field, int v, int hi, cj_err *e) {
    if (v <= 0 || v > hi) return cj_fail(e, "%s: %s = %d is out of range (1..%d)", what, field, v, hi);
    return 0;
}

int model_check_hparams(const model_hparams *hp, const char *what, cj_err *e) {
    if (check_range(what, "dim", hp->dim, HP_MAX_DIM, e) ||
        check_range(what, "ffn_dim", hp->ffn_dim, HP_MAX_FFN, e) ||
        check_range(what, "n_layers", hp->n_layers, HP_MAX_LAYERS, e) ||
        check_range(what, "n_heads", hp->n_heads, HP_MAX_HEADS, e) ||
        check_range(what, "n_kv_heads", hp->n_kv_heads, HP_MAX_HEADS, e) ||
        check_range(what, "head_dim", hp->head_dim, HP_MAX_HEAD_DIM, e) ||
        check_range(what, "vocab_size", hp->vocab_size, HP_MAX_VOCAB, e) ||
        check_range(what, "ctx_len", hp->ctx_len, HP_MAX_CTX, e))
        return -1;
    if (hp->sliding_window < 0)
        return cj_fail(e, "%s: sliding_window = %d is negative", what, hp->sliding_window);
    if (hp->swa_period < 0) return cj_fail(e, "%s: sliding window period = %d is negative", what, hp->swa_period);
    if (!(isfinite(hp->rope_local_theta) && hp->rope_local_theta >= 0 && isfinite(hp->attn_scale) &&
          hp->attn_scale >= 0 && isfinite(hp->attn_softcap) && hp->attn_softcap >= 0 &&
          isfinite(hp->final_softcap) && hp->final_softcap >= 0))
        return cj_fail(e, "%s: local RoPE base %g, attention scale %g and softcaps %g, %g must be finite and >= 0",
                       what, (double)hp->rope_local_theta, (double)hp->attn_scale, (double)hp->attn_softcap,
                       (double)hp->final_softcap);
    if (hp->n_heads % hp->n_kv_heads != 0)
        return cj_fail(e, "%s: n_kv_heads = %d does not divide n_heads = %d", what, hp->n_kv_heads, hp->n_heads);
    if (hp->head_dim % 2 != 0) return cj_fail(e, "%s: head_dim = %d is odd (RoPE rotates pairs)", what, hp->head_dim);
    if ((int64_t)hp->n_heads * hp->head_dim > HP_MAX_DIM)
        return cj_fail(e, "%s: n_heads * head_dim = %lld is out of range (1..%d)", what,
                       (long long)hp->n_heads * hp->head_dim, HP_MAX_DIM);
    if (!isfinite(hp->rms_eps) || hp->rms_eps <= 0 || hp->rms_eps >= 1)
        return cj_fail(e, "%s: rms_eps = %g is out of range (0..1)", what, (double)hp->rms_eps);
    if (!isfinite(hp->rope_theta) || hp->rope_theta <= 0)
        return cj_fail(e, "%s: rope_theta = %g must be finite and positive", what, (double)hp->rope_theta);
    if (hp->rope_neox != 0 && hp->rope_neox != 1)
        return cj_fail(e, "%s: rope_neox = %d must be 0 or 1", what, hp->rope_neox);
    if (hp->rope_dims < 0 || hp->rope_dims > hp->head_dim || hp->rope_dims % 2)
        return cj_fail(e, "%s: RoPE dims = %d must be even and at most head_dim %d", what, hp->rope_dims, hp->head_dim);
    if (hp->rope_scale != ROPE_SCALE_NONE && !(isfinite(hp->rope_factor) && hp->rope_factor > 0))
        return cj_fail(e, "%s: RoPE scaling factor = %g must be finite and positive", what, (double)hp->rope_factor);
    if (hp->rope_scale == ROPE_SCALE_LLAMA3 &&
        !(hp->rope_orig_ctx > 0 && hp->rope_low_freq > 0 && hp->rope_high_freq > hp->rope_low_freq))
        return cj_fail(e, "%s: llama3 RoPE needs original_max_position_embeddings > 0 and 0 < low < high freq factors",
                       what);
    /* the forward pass keeps attention's output in the SwiGLU gate's buffer */
    if (hp->parallel_residual && model_mlp_gated(hp))
        return cj_fail(e, "%s: a parallel residual is only supported with the GELU MLP", what);
    if (hp->qkv == QKV_FUSED_PER_HEAD && hp->n_kv_heads != hp->n_heads)
        return cj_fail(e, "%s: Q/K/V fused per head needs as many KV heads as heads", what);
    return moe_check_hparams(hp, what, e);
}

const cj_map *model_keep_map(model *m, cj_map *map) {
    m->maps = cj_xrealloc(m->maps, (size_t)(m->n_maps + 1) * sizeof *m->maps);
    m->maps[m->n_maps] = *map;
    memset(map, 0, sizeof *map);
    return &m->maps[m->n_maps++];
}

float *model_alloc_f32(model *m, uint64_t n) {
    if (n == 0) n = 1; /* a valid, distinct pointer even for empty tensors */
    if (n > SIZE_MAX / sizeof(float)) return NULL;
    float *p = calloc((size_t)n, sizeof(float));
    if (!p) return NULL;
    m->bufs = cj_xrealloc(m->bufs, (size_t)(m->n_bufs + 1) * sizeof *m->bufs);
    m->bufs[m->n_bufs++] = p;
    return p;
}

int model_set_mat(model *m, model_mat *w, const void *data, size_t nbytes, ggml_type t, int64_t rows, int64_t cols,
                  const char *what, cj_err *e) {
    size_t row_bytes, total;
    if (rows <= 0 || cols <= 0 || (uint64_t)rows > UINT64_MAX / (uint64_t)cols ||
        quant_nbytes(t, (uint64_t)cols, &row_bytes) || quant_nbytes(t, (uint64_t)rows * (uint64_t)cols, &total))
        return cj_fail(e, "%s: a %s matrix of %lld x %lld cannot be stored (rows must be whole blocks of %d)", what,
                       quant_type_name(t), (long long)rows, (long long)cols, quant_block_elems(t));
    if (total != nbytes)
        return cj_fail(e, "%s: %zu bytes of data for a %s matrix of %lld x %lld, which takes %zu", what, nbytes,
                       quant_type_name(t), (long long)rows, (long long)cols, total);
    if (t != GGML_F32 || (uintptr_t)data % _Alignof(float) == 0) {
        *w = (model_mat){data, t, row_bytes};
        return 0;
    }
    float *buf = model_alloc_f32(m, (uint64_t)rows * (uint64_t)cols);
    if (!buf) return cj_fail(e, "%s: cannot allocate %lld x %lld floats", what, (long long)rows, (long long)cols);
    memcpy(buf, data, nbytes);
    *w = (model_mat){buf, GGML_F32, (size_t)cols * sizeof(float)};
    return 0;
}

void model_mat_rows(const model_mat *w, int64_t r0, int64_t n, int cols, float *dst) {
    quant_dequantize(w->type, (const uint8_t *)w->data + (size_t)r0 * w->row_bytes, dst, (uint64_t)n * (uint64_t)cols);
}

const float *model_mat_f32(const model_mat *w) { return w->type == GGML_F32 ? w->data : NULL; }

void model_free(model *m) {
    if (!m) return;
    tok_free(m->tok);
    for (int i = 0; i < m->n_maps; i++) cj_map_close(&m->maps[i]);
    free(m->maps);
    for (int i = 0; i < m->n_bufs; i++) free(m->bufs[i]);
    free(m->bufs);
    free(m->layers);
    free(m->expert_mats);
    free(m->path);
    free(m->arch);
    free(m->dtype);
    free(m);
}

/* Parameter count from the shapes, as HF counts it (tied weights once). */
static int64_t count_params(const model *m) {
    const model_hparams *hp = &m->hp;
    int64_t d = hp->dim, q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    int64_t layer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * hp->ffn_dim;
    if (hp->qkv_bias) layer += q + 2 * kv;
    int64_t n = (int64_t)hp->vocab_size * d + d + hp->n_layers * layer;
    if (m->output.data && m->output.data != m->tok_embd.data) n += (int64_t)hp->vocab_size * d;
    return n;
}

/* The file whose sha256 identifies an HF folder; same preference as model_hf.c. */
static char *hf_weights_file(const char *dir) {
    char *single = cj_path_join(dir, "model.safetensors");
    if (cj_is_file(single)) return single;
    free(single);
    return cj_path_join(dir, "model.safetensors.index.json");
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int model_set_tokenizer(model *m, const char *path, cj_err *e) {
    tokenizer *t = NULL;
    int rc = ends_with(path, ".json") ? tok_load_hf_json(path, &t, e) : tok_load_llama2c(path, m->hp.vocab_size, &t, e);
    if (rc) return -1;
    tok_free(m->tok);
    m->tok = t;
    return 0;
}

static int check_loaded(const model *m, const char *path, cj_err *e) {
    if (model_check_hparams(&m->hp, path, e)) return -1;
    if (!m->tok_embd.data || !m->output_norm || !m->output.data || !m->layers || !m->tok)
        return cj_fail(e, "%s: loader left the model incomplete", path);
    int nv = tok_n_vocab(m->tok);
    if (nv <= 0 || nv > m->hp.vocab_size)
        return cj_fail(e, "%s: the tokenizer has %d tokens but the model's vocabulary is %d", path, nv,
                       m->hp.vocab_size);
    return 0;
}

static int load_into(model *m, const char *path, const char *tokenizer_path, cj_err *e) {
    m->path = cj_xstrdup(path);
    if (cj_is_dir(path)) {
        m->format = "safetensors";
        if (model_load_hf(path, m, e)) return -1;
        if (tokenizer_path && model_set_tokenizer(m, tokenizer_path, e)) return -1;
        if (!m->tok) return cj_fail(e, "%s: no tokenizer.json in the folder; pass a tokenizer path", path);
        char *wf = hf_weights_file(path);
        int rc = cj_sha256_file(wf, m->sha256, e);
        free(wf);
        if (rc) return -1;
    } else {
        cj_map map;
        if (cj_map_open(path, &map, e)) return -1;
        int is_gguf = map.size >= 4 && !memcmp(map.data, "GGUF", 4);
        cj_map_close(&map);
        if (is_gguf) {
            m->format = "gguf";
            if (model_load_gguf(path, m, e)) return -1;
            if (tokenizer_path && model_set_tokenizer(m, tokenizer_path, e)) return -1;
        } else {
            m->format = "llama2c";
            if (model_load_llama2c(path, tokenizer_path, m, e)) return -1;
        }
        if (cj_sha256_file(path, m->sha256, e)) return -1;
    }
    if (check_loaded(m, path, e)) return -1;
    if (!m->n_params) m->n_params = count_params(m);
    if (!m->arch) m->arch = cj_xstrdup("llama");
    if (!m->dtype) m->dtype = cj_xstrdup("F32");
    return 0;
}

int model_load(const char *path, const char *tokenizer_path, model **out, cj_err *e) {
    *out = NULL;
    model *m = cj_xcalloc(1, sizeof *m);
    if (load_into(m, path, tokenizer_path, e)) {
        model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int model_load_tokenizer(const char *path, const char *tokenizer_path, tokenizer **out, cj_err *e) {
    *out = NULL;
    if (tokenizer_path && ends_with(tokenizer_path, ".json")) return tok_load_hf_json(tokenizer_path, out, e);
    if (cj_is_dir(path) && !tokenizer_path) {
        char *json = cj_path_join(path, "tokenizer.json");
        int rc = tok_load_hf_json(json, out, e);
        free(json);
        return rc;
    }
    if (!cj_is_dir(path) && !tokenizer_path) {
        cj_map map;
        if (cj_map_open(path, &map, e)) return -1;
        int is_gguf = map.size >= 4 && !memcmp(map.data, "GGUF", 4);
        cj_map_close(&map);
        if (is_gguf) {
            gguf_ctx *g;
            if (gguf_open(path, &g, e)) return -1;
            int rc = tok_load_gguf(g, out, e);
            gguf_close(g);
            return rc;
        }
    }
    /* A tokenizer.bin takes its size from the model: load the model. */
    model *m;
    if (model_load(path, tokenizer_path, &m, e)) return -1;
    *out = m->tok;
    m->tok = NULL;
    model_free(m);
    return 0;
}
