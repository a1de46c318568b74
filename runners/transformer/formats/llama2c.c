/* llama2c — karpathy/llama2.c checkpoints (.bin), used in place from the map.
 *
 * Two layouts, both all-F32 little-endian:
 *   legacy: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *     vocab_size, seq_len), vocab_size < 0 meaning a separate classifier at
 *     the end; then token_embd, attn_norm[L], wq[L], wk[L], wv[L], wo[L],
 *     ffn_norm[L], w1[L], w2[L], w3[L], final norm, two unused RoPE tables of
 *     seq_len*head_dim/2 floats each, and wcls when not shared (run.c's
 *     memory_map_weights).
 *   version 1: a 256-byte header: uint32 magic "ak42" (0x616b3432), int32
 *     version 1, the same 7 int32, a uint8 shared_classifier flag, zero
 *     padding; then attn_norm[L], ffn_norm[L], final norm, token_embd,
 *     wq[L], wk[L], wv[L], wo[L], w1[L], w2[L], w3[L], and wcls when not
 *     shared (export.py's version1_export).
 * The tokenizer is a separate tokenizer.bin (or an HF tokenizer.json).
 * w1 is the SwiGLU gate, w3 the up projection, w2 the down projection. The
 * file must be exactly as long as its header implies. */
#include <stdint.h>
#include <string.h>

#include "../../../common/sb.h"
#include "model.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llama2.c checkpoints are little-endian F32, used in place"
#endif

#define LLAMA2C_MAGIC 0x616b3432u
#define LEGACY_HEADER 28
#define V1_HEADER 256

static int32_t rd_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, sizeof r);
    return r;
}

/* A cursor over the weights: hands out consecutive runs of floats. Sizes
 * were checked against the file before the first take. */
typedef struct {
    const float *p;
} cursor;

static const float *take(cursor *c, uint64_t n) {
    const float *r = c->p;
    c->p += n;
    return r;
}

/* A matrix of rows x cols floats, in place. */
static model_mat take_mat(cursor *c, uint64_t rows, uint64_t cols) {
    return (model_mat){take(c, rows * cols), GGML_F32, (size_t)cols * sizeof(float)};
}

static int read_header(const cj_map *map, int *version, int *shared, model_hparams *hp, cj_err *e) {
    const char *path = map->path;
    const unsigned char *h = map->data;
    *version = 0;
    if (map->size >= 8 && (uint32_t)rd_i32(h) == LLAMA2C_MAGIC) {
        *version = rd_i32(h + 4);
        if (*version != 1)
            return cj_fail(e, "%s: llama2.c version %d is not supported (only legacy and version 1 F32)", path,
                           *version);
        if (map->size < V1_HEADER)
            return cj_fail(e, "%s: file of %zu bytes is shorter than the %d-byte version-1 header", path,
                           map->size, V1_HEADER);
        h += 8;
    } else if (map->size < LEGACY_HEADER) {
        return cj_fail(e, "%s: file of %zu bytes is too short for a llama2.c header (%d bytes)", path, map->size,
                       LEGACY_HEADER);
    }
    int32_t vocab = rd_i32(h + 20);
    memset(hp, 0, sizeof *hp);
    hp->dim = rd_i32(h);
    hp->ffn_dim = rd_i32(h + 4);
    hp->n_layers = rd_i32(h + 8);
    hp->n_heads = rd_i32(h + 12);
    hp->n_kv_heads = rd_i32(h + 16);
    hp->ctx_len = rd_i32(h + 24);
    if (*version == 1) {
        *shared = h[28];
        if (*shared > 1) return cj_fail(e, "%s: shared_classifier flag is %d, not 0 or 1", path, *shared);
        hp->vocab_size = vocab;
    } else {
        *shared = vocab > 0;
        hp->vocab_size = vocab == INT32_MIN ? 0 : (vocab < 0 ? -vocab : vocab);
    }
    hp->head_dim = hp->n_heads > 0 ? hp->dim / hp->n_heads : 0;
    hp->rms_eps = 1e-5f;
    hp->rope_theta = 10000.0f;
    hp->rope_neox = 0;
    hp->qkv_bias = 0;
    if (model_check_hparams(hp, path, e)) return -1;
    if (hp->dim % hp->n_heads != 0)
        return cj_fail(e, "%s: n_heads = %d does not divide dim = %d", path, hp->n_heads, hp->dim);
    return 0;
}

/* Floats the weights occupy, in the file's order (the order does not change
 * the total except for the legacy RoPE tables). Bounded hyper-parameters
 * keep every product far below 2^64. */
static uint64_t n_floats(const model_hparams *hp, int version, int shared) {
    uint64_t d = (uint64_t)hp->dim, L = (uint64_t)hp->n_layers, hd = (uint64_t)hp->head_dim;
    uint64_t q = (uint64_t)hp->n_heads * hd, kv = (uint64_t)hp->n_kv_heads * hd;
    uint64_t n = (uint64_t)hp->vocab_size * d                  /* token_embd */
                 + L * (2 * d + d * q + 2 * d * kv + q * d)    /* norms, wq, wk, wv, wo */
                 + L * 3 * d * (uint64_t)hp->ffn_dim           /* w1, w2, w3 */
                 + d;                                          /* final norm */
    if (version == 0) n += (uint64_t)hp->ctx_len * hd; /* freq_cis_real + freq_cis_imag */
    if (!shared) n += (uint64_t)hp->vocab_size * d;
    return n;
}

/* Weights of all layers, one kind at a time, as both layouts store them. */
#define TAKE_LAYERS(c, m, field, n) \
    for (int l_ = 0; l_ < (m)->hp.n_layers; l_++) (m)->layers[l_].field = take(c, n)
#define TAKE_LAYER_MATS(c, m, field, rows, cols) \
    for (int l_ = 0; l_ < (m)->hp.n_layers; l_++) (m)->layers[l_].field = take_mat(c, rows, cols)

static void map_weights(model *m, const float *base, int version, int shared) {
    const model_hparams *hp = &m->hp;
    uint64_t d = (uint64_t)hp->dim, f = (uint64_t)hp->ffn_dim, V = (uint64_t)hp->vocab_size;
    uint64_t q = (uint64_t)hp->n_heads * hp->head_dim, kv = (uint64_t)hp->n_kv_heads * hp->head_dim;
    cursor c = {base};
    if (version == 0) {
        m->tok_embd = take_mat(&c, V, d);
        TAKE_LAYERS(&c, m, attn_norm, d);
    } else {
        TAKE_LAYERS(&c, m, attn_norm, d);
        TAKE_LAYERS(&c, m, ffn_norm, d);
        m->output_norm = take(&c, d);
        m->tok_embd = take_mat(&c, V, d);
    }
    TAKE_LAYER_MATS(&c, m, wq, q, d);
    TAKE_LAYER_MATS(&c, m, wk, kv, d);
    TAKE_LAYER_MATS(&c, m, wv, kv, d);
    TAKE_LAYER_MATS(&c, m, wo, d, q);
    if (version == 0) TAKE_LAYERS(&c, m, ffn_norm, d);
    TAKE_LAYER_MATS(&c, m, w_gate, f, d);
    TAKE_LAYER_MATS(&c, m, w_down, d, f);
    TAKE_LAYER_MATS(&c, m, w_up, f, d);
    if (version == 0) {
        m->output_norm = take(&c, d);
        take(&c, (uint64_t)hp->ctx_len * hp->head_dim); /* unused RoPE tables */
    }
    m->output = shared ? m->tok_embd : take_mat(&c, V, d);
}

int model_load_llama2c(const char *path, const char *tokenizer_path, model *m, cj_err *e) {
    if (!tokenizer_path)
        return cj_fail(e, "%s: a llama2.c checkpoint needs its tokenizer.bin (--tokenizer PATH)", path);
    cj_map map;
    if (cj_map_open(path, &map, e)) return -1;
    const cj_map *kept = model_keep_map(m, &map);
    int version = 0, shared = 0;
    if (read_header(kept, &version, &shared, &m->hp, e)) return -1;
    uint64_t header = version == 1 ? V1_HEADER : LEGACY_HEADER;
    uint64_t want = header + 4 * n_floats(&m->hp, version, shared);
    if ((uint64_t)kept->size != want)
        return cj_fail(e, "%s: file is %zu bytes but its llama2.c %s header implies %llu", path, kept->size,
                       version == 1 ? "version-1" : "legacy", (unsigned long long)want);
    m->layers = cj_xcalloc((size_t)m->hp.n_layers, sizeof *m->layers);
    /* Both header sizes are multiples of 4 and the map is page-aligned, so
     * the floats are aligned in place. */
    map_weights(m, (const float *)(const void *)(kept->data + header), version, shared);
    if (model_set_tokenizer(m, tokenizer_path, e)) return -1;
    m->arch = cj_xstrdup("llama");
    m->dtype = cj_xstrdup("F32");
    return 0;
}
