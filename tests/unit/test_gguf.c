/* Unit tests for gguf (the reader) and model_gguf (the GGUF model loader)
 * on well-formed files: every real GGUF under golden/llamacpp and
 * assets/vocab-gguf against tensor_types.json and known metadata, a
 * synthetic file with every value type, and the models they load (or why
 * they do not). Malformed and damaged files: test_gguf_bad.c. */
#include "../../runners/transformer/formats/gguf.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/formats/quant.h"
#include "../check.h"
#include "gguf_fixtures.h"

static const char *GOLDEN_MODELS[] = {"stories260K.gguf",     "tiny-llama-f16.gguf",    "tiny-llama-q8_0.gguf",
                                      "tiny-llama-q4_0.gguf", "tiny-llama-q4_k_m.gguf", "tiny-llama-q6_k.gguf"};
static const char *VOCAB_FILES[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf",
                                    "ggml-vocab-gpt-2.gguf", "ggml-vocab-phi-3.gguf"};

static gguf_ctx *open_or_report(const char *path) {
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    if (gguf_open(path, &g, &e) != 0) printf("  %s\n", e.msg);
    return g;
}

/* A file with one key of every value type, nested and empty arrays, a
 * non-default alignment and two tensors. */
static void build_all_types(sb *b, uint32_t version) {
    w_header(b, version, 2, 18);
    w_key(b, "t.u8", GGUF_T_UINT8), w_le(b, 200, 1);
    w_key(b, "t.i8", GGUF_T_INT8), w_le(b, (uint8_t)-5, 1);
    w_key(b, "t.u16", GGUF_T_UINT16), w_le(b, 60000, 2);
    w_key(b, "t.i16", GGUF_T_INT16), w_le(b, (uint16_t)-30000, 2);
    w_key(b, "t.u32", GGUF_T_UINT32), w_le(b, 4000000000u, 4);
    w_key(b, "t.i32", GGUF_T_INT32), w_le(b, (uint32_t)-2000000000, 4);
    w_key(b, "t.f32", GGUF_T_FLOAT32), w_f32(b, 1.5f);
    w_key(b, "t.bool", GGUF_T_BOOL), w_le(b, 1, 1);
    w_key(b, "t.str", GGUF_T_STRING), w_str(b, "h\xc3\xa9llo");
    w_key(b, "t.u64", GGUF_T_UINT64), w_le(b, ((uint64_t)1 << 63) + 5, 8);
    w_key(b, "t.i64", GGUF_T_INT64), w_le(b, (uint64_t)-((int64_t)1 << 40), 8);
    double d = 0.1;
    uint64_t du;
    memcpy(&du, &d, 8);
    w_key(b, "t.f64", GGUF_T_FLOAT64), w_le(b, du, 8);
    w_key(b, "t.arr_u32", GGUF_T_ARRAY), w_le(b, GGUF_T_UINT32, 4), w_le(b, 3, 8);
    for (int i = 1; i <= 3; i++) w_le(b, (uint64_t)i, 4);
    w_key(b, "t.arr_str", GGUF_T_ARRAY), w_le(b, GGUF_T_STRING, 4), w_le(b, 3, 8);
    w_str(b, "a"), w_str(b, ""), w_str(b, "ccc");
    w_key(b, "t.arr_arr", GGUF_T_ARRAY), w_le(b, GGUF_T_ARRAY, 4), w_le(b, 3, 8);
    w_le(b, GGUF_T_INT16, 4), w_le(b, 2, 8), w_le(b, 1, 2), w_le(b, (uint16_t)-2, 2);
    w_le(b, GGUF_T_STRING, 4), w_le(b, 1, 8), w_str(b, "x");
    w_le(b, GGUF_T_FLOAT32, 4), w_le(b, 0, 8);
    w_key(b, "t.arr_empty", GGUF_T_ARRAY), w_le(b, GGUF_T_FLOAT32, 4), w_le(b, 0, 8);
    w_key(b, "t.arr_bool", GGUF_T_ARRAY), w_le(b, GGUF_T_BOOL, 4), w_le(b, 2, 8), w_le(b, 1, 1), w_le(b, 0, 1);
    w_key(b, "general.alignment", GGUF_T_UINT32), w_le(b, 64, 4);
    uint64_t ne_w[2] = {4, 2}, ne_q[1] = {64};
    w_tensor(b, "w", 2, ne_w, GGML_F32, 0);
    w_tensor(b, "q", 1, ne_q, GGML_Q8_0, 64);
    w_pad(b, 64);
    for (int i = 0; i < 8; i++) w_f32(b, (float)i - 3.5f);
    w_pad(b, 64);
    for (int blk = 0; blk < 2; blk++) { /* d = 0.5 then 2; q[j] = j - 16 */
        w_le(b, blk ? 0x4000 : 0x3800, 2);
        for (int j = 0; j < 32; j++) w_le(b, (uint8_t)(j - 16), 1);
    }
}

static void check_all_types(uint32_t version) {
    sb b;
    sb_init(&b);
    build_all_types(&b, version);
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    CHECKF(gguf_open_mem(b.s, b.len, "mem.gguf", &g, &e) == 0, "%s", e.msg);
    if (!g) {
        sb_free(&b);
        return;
    }
    CHECK(gguf_version(g) == version && gguf_alignment(g) == 64 && gguf_n_keys(g) == 18);
    CHECK_STR(gguf_path(g), "mem.gguf");
    int64_t v = 0;
    CHECK(gguf_get_int(g, "t.u8", &v, &e) == 0 && v == 200);
    CHECK(gguf_get_int(g, "t.i8", &v, &e) == 0 && v == -5);
    CHECK(gguf_get_int(g, "t.u16", &v, &e) == 0 && v == 60000);
    CHECK(gguf_get_int(g, "t.i16", &v, &e) == 0 && v == -30000);
    CHECK(gguf_get_int(g, "t.u32", &v, &e) == 0 && v == 4000000000LL);
    CHECK(gguf_get_int(g, "t.i32", &v, &e) == 0 && v == -2000000000LL);
    CHECK(gguf_get_int(g, "t.i64", &v, &e) == 0 && v == -((int64_t)1 << 40));
    CHECK(gguf_get_int(g, "t.bool", &v, &e) == 0 && v == 1);
    CHECK(gguf_get_int(g, "t.u64", &v, &e) == -1 && strstr(e.msg, "t.u64") && strstr(e.msg, "too large"));
    CHECK(gguf_get_int(g, "t.f32", &v, &e) == -1 && strstr(e.msg, "float32") && strstr(e.msg, "t.f32"));
    CHECK(gguf_get_int(g, "t.none", &v, &e) == -1 && strstr(e.msg, "'t.none' is missing"));
    double f = 0;
    CHECK(gguf_get_float(g, "t.f32", &f, &e) == 0 && f == 1.5);
    CHECK(gguf_get_float(g, "t.f64", &f, &e) == 0 && f == 0.1);
    CHECK(gguf_get_float(g, "t.i16", &f, &e) == 0 && f == -30000);
    CHECK(gguf_get_float(g, "t.u64", &f, &e) == 0 && f == 9223372036854775813.0);
    CHECK(gguf_get_float(g, "t.str", &f, &e) == -1 && strstr(e.msg, "string"));
    int bo = 0;
    CHECK(gguf_get_bool(g, "t.bool", &bo, &e) == 0 && bo == 1);
    CHECK(gguf_get_bool(g, "t.u8", &bo, &e) == -1 && strstr(e.msg, "expected bool"));
    CHECK_STR(gguf_get_str(g, "t.str", &e), "h\xc3\xa9llo");
    CHECK(gguf_get_str(g, "t.u8", &e) == NULL && strstr(e.msg, "'t.u8' has type uint8, expected string"));
    gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(gguf_get_arr(g, "t.arr_u32", &et, &n, &data, &e) == 0 && et == GGUF_T_UINT32 && n == 3);
    uint32_t third;
    memcpy(&third, (const char *)data + 8, 4);
    CHECK(third == 3);
    CHECK(gguf_get_arr(g, "t.arr_arr", &et, &n, &data, &e) == 0 && et == GGUF_T_ARRAY && n == 3);
    CHECK(gguf_get_arr(g, "t.arr_empty", &et, &n, &data, &e) == 0 && et == GGUF_T_FLOAT32 && n == 0);
    CHECK(gguf_get_arr(g, "t.arr_bool", &et, &n, &data, &e) == 0 && et == GGUF_T_BOOL && n == 2 &&
          ((const uint8_t *)data)[0] == 1);
    CHECK(gguf_get_arr(g, "t.u8", &et, &n, &data, &e) == -1 && strstr(e.msg, "expected array"));
    const char *s;
    uint64_t len;
    CHECK(gguf_get_arr_str(g, "t.arr_str", 2, &s, &len, &e) == 0 && len == 3 && !memcmp(s, "ccc", 3));
    CHECK(gguf_get_arr_str(g, "t.arr_str", 1, &s, &len, &e) == 0 && len == 0);
    CHECK(gguf_get_arr_str(g, "t.arr_str", 3, &s, &len, &e) == -1 && strstr(e.msg, "index 3"));
    CHECK(gguf_get_arr_str(g, "t.arr_u32", 0, &s, &len, &e) == -1 && strstr(e.msg, "array of uint32"));
    int64_t k = gguf_find_key(g, "t.f64");
    CHECK(k == 11 && gguf_key_type(g, k) == GGUF_T_FLOAT64);
    CHECK_STR(gguf_key_name(g, 0), "t.u8");
    CHECK(gguf_find_key(g, "t.nope") == -1);

    CHECK(gguf_n_tensors(g) == 2);
    const gguf_tensor *w = gguf_tensor_at(g, 0), *q = gguf_find_tensor(g, "q");
    CHECK(gguf_tensor_at(g, 2) == NULL && gguf_find_tensor(g, "nope") == NULL);
    CHECK(w && !strcmp(w->name, "w") && w->type == GGML_F32 && w->n_dims == 2 && w->ne[0] == 4 && w->ne[1] == 2 &&
          w->ne[2] == 1 && w->ne[3] == 1 && w->n_elements == 8 && w->nbytes == 32);
    CHECK(q && q->type == GGML_Q8_0 && q->n_dims == 1 && q->n_elements == 64 && q->nbytes == 68);
    if (w && q) {
        CHECK(((const char *)w->data - b.s) % 64 == 0 && (const char *)q->data - (const char *)w->data == 64);
        float x[64];
        memcpy(x, w->data, 32);
        CHECK(x[0] == -3.5f && x[7] == 3.5f);
        quant_dequantize(q->type, q->data, x, 64);
        CHECK(x[0] == -8.0f && x[31] == 7.5f && x[32] == -32.0f && x[63] == 30.0f);
    }
    gguf_close(g);
    sb_free(&b);
}

static void test_synthetic_all_types(void) {
    check_all_types(3);
    check_all_types(2);
}

/* ---- the real files ---- */

static void test_golden_tensor_table(void) {
    char *tt = golden_path("tensor_types.json");
    json_error_t je;
    json_t *root = json_load_file(tt, 0, &je);
    CHECKF(root != NULL, "%s: %s", tt, je.text);
    for (int i = 0; root && i < N_OF(GOLDEN_MODELS); i++) {
        json_t *info = json_object_get(root, GOLDEN_MODELS[i]), *tensors = json_object_get(info, "tensors");
        char *path = golden_path(GOLDEN_MODELS[i]);
        gguf_ctx *g = open_or_report(path);
        CHECKF(g && tensors, "%s", GOLDEN_MODELS[i]);
        if (g && tensors) {
            size_t size;
            const unsigned char *base = gguf_file_data(g, &size);
            CHECK((json_int_t)size == json_integer_value(json_object_get(info, "bytes")));
            CHECK(gguf_version(g) == 3 && gguf_alignment(g) == 32);
            CHECKF(gguf_n_tensors(g) == (int64_t)json_object_size(tensors), "%s: %" PRId64 " tensors",
                   GOLDEN_MODELS[i], gguf_n_tensors(g));
            const char *name;
            json_t *want;
            json_object_foreach(tensors, name, want) {
                const gguf_tensor *t = gguf_find_tensor(g, name);
                CHECKF(t != NULL, "%s: no tensor %s", GOLDEN_MODELS[i], name);
                if (!t) continue;
                CHECKF(!strcmp(quant_type_name(t->type), json_string_value(json_object_get(want, "type"))),
                       "%s %s: type %s", GOLDEN_MODELS[i], name, quant_type_name(t->type));
                json_t *ne = json_object_get(want, "ne");
                CHECK(t->n_dims == (int)json_array_size(ne));
                uint64_t n = 1;
                for (int d = 0; d < 4; d++) {
                    int64_t w = d < (int)json_array_size(ne) ? json_integer_value(json_array_get(ne, d)) : 1;
                    CHECKF(t->ne[d] == w, "%s %s: ne[%d] = %" PRId64 ", want %" PRId64, GOLDEN_MODELS[i], name, d,
                           t->ne[d], w);
                    n *= (uint64_t)w;
                }
                size_t nb = 0;
                CHECK(t->n_elements == n && quant_nbytes(t->type, n, &nb) == 0 && nb == t->nbytes);
                const unsigned char *p = t->data;
                CHECK(p >= base && (size_t)(p - base) + t->nbytes <= size && (size_t)(p - base) % 32 == 0);
            }
        }
        gguf_close(g);
        free(path);
    }
    json_decref(root);
    free(tt);
}

static void test_metadata_real_files(void) {
    for (int f = 0; f < N_OF(GOLDEN_MODELS) + N_OF(VOCAB_FILES); f++) {
        char *path = f < N_OF(GOLDEN_MODELS) ? golden_path(GOLDEN_MODELS[f]) : vocab_path(VOCAB_FILES[f - N_OF(GOLDEN_MODELS)]);
        gguf_ctx *g = open_or_report(path);
        CHECKF(g != NULL, "%s", path);
        int failures = 0;
        if (g) CHECKF(read_all_metadata(g, &failures) > 1000 && failures == 0, "%s: %d failures", path, failures);
        gguf_close(g);
        free(path);
    }
    /* Known values, including the stories260K converter's quirks. */
    char *path = golden_path("stories260K.gguf");
    gguf_ctx *g = open_or_report(path);
    cj_err e = {{0}};
    int64_t v = 0;
    double x = 0;
    const char *s;
    uint64_t len;
    CHECK(g != NULL);
    if (g) {
        CHECK(gguf_get_int(g, "llama.context_length", &v, &e) == 0 && v == 128);
        CHECK(gguf_get_int(g, "llama.feed_forward_length", &v, &e) == 0 && v == 172);
        CHECK(gguf_get_int(g, "tokenizer.ggml.seperator_token_id", &v, &e) == 0 && v == 0xFFFFFFFFLL);
        CHECK(gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &x, &e) == 0 && x == (double)1e-5f);
        CHECK(gguf_find_key(g, "llama.rope.freq_base") == -1);
        CHECK_STR(gguf_get_str(g, "tokenizer.ggml.model", &e), "llama");
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len, &e) == 0 && len == 3 && !memcmp(s, "<s>", 3));
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 3, &s, &len, &e) == 0 && len == 6 && !memcmp(s, "<0x00>", 6));
        gguf_close(g);
    }
    free(path);
    path = golden_path("tiny-llama-f16.gguf");
    g = open_or_report(path);
    int bo = 0;
    if (g) {
        CHECK_STR(gguf_get_str(g, "general.name", &e), "tiny-llama-random");
        CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &bo, &e) == 0 && bo == 1);
        CHECK(gguf_get_float(g, "llama.rope.freq_base", &x, &e) == 0 && x == 10000);
        gguf_vtype et;
        uint64_t n;
        const void *d;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &d, &e) == 0 && et == GGUF_T_FLOAT32 && n == 32000);
        gguf_close(g);
    }
    free(path);
    path = vocab_path("ggml-vocab-gpt-2.gguf");
    g = open_or_report(path);
    if (g) {
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.merges", 0, &s, &len, &e) == 0 && len == 4 && !memcmp(s, "\xc4\xa0 t", 4));
        gguf_close(g);
    }
    free(path);
}

/* ---- the model loader ---- */

static model *load_golden(const char *name) {
    char *path = golden_path(name);
    model *m = NULL;
    cj_err e = {{0}};
    if (model_load(path, NULL, &m, &e) != 0) printf("  %s\n", e.msg);
    free(path);
    return m;
}

static int inside_map(const model *m, const void *p) {
    for (int i = 0; i < m->n_maps; i++) {
        const unsigned char *b = m->maps[i].data;
        if ((const unsigned char *)p >= b && (const unsigned char *)p < b + m->maps[i].size) return 1;
    }
    return 0;
}

static void test_model_stories260k(void) {
    model *m = load_golden("stories260K.gguf");
    CHECK(m != NULL);
    if (!m) return;
    const model_hparams *hp = &m->hp;
    CHECK(hp->dim == 64 && hp->ffn_dim == 172 && hp->n_layers == 5 && hp->n_heads == 8 && hp->n_kv_heads == 4);
    CHECK(hp->head_dim == 8 && hp->vocab_size == 512 && hp->ctx_len == 128);
    CHECK(hp->rms_eps == 1e-5f && hp->rope_theta == 10000.0f && hp->rope_neox == 0 && hp->qkv_bias == 0);
    CHECK_STR(m->arch, "llama");
    CHECK_STR(m->dtype, "F32");
    CHECK_STR(m->format, "gguf");
    CHECK_STR(m->sha256, "047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b");
    /* all 48 tensors: 512*64*2 + 64 + 5 * (2*64 + 64*64 + 2*64*32 + 64*64 + 3*64*172) */
    CHECK(m->n_params == 65536 + 64 + 5 * (128 + 4096 + 4096 + 4096 + 33024));
    /* aligned F32 is used in place; output.weight is a separate copy of token_embd */
    CHECK(inside_map(m, m->tok_embd.data) && inside_map(m, m->layers[4].w_down.data) && m->n_bufs == 0);
    CHECK(m->output.data != m->tok_embd.data && !memcmp(m->output.data, m->tok_embd.data, 512 * 64 * sizeof(float)));
    CHECK(m->layers[0].bq == NULL && tok_n_vocab(m->tok) == 512);
    model_free(m);
}

/* The F16 file's weights, widened, are the model's weights; the quantized
 * files dequantize to the same shapes with the expected dtype label. */
static void test_model_tiny_llama(void) {
    const char *dtypes[] = {NULL, "F16", "Q8_0", "mixed", "mixed", "Q6_K"};
    for (int f = 1; f < N_OF(GOLDEN_MODELS); f++) {
        model *m = load_golden(GOLDEN_MODELS[f]);
        CHECKF(m != NULL, "%s", GOLDEN_MODELS[f]);
        if (!m) continue;
        const model_hparams *hp = &m->hp;
        CHECK(hp->dim == 256 && hp->ffn_dim == 512 && hp->n_layers == 2 && hp->n_heads == 4 && hp->n_kv_heads == 2);
        CHECK(hp->head_dim == 64 && hp->vocab_size == 32000 && hp->ctx_len == 512 && hp->rope_neox == 0);
        CHECK(m->output.data == m->tok_embd.data); /* tied */
        CHECK(m->n_params == 32000 * 256 + 256 + 2 * (2 * 256 + 256 * 256 + 2 * 256 * 128 + 256 * 256 + 3 * 256 * 512));
        CHECKF(!strcmp(m->dtype, dtypes[f]), "%s: dtype %s", GOLDEN_MODELS[f], m->dtype);
        /* matrices stay in the file, in its types; vectors become F32 copies */
        CHECK(inside_map(m, m->output_norm) && inside_map(m, m->layers[1].wq.data) && inside_map(m, m->tok_embd.data));
        CHECK(f != 1 || (m->layers[1].wq.type == GGML_F16 && m->layers[1].wq.row_bytes == 2 * 256));
        if (f == 1) { /* compare with the raw F16 values of blk.1.attn_q.weight and token_embd */
            char *path = golden_path(GOLDEN_MODELS[f]);
            gguf_ctx *g = open_or_report(path);
            const gguf_tensor *q = g ? gguf_find_tensor(g, "blk.1.attn_q.weight") : NULL;
            const gguf_tensor *te = g ? gguf_find_tensor(g, "token_embd.weight") : NULL;
            CHECK(q && te);
            if (q && te) {
                const unsigned char *raw = q->data;
                int bad = 0;
                float *wq = malloc(q->n_elements * sizeof(float)), last[256];
                model_mat_rows(&m->layers[1].wq, 0, 256, 256, wq);
                for (uint64_t i = 0; i < q->n_elements; i++)
                    bad += wq[i] != quant_f16_to_f32((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
                free(wq);
                raw = te->data;
                model_mat_rows(&m->tok_embd, 31999, 1, 256, last);
                uint64_t i = 31999 * 256 + 255; /* last row, last column */
                bad += last[255] != quant_f16_to_f32((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
                CHECK(bad == 0);
            }
            gguf_close(g);
            free(path);
        }
        model_free(m);
    }
}

/* A tiny qwen2 model (dim 8, 2 heads of 4 given by key_length, head_count_kv
 * absent so it defaults to 2, no rope.freq_base) with Q/K/V biases, F32
 * weights at a 4-byte-misaligned alignment of 2 (so they are copied), F16
 * embeddings and a 4-token SPM vocabulary. */
static void build_qwen2(sb *b, int with_bias) {
    int n_t = 3 + 9 + (with_bias ? 3 : 0);
    w_header(b, 3, (uint64_t)n_t, 16);
    w_key(b, "general.architecture", GGUF_T_STRING), w_str(b, "qwen2");
    w_key(b, "general.alignment", GGUF_T_UINT32), w_le(b, 2, 4);
    w_key(b, "qwen2.embedding_length", GGUF_T_UINT32), w_le(b, 8, 4);
    w_key(b, "qwen2.feed_forward_length", GGUF_T_UINT32), w_le(b, 6, 4);
    w_key(b, "qwen2.block_count", GGUF_T_UINT32), w_le(b, 1, 4);
    w_key(b, "qwen2.attention.head_count", GGUF_T_UINT32), w_le(b, 2, 4);
    w_key(b, "qwen2.attention.key_length", GGUF_T_UINT32), w_le(b, 4, 4);
    w_key(b, "qwen2.context_length", GGUF_T_UINT64), w_le(b, 32768, 8);
    w_key(b, "qwen2.attention.layer_norm_rms_epsilon", GGUF_T_FLOAT32), w_f32(b, 1e-6f);
    w_key(b, "tokenizer.ggml.model", GGUF_T_STRING), w_str(b, "llama");
    w_key(b, "tokenizer.ggml.tokens", GGUF_T_ARRAY), w_le(b, GGUF_T_STRING, 4), w_le(b, 4, 8);
    w_str(b, "<unk>"), w_str(b, "<s>"), w_str(b, "</s>"), w_str(b, "\xe2\x96\x81" "a");
    w_key(b, "tokenizer.ggml.scores", GGUF_T_ARRAY), w_le(b, GGUF_T_FLOAT32, 4), w_le(b, 4, 8);
    for (int i = 0; i < 4; i++) w_f32(b, (float)-i);
    w_key(b, "tokenizer.ggml.token_type", GGUF_T_ARRAY), w_le(b, GGUF_T_INT32, 4), w_le(b, 4, 8);
    w_le(b, 2, 4), w_le(b, 3, 4), w_le(b, 3, 4), w_le(b, 1, 4);
    w_key(b, "tokenizer.ggml.unknown_token_id", GGUF_T_UINT32), w_le(b, 0, 4);
    w_key(b, "tokenizer.ggml.bos_token_id", GGUF_T_UINT32), w_le(b, 1, 4);
    w_key(b, "tokenizer.ggml.eos_token_id", GGUF_T_UINT32), w_le(b, 2, 4);
    struct { const char *name; uint64_t ne0, ne1; uint32_t type; } ts[] = {
        {"token_embd.weight", 8, 4, GGML_F16}, {"output_norm.weight", 8, 0, GGML_F32},
        {"output.weight", 8, 4, GGML_F32},     {"blk.0.attn_norm.weight", 8, 0, GGML_F32},
        {"blk.0.attn_q.weight", 8, 8, GGML_F32}, {"blk.0.attn_k.weight", 8, 8, GGML_F32},
        {"blk.0.attn_v.weight", 8, 8, GGML_F32}, {"blk.0.attn_output.weight", 8, 8, GGML_F32},
        {"blk.0.ffn_norm.weight", 8, 0, GGML_F32}, {"blk.0.ffn_gate.weight", 8, 6, GGML_F32},
        {"blk.0.ffn_up.weight", 8, 6, GGML_F32}, {"blk.0.ffn_down.weight", 6, 8, GGML_F32},
        {"blk.0.attn_q.bias", 8, 0, GGML_F32},   {"blk.0.attn_k.bias", 8, 0, GGML_F32},
        {"blk.0.attn_v.bias", 8, 0, GGML_F32},
    };
    size_t off_field[15];
    for (int i = 0; i < n_t; i++) {
        uint64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        w_tensor(b, ts[i].name, ts[i].ne1 ? 2 : 1, ne, ts[i].type, 0);
        off_field[i] = b->len - 8;
    }
    w_pad(b, 2);
    size_t data_start = b->len;
    /* Each tensor at an even offset with data_start + offset = 2 (mod 4):
     * valid for alignment 2, misaligned for floats (the map is page-aligned). */
    for (int i = 0; i < n_t; i++) {
        w_pad(b, 2);
        if (b->len % 4 != 2) sb_putn(b, "\0\0", 2);
        put_le(b->s + off_field[i], b->len - data_start, 8);
        uint64_t n = ts[i].ne0 * (ts[i].ne1 ? ts[i].ne1 : 1);
        for (uint64_t j = 0; j < n; j++) {
            float v = (float)(i + 1) + (float)j / 64.0f; /* tensor i, element j */
            if (ts[i].type == GGML_F16) w_le(b, quant_f32_to_f16(v), 2);
            else w_f32(b, v);
        }
    }
}

static void test_model_qwen2_synthetic(void) {
    for (int with_bias = 1; with_bias >= 0; with_bias--) {
        sb b;
        sb_init(&b);
        build_qwen2(&b, with_bias);
        char *path = write_temp(b.s, b.len);
        model *m = NULL;
        cj_err e = {{0}};
        int rc = model_load(path, NULL, &m, &e);
        if (!with_bias) {
            CHECK(rc == -1 && strstr(e.msg, "'blk.0.attn_q.bias' is missing"));
        } else {
            CHECKF(rc == 0, "%s", e.msg);
        }
        if (m) {
            const model_hparams *hp = &m->hp;
            CHECK(hp->dim == 8 && hp->ffn_dim == 6 && hp->n_layers == 1 && hp->n_heads == 2 && hp->n_kv_heads == 2);
            CHECK(hp->head_dim == 4 && hp->vocab_size == 4 && hp->ctx_len == 32768 && hp->rope_neox == 1);
            CHECK(hp->qkv_bias == 1 && hp->rope_theta == 10000.0f && hp->rms_eps == 1e-6f);
            CHECK_STR(m->arch, "qwen2");
            CHECK_STR(m->dtype, "mixed"); /* F16 embeddings, F32 matrices */
            /* misaligned F32 tensors are copied; values are (tensor index + 1) + j/64 */
            const float *wq = model_mat_f32(&m->layers[0].wq), *out = model_mat_f32(&m->output);
            CHECK(wq && !inside_map(m, wq) && wq[0] == 5.0f && wq[63] == 5.0f + 63 / 64.0f);
            CHECK(m->layers[0].bv[7] == 15.0f + 7 / 64.0f && out && out[31] == 3.0f + 31 / 64.0f);
            float emb[8]; /* F16 embeddings stay F16 */
            model_mat_rows(&m->tok_embd, 1, 1, 8, emb);
            CHECK(m->tok_embd.type == GGML_F16 && emb[1] == 1.0f + 9 / 64.0f && m->output.data != m->tok_embd.data);
            model_free(m);
        }
        unlink(path);
        free(path);
        sb_free(&b);
    }
}

/* Files that are valid GGUF but not loadable models say why. */
static void test_model_refusals(void) {
    struct { const char *file, *frag; } cases[] = {
        {"ggml-vocab-llama-spm.gguf", "'token_embd.weight' is missing"},
        {"ggml-vocab-gpt-2.gguf", "'token_embd.weight' is missing"}, /* gpt2 loads; this file has no weights */
        {"ggml-vocab-phi-3.gguf", "architecture 'phi3' is not supported"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        char *path = vocab_path(cases[i].file);
        model *m = NULL;
        cj_err e = {{0}};
        CHECK(model_load(path, NULL, &m, &e) == -1 && m == NULL);
        CHECKF(strstr(e.msg, cases[i].frag) && strstr(e.msg, cases[i].file), "%s", e.msg);
        free(path);
    }
    /* a shape that disagrees with the hyper-parameters, and an unknown tensor */
    sb b;
    sb_init(&b);
    build_qwen2(&b, 1);
    char *p = memmem(b.s, b.len, "qwen2.feed_forward_length", 25);
    put_le(p + 25 + 4, 7, 4); /* ffn 6 -> 7 */
    char *path = write_temp(b.s, b.len);
    model *m = NULL;
    cj_err e = {{0}};
    CHECK(model_load(path, NULL, &m, &e) == -1);
    CHECKF(strstr(e.msg, "'blk.0.ffn_gate.weight' has shape [8, 6, 1, 1], expected [8, 7]"), "%s", e.msg);
    unlink(path), free(path);
    put_le(p + 25 + 4, 6, 4);
    p = memmem(b.s, b.len, "blk.0.attn_v.bias", 17);
    memcpy(p, "blk.0.attn_x.bias", 17);
    path = write_temp(b.s, b.len);
    CHECK(model_load(path, NULL, &m, &e) == -1);
    CHECKF(strstr(e.msg, "'blk.0.attn_v.bias' is missing"), "%s", e.msg);
    unlink(path), free(path);
    memcpy(p, "blk.0.attn_v.bias", 17);
    p = memmem(b.s, b.len, "output.weight", 13);
    memcpy(p, "output.weighz", 13);
    path = write_temp(b.s, b.len);
    CHECK(model_load(path, NULL, &m, &e) == -1);
    CHECKF(strstr(e.msg, "tensor 'output.weighz' is not part of a supported qwen2 model"), "%s", e.msg);
    unlink(path), free(path);
    sb_free(&b);
}

/* The golden Gemma 2 GGUF with the value of key `key` (a 4-byte int or
 * float) replaced by the 4 bytes of v; NULL when the file or key is not
 * there. */
static char *gemma2_with(const char *key, const void *v) {
    char *buf = NULL;
    size_t n = 0;
    cj_err e;
    if (cj_read_file("tests/golden/arch/gemma2-swa-f32/model.gguf", &buf, &n, &e)) return NULL;
    char *at = memmem(buf, n, key, strlen(key)), *path = NULL;
    if (at) {
        memcpy(at + strlen(key) + 4, v, 4); /* past the key, its type */
        path = write_temp(buf, n);
    }
    free(buf);
    return path;
}

/* Gemma's keys: the caps and the window are read from the file; a
 * negative cap is refused by name. */
static void test_gemma_keys(void) {
    float zero = 0, neg = -1;
    uint32_t none = 0;
    struct { const char *key; const void *v; const char *frag; } cases[] = {
        {"gemma2.attn_logit_softcapping", &zero, NULL},
        {"gemma2.final_logit_softcapping", &neg, "'gemma2.final_logit_softcapping' = -1 is not a finite number"},
        {"gemma2.attention.sliding_window", &none, NULL},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        char *path = gemma2_with(cases[i].key, cases[i].v);
        CHECKF(path != NULL, "%s", cases[i].key);
        if (!path) continue;
        model *m = NULL;
        cj_err e = {{0}};
        int rc = model_load(path, NULL, &m, &e);
        if (cases[i].frag) CHECKF(rc == -1 && strstr(e.msg, cases[i].frag), "%s", e.msg);
        else CHECKF(rc == 0 && m->hp.final_softcap == 3.0f && m->hp.swa_period == 2, "%s", e.msg);
        if (m && i == 0) CHECK(m->hp.attn_softcap == 0 && m->hp.sliding_window == 12);
        if (m && i == 2) CHECK(m->hp.attn_softcap == 5.0f && m->hp.sliding_window == 0);
        model_free(m);
        unlink(path);
        free(path);
    }
}

int main(void) {
    RUN(test_synthetic_all_types);
    RUN(test_golden_tensor_table);
    RUN(test_metadata_real_files);
    RUN(test_model_stories260k);
    RUN(test_model_tiny_llama);
    RUN(test_model_qwen2_synthetic);
    RUN(test_model_refusals);
    RUN(test_gemma_keys);
    return check_summary_();
}
