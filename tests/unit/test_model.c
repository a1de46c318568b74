/* Model loading: llama2.c (legacy and v1), GGUF, HF safetensors folders
 * (single file, sharded, F16/BF16, unaligned F32), hyper-parameter checks
 * and malformed files. Real models are read in place from the assets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/formats/quant.h"
#include "../../runners/transformer/formats/safetensors.h"
#include "../check.h"
#include "hf_fixtures.h"

static char *g_assets, *g_golden, *g_tmp;

static char *asset(const char *rel) { return cj_path_join(g_assets, rel); }
static char *golden(const char *rel) { return cj_path_join(g_golden, rel); }
static char *tmp(const char *rel) { return cj_path_join(g_tmp, rel); }

static int same(const float *a, const float *b, uint64_t n) { return a && b && !memcmp(a, b, n * sizeof(float)); }

/* Matrices with bit-identical values, whatever their storage. */
static int same_mat(const model_mat *a, const model_mat *b, uint64_t rows, uint64_t cols) {
    if (!a->data || !b->data) return 0;
    float *x = malloc(rows * cols * sizeof(float)), *y = malloc(rows * cols * sizeof(float));
    model_mat_rows(a, 0, (int64_t)rows, (int)cols, x);
    model_mat_rows(b, 0, (int64_t)rows, (int)cols, y);
    int ok = same(x, y, rows * cols);
    free(x);
    free(y);
    return ok;
}

/* Bit-identical weights (hyper-parameters must already agree). */
static int same_weights(const model *a, const model *b) {
    const model_hparams *h = &a->hp;
    uint64_t d = (uint64_t)h->dim, f = (uint64_t)h->ffn_dim, V = (uint64_t)h->vocab_size;
    uint64_t q = (uint64_t)h->n_heads * h->head_dim, kv = (uint64_t)h->n_kv_heads * h->head_dim;
    int ok = same_mat(&a->tok_embd, &b->tok_embd, V, d) && same_mat(&a->output, &b->output, V, d) &&
             same(a->output_norm, b->output_norm, d);
    for (int l = 0; l < h->n_layers; l++) {
        const model_layer *x = &a->layers[l], *y = &b->layers[l];
        ok &= same(x->attn_norm, y->attn_norm, d) && same(x->ffn_norm, y->ffn_norm, d);
        ok &= same_mat(&x->wq, &y->wq, q, d) && same_mat(&x->wk, &y->wk, kv, d) && same_mat(&x->wv, &y->wv, kv, d) &&
              same_mat(&x->wo, &y->wo, d, q);
        ok &= same_mat(&x->w_gate, &y->w_gate, f, d) && same_mat(&x->w_up, &y->w_up, f, d) &&
              same_mat(&x->w_down, &y->w_down, d, f);
        if (h->qkv_bias) ok &= same(x->bq, y->bq, q) && same(x->bk, y->bk, kv) && same(x->bv, y->bv, kv);
    }
    return ok;
}

static void check_stories_hp(const model *m, int ctx_len) {
    const model_hparams *h = &m->hp;
    CHECK(h->dim == 64 && h->ffn_dim == 172 && h->n_layers == 5 && h->n_heads == 8 && h->n_kv_heads == 4);
    CHECK(h->head_dim == 8 && h->vocab_size == 512);
    CHECK(h->ctx_len == ctx_len);
    CHECK_NEAR(h->rms_eps, 1e-5, 1e-12);
    CHECK_NEAR(h->rope_theta, 10000, 0);
    CHECK(h->rope_neox == 0 && h->qkv_bias == 0);
    CHECK(tok_n_vocab(m->tok) == 512);
}

/* --- llama2.c --------------------------------------------------------------- */

static void test_llama2c_legacy(void) {
    char *bin = asset("models/stories260K/stories260K.bin"), *tok = asset("models/stories260K/tok512.bin");
    model *m = load(bin, tok);
    CHECK(m != NULL);
    if (m) {
        check_stories_hp(m, 512);
        CHECK_STR(m->format, "llama2c");
        CHECK_STR(m->arch, "llama");
        CHECK_STR(m->dtype, "F32");
        CHECK_STR(m->sha256, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
        CHECK_STR(m->path, bin);
        CHECK(m->output.data == m->tok_embd.data); /* shared classifier */
        CHECK(m->n_params == 260032);
        CHECK_NEAR(m->layers[0].attn_norm[0], 0.972243, 1e-6);
        CHECK_NEAR(m->output_norm[0], 2.45831, 1e-5);
    }
    model_free(m);
    free(bin);
    free(tok);
}

static void test_llama2c_v1_identical(void) {
    char *bin = asset("models/stories260K/stories260K.bin"), *v1 = asset("models/stories260K/stories260K_v1.bin");
    char *tok = asset("models/stories260K/tok512.bin");
    model *a = load(bin, tok), *b = load(v1, tok);
    CHECK(a && b);
    if (a && b) {
        check_stories_hp(b, 512);
        CHECK_STR(b->sha256, "9ab1bf3d0c9900ce357fb38b0f42c3252e0ad478400bf7093efa133c8fa60723");
        CHECK(b->output.data == b->tok_embd.data);
        CHECK(same_weights(a, b));
    }
    model_free(a);
    model_free(b);
    free(bin);
    free(v1);
    free(tok);
}

/* A legacy checkpoint with a separate classifier: vocab_size negated in the
 * header and wcls appended; made from stories260K with a scaled copy of the
 * embedding as the classifier. */
static void test_llama2c_unshared(void) {
    char *bin = asset("models/stories260K/stories260K.bin"), *tok = asset("models/stories260K/tok512.bin");
    char *out = tmp("unshared.bin");
    size_t n;
    unsigned char *p = slurp(bin, &n);
    CHECK(p != NULL);
    if (!p) goto done;
    size_t cls = 512 * 64 * sizeof(float);
    p = cj_xrealloc(p, n + cls);
    int32_t neg = -512;
    memcpy(p + 20, &neg, 4);
    float *wcls = (float *)(void *)(p + n);
    const float *emb = (const float *)(const void *)(p + 28);
    for (int i = 0; i < 512 * 64; i++) wcls[i] = 2 * emb[i];
    CHECK(write_file(out, p, n + cls) == 0);
    model *m = load(out, tok);
    CHECK(m != NULL);
    if (m) {
        CHECK(m->hp.vocab_size == 512);
        CHECK(m->output.data != m->tok_embd.data);
        const float *o = model_mat_f32(&m->output), *t = model_mat_f32(&m->tok_embd);
        CHECK(o && t && o[5] == 2 * t[5]);
        CHECK(m->n_params == 260032 + 512 * 64);
    }
    model_free(m);
    /* the same file without its classifier is 131072 bytes short */
    CHECK(write_file(out, p, n) == 0);
    CHECK(load_fails(out, tok, "implies"));
    free(p);
done:
    free(out);
    free(bin);
    free(tok);
}

static void test_llama2c_errors(void) {
    char *bin = asset("models/stories260K/stories260K.bin"), *tok = asset("models/stories260K/tok512.bin");
    char *out = tmp("bad.bin");
    size_t n;
    unsigned char *p = slurp(bin, &n);
    CHECK(p != NULL);
    if (!p) goto done;
    CHECK(load_fails(bin, NULL, "tokenizer"));
    CHECK(load_fails("/nonexistent/model.bin", tok, "/nonexistent/model.bin"));
    /* truncated by one float: the message names both sizes */
    CHECK(write_file(out, p, n - 4) == 0);
    CHECK(load_fails(out, tok, "1056536 bytes but"));
    CHECK(load_fails(out, tok, "1056540"));
    /* shorter than the header */
    CHECK(write_file(out, p, 10) == 0);
    CHECK(load_fails(out, tok, "too short"));
    CHECK(write_file(out, p, 0) == 0);
    CHECK(load_fails(out, tok, "too short"));
    /* n_heads = 7 does not divide dim = 64 */
    unsigned char *q = cj_xmalloc(n);
    memcpy(q, p, n);
    int32_t v = 7;
    memcpy(q + 12, &v, 4);
    CHECK(write_file(out, q, n) == 0);
    CHECK(load_fails(out, tok, "n_heads = 7"));
    /* n_kv_heads = 3 does not divide n_heads = 8 */
    memcpy(q, p, n);
    v = 3;
    memcpy(q + 16, &v, 4);
    CHECK(write_file(out, q, n) == 0);
    CHECK(load_fails(out, tok, "n_kv_heads = 3"));
    /* a huge dim must be refused before any size is computed from it */
    memcpy(q, p, n);
    v = INT32_MAX;
    memcpy(q, &v, 4);
    CHECK(write_file(out, q, n) == 0);
    CHECK(load_fails(out, tok, "out of range"));
    /* vocab INT32_MIN (negation overflows) */
    memcpy(q, p, n);
    v = INT32_MIN;
    memcpy(q + 20, &v, 4);
    CHECK(write_file(out, q, n) == 0);
    CHECK(load_fails(out, tok, "vocab_size"));
    /* version-1 header with version 2, and with a bad shared flag */
    char *v1 = asset("models/stories260K/stories260K_v1.bin");
    size_t n1;
    unsigned char *r = slurp(v1, &n1);
    CHECK(r != NULL);
    if (r) {
        r[4] = 2;
        CHECK(write_file(out, r, n1) == 0);
        CHECK(load_fails(out, tok, "version 2"));
        r[4] = 1;
        r[36] = 7;
        CHECK(write_file(out, r, n1) == 0);
        CHECK(load_fails(out, tok, "shared_classifier"));
        r[36] = 1;
        CHECK(write_file(out, r, 200) == 0);
        CHECK(load_fails(out, tok, "256-byte"));
    }
    free(r);
    free(v1);
    free(q);
    free(p);
done:
    free(out);
    free(bin);
    free(tok);
}

/* --- GGUF --------------------------------------------------------------------- */

static void test_gguf_stories(void) {
    char *gguf = golden("llamacpp/stories260K.gguf");
    char *bin = asset("models/stories260K/stories260K.bin"), *tok = asset("models/stories260K/tok512.bin");
    model *g = load(gguf, NULL), *b = load(bin, tok);
    CHECK(g && b);
    if (g && b) {
        check_stories_hp(g, 128); /* the converter writes context_length 128 */
        CHECK_STR(g->format, "gguf");
        CHECK_STR(g->arch, "llama");
        CHECK_STR(g->sha256, "047bf46455a544931cff6fef14d7910154c56afbc23ab1c5e56a72e69912c04b");
        g->hp.ctx_len = b->hp.ctx_len;
        CHECK(!memcmp(&g->hp, &b->hp, sizeof g->hp));
        /* every tensor bit-identical to the llama2.c checkpoint */
        CHECK(same_weights(g, b));
    }
    model_free(g);
    model_free(b);
    free(gguf);
    free(bin);
    free(tok);
}

/* --- HF ----------------------------------------------------------------------- */

static void check_hf_hp(const model *m, int tied, float theta, int bias) {
    const model_hparams *h = &m->hp;
    CHECK(h->dim == 64 && h->ffn_dim == 176 && h->n_layers == 3 && h->n_heads == 8 && h->n_kv_heads == 2);
    CHECK(h->head_dim == 8 && h->vocab_size == 32000 && h->ctx_len == 512);
    CHECK_NEAR(h->rms_eps, 1e-5, 1e-12);
    CHECK_NEAR(h->rope_theta, theta, 0);
    CHECK(h->rope_neox == 1);
    CHECK(h->qkv_bias == bias);
    CHECK((m->output.data == m->tok_embd.data) == tied);
    CHECK(tok_n_vocab(m->tok) == 32000);
    CHECK_STR(m->format, "safetensors");
    for (int l = 0; l < h->n_layers; l++) CHECK((m->layers[l].bq != NULL) == bias && (m->layers[l].bv != NULL) == bias);
}

static void test_hf_goldens(void) {
    char *d1 = golden("hf/llama-tied-f32"), *d2 = golden("hf/llama-untied-bf16"), *d3 = golden("hf/qwen2-qkvbias-f32");
    model *a = load(d1, NULL), *b = load(d2, NULL), *c = load(d3, NULL);
    CHECK(a && b && c);
    if (a) {
        check_hf_hp(a, 1, 500000, 0);
        CHECK_STR(a->arch, "llama");
        CHECK_STR(a->dtype, "F32");
        CHECK(a->n_params == 2180544);
    }
    if (b) {
        check_hf_hp(b, 0, 10000, 0);
        CHECK_STR(b->dtype, "BF16");
        CHECK(b->n_params == 4228544);
        /* BF16 kept as BF16; widened, the low 16 bits are zero */
        const model_mat *w = &b->layers[2].w_down;
        CHECK(w->type == GGML_BF16 && w->row_bytes == 2 * (size_t)b->hp.ffn_dim);
        float x[64];
        model_mat_rows(w, 0, 1, b->hp.ffn_dim < 64 ? b->hp.ffn_dim : 64, x);
        uint32_t u;
        memcpy(&u, &x[17], 4);
        CHECK((u & 0xffff) == 0 && u != 0);
    }
    if (c) {
        check_hf_hp(c, 1, 1e6f, 1);
        CHECK_STR(c->arch, "qwen2");
        CHECK(c->n_params == 2180832);
    }
    model_free(a);
    model_free(b);
    model_free(c);
    free(d1);
    free(d2);
    free(d3);
}

/* Writes a safetensors file holding tensors [lo, hi) of src, with header
 * padding chosen so that the data buffer starts at an offset = align_off
 * (mod 8): 0 keeps F32 aligned, 1 forces a copy. */
static int write_st(const char *path, const st_file *src, int lo, int hi, int align_off) {
    sb h;
    sb_init(&h);
    sb_putc(&h, '{');
    uint64_t off = 0;
    for (int i = lo; i < hi; i++) {
        const st_tensor *t = &src->t[i];
        sb_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i > lo ? "," : "", t->name, t->dtype_name);
        for (int d = 0; d < t->n_dims; d++) sb_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                  (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    sb_putc(&h, '}');
    while ((8 + h.len) % 8 != (size_t)align_off) sb_putc(&h, ' ');
    FILE *f = fopen(path, "wb");
    if (!f) {
        sb_free(&h);
        return -1;
    }
    uint64_t hl = h.len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(h.s, 1, h.len, f) == h.len;
    for (int i = lo; i < hi && ok; i++) ok = fwrite(src->t[i].data, 1, src->t[i].nbytes, f) == src->t[i].nbytes;
    ok = fclose(f) == 0 && ok;
    sb_free(&h);
    return ok ? 0 : -1;
}

/* The qwen2 golden split into three shards with a weight_map index, the
 * middle shard unaligned: same weights as the single file. */
static void test_hf_sharded(void) {
    char *src = golden("hf/qwen2-qkvbias-f32"), *dst = tmp("sharded");
    char *st_path = cj_path_join(src, "model.safetensors");
    cj_map map;
    cj_err e;
    st_file st;
    CHECK(copy_meta(src, dst) == 0);
    CHECK(cj_map_open(st_path, &map, &e) == 0);
    CHECK(st_parse(st_path, map.data, map.size, &st, &e) == 0);
    int cut[4] = {0, st.n / 3, 2 * st.n / 3, st.n};
    sb idx;
    sb_init(&idx);
    sb_puts(&idx, "{\"metadata\":{},\"weight_map\":{");
    for (int s = 0; s < 3; s++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00003.safetensors", s + 1);
        char *p = cj_path_join(dst, name);
        CHECK(write_st(p, &st, cut[s], cut[s + 1], s == 1 ? 1 : 0) == 0);
        free(p);
        for (int i = cut[s]; i < cut[s + 1]; i++) sb_printf(&idx, "%s\"%s\":\"%s\"", i ? "," : "", st.t[i].name, name);
    }
    sb_puts(&idx, "}}");
    char *ip = cj_path_join(dst, "model.safetensors.index.json");
    CHECK(write_file(ip, idx.s, idx.len) == 0);
    model *a = load(src, NULL), *b = load(dst, NULL);
    CHECK(a && b);
    if (a && b) {
        CHECK(!memcmp(&a->hp, &b->hp, sizeof a->hp));
        CHECK(same_weights(a, b));
        char hex[65];
        CHECK(cj_sha256_file(ip, hex, &e) == 0);
        CHECK_STR(b->sha256, hex); /* a sharded folder is identified by its index */
        CHECK(b->n_maps == 3);
    }
    model_free(b);
    /* a shard name that leaves the folder is refused */
    const char *evil = "{\"weight_map\":{\"model.norm.weight\":\"../model.safetensors\"}}";
    CHECK(write_file(ip, evil, strlen(evil)) == 0);
    CHECK(load_fails(dst, NULL, "plain file name"));
    model_free(a);
    sb_free(&idx);
    free(ip);
    st_free(&st);
    cj_map_close(&map);
    free(st_path);
    free(src);
    free(dst);
}

typedef struct {
    const char *from, *to, *want;
} cfg_edit;

/* Each edit of cfg (the first `from` replaced by `to`) makes dst fail to
 * load with a message containing `want`. */
static void check_edits(const char *dst, const char *cfg, const cfg_edit *cases, size_t n_cases) {
    char *cfg_path = cj_path_join(dst, "config.json");
    for (size_t i = 0; i < n_cases; i++) {
        const char *at = strstr(cfg, cases[i].from);
        CHECKF(at != NULL, "%s case %zu", dst, i);
        if (!at) continue;
        sb s;
        sb_init(&s);
        sb_putn(&s, cfg, (size_t)(at - cfg));
        sb_puts(&s, cases[i].to);
        sb_puts(&s, at + strlen(cases[i].from));
        CHECK(write_file(cfg_path, s.s, s.len) == 0);
        CHECKF(load_fails(dst, NULL, cases[i].want), "%s case %zu", dst, i);
        sb_free(&s);
    }
    free(cfg_path);
}

static void test_hf_config_errors(void) {
    char *src = golden("hf/llama-tied-f32"), *dst = tmp("badcfg");
    char *cfg_path = cj_path_join(dst, "config.json"), *st_dst = cj_path_join(dst, "model.safetensors");
    size_t n;
    char *cfg = NULL;
    if (stage_folder(src, dst, &cfg, &n)) goto done;
    static const cfg_edit cases[] = {
        {"\"hidden_size\": 64", "\"hidden_size\": 65", "expected [32000, 65]"},
        {"\"num_attention_heads\": 8", "\"num_attention_heads\": 7", "does not divide"},
        {"\"hidden_size\": 64", "\"hidden_size\": \"64\"", "hidden_size"},
        {"\"hidden_size\": 64", "\"hidden_sizes\": 64", "missing \"hidden_size\""},
        {"\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "n_kv_heads = 3"},
        {"\"num_hidden_layers\": 3", "\"num_hidden_layers\": 4", "model.layers.3"},
        {"\"num_hidden_layers\": 3", "\"num_hidden_layers\": 99999999", "n_layers"},
        {"\"intermediate_size\": 176", "\"intermediate_size\": 175", "expected [175, 64]"},
        {"\"vocab_size\": 32000", "\"vocab_size\": -1", "vocab_size"},
        {"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0", "rms_eps"},
        {"\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"", "rope_type 'yarn' is not supported"},
        {"\"rope_type\": \"default\"", "\"rope_type\": \"llama3\"", "positive \"factor\""},
        {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act"},
        {"\"mlp_bias\": false", "\"mlp_bias\": true", "mlp_bias"},
        {"LlamaForCausalLM", "BloomForCausalLM", "not supported"},
        {"\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 3", "tie_word_embeddings"},
        {"{", "[", "config.json"},
        {"32000\n}", "32000\n", "config.json"},
    };
    check_edits(dst, cfg, cases, sizeof cases / sizeof cases[0]);
    /* rope_theta at the top level (older transformers) is read too */
    const char *old = "\"rope_parameters\": {\n    \"rope_theta\": 500000.0,\n    \"rope_type\": \"default\"\n  }";
    const char *at = strstr(cfg, old);
    CHECK(at != NULL);
    if (at) {
        sb s;
        sb_init(&s);
        sb_putn(&s, cfg, (size_t)(at - cfg));
        sb_puts(&s, "\"rope_theta\": 250000.0");
        sb_puts(&s, at + strlen(old));
        CHECK(write_file(cfg_path, s.s, s.len) == 0);
        model *m = load(dst, NULL);
        CHECK(m && m->hp.rope_theta == 250000.0f);
        model_free(m);
        sb_free(&s);
    }
    /* no config at all; no weights at all */
    unlink(cfg_path);
    CHECK(load_fails(dst, NULL, "config.json"));
    CHECK(write_file(cfg_path, cfg, n) == 0);
    unlink(st_dst);
    CHECK(load_fails(dst, NULL, "no model.safetensors"));
    free(cfg);
done:
    free(st_dst);
    free(cfg_path);
    free(src);
    free(dst);
}

/* Qwen3, EXAONE and GPT-2 (tests/golden/arch/): what their configs may not
 * say, each refused by name; EXAONE's and GPT-2's own key names are read. */
static void test_hf_config_new_archs(void) {
    static const cfg_edit qwen3[] = {
        {"\"use_sliding_window\": false", "\"use_sliding_window\": true", "use_sliding_window"},
        {"\"head_dim\": 32", "\"head_dim\": 16", "q_proj.weight' has shape [128, 64], expected [64, 64]"},
        {"\"attention_bias\": false", "\"attention_bias\": true", "attention_bias"},
    };
    static const cfg_edit exaone[] = {
        {"\"num_layers\": 2", "\"num_layers\": 3", "transformer.h.2.ln_1.weight"},
        {"\"activation_function\": \"silu\"", "\"activation_function\": \"gelu\"", "only silu"},
        {"\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": 0", "rms_eps"},
    };
    static const cfg_edit gpt2[] = {
        {"\"activation_function\": \"gelu_new\"", "\"activation_function\": \"gelu\"", "only gelu_new"},
        {"\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true",
         "scale_attn_by_inverse_layer_idx"},
        {"\"n_inner\": 128", "\"n_inner\": null", "c_fc.weight' has shape [64, 128], expected [64, 256]"},
        {"\"n_positions\": 256", "\"n_positions\": 1024", "wpe.weight' has shape [256, 64], expected [1024, 64]"},
    };
    static const cfg_edit mistral[] = {
        {"\"sliding_window\": 16", "\"sliding_window\": -1", "sliding_window"},
        {"\"sliding_window\": 16", "\"sliding_window\": 16, \"layer_types\": []", "layer_types"},
    };
    static const cfg_edit gemma2[] = {
        {"\"hidden_activation\": \"gelu_pytorch_tanh\"", "\"hidden_activation\": \"gelu\"", "only gelu_pytorch_tanh"},
        {"\"full_attention\"", "\"chunked_attention\"", "layer_types[1] is not"},
        {"\"attn_logit_softcapping\": 5.0", "\"attn_logit_softcapping\": -1", "attn_logit_softcapping"},
        {"\"sliding_window\": 12", "\"sliding_window\": 0", "sliding_window"},
        {"\"use_bidirectional_attention\": null", "\"use_bidirectional_attention\": true",
         "use_bidirectional_attention"},
        {"\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2", "layer_types\" must be a list of"},
    };
    static const cfg_edit gemma3[] = {
        {"\"sliding_attention\",", "\"full_attention\",", "repeat with no period"},
        {"\"rope_type\": \"default\"", "\"rope_type\": \"linear\"", "sliding_attention: only rope_type"},
        {"\"rope_type\": \"linear\"", "\"rope_type\": \"yarn\"", "rope_type 'yarn'"},
        {"\"query_pre_attn_scalar\": 16", "\"query_pre_attn_scalar\": 0", "query_pre_attn_scalar"},
    };
    struct {
        const char *name;
        const cfg_edit *cases;
        size_t n;
    } archs[] = {{"qwen3-tied-f16", qwen3, 3},       {"exaone-tied-f16", exaone, 3},
                 {"gpt2-f16", gpt2, 4},              {"mistral-swa16-f32", mistral, 2},
                 {"gemma2-swa-f32", gemma2, 6},      {"gemma3-swa-f32", gemma3, 4}};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        char *src = cj_path_join("tests/golden/arch", archs[a].name), *dst = tmp(archs[a].name), *cfg = NULL;
        size_t n;
        if (stage_folder(src, dst, &cfg, &n) == 0) {
            model *m = load(dst, NULL); /* staged as is, it loads */
            CHECKF(m != NULL, "%s", archs[a].name);
            model_free(m);
            check_edits(dst, cfg, archs[a].cases, archs[a].n);
        }
        free(cfg);
        free(src);
        free(dst);
    }
}

/* --- safetensors --------------------------------------------------------------- */

static int parse_buf(const char *json, const void *payload, size_t np, st_file *st, cj_err *e) {
    size_t hl = strlen(json);
    unsigned char *buf = cj_xmalloc(8 + hl + np);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, json, hl);
    memcpy(buf + 8 + hl, payload, np);
    int rc = st_parse("x.safetensors", buf, 8 + hl + np, st, e);
    free(buf);
    return rc;
}

static void test_safetensors_parse(void) {
    cj_err e;
    st_file st;
    /* F16 and BF16 widen exactly */
    uint16_t h[2] = {0x3c00, 0xc000}; /* 1, -2 */
    unsigned char payload[8];
    memcpy(payload, h, 4);
    uint16_t bf[2] = {0x3f80, 0x4049}; /* 1, 3.140625 */
    memcpy(payload + 4, bf, 4);
    size_t hl;
    const char *ok = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[4,8]}}";
    hl = strlen(ok);
    unsigned char *buf = cj_xmalloc(8 + hl + 8);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, ok, hl);
    memcpy(buf + 8 + hl, payload, 8);
    CHECK(st_parse("x.safetensors", buf, 8 + hl + 8, &st, &e) == 0);
    CHECK(st.n == 2);
    const st_tensor *a = st_find(&st, "a"), *b = st_find(&st, "b");
    CHECK(a && b && !st_find(&st, "c") && !st_find(&st, "__metadata__"));
    if (a && b) {
        float v[2];
        CHECK(st_to_f32(&st, a, v, &e) == 0 && v[0] == 1.0f && v[1] == -2.0f);
        CHECK(st_to_f32(&st, b, v, &e) == 0 && v[0] == 1.0f && v[1] == 3.140625f);
        CHECK(b->n_dims == 2 && b->shape[0] == 1 && b->shape[1] == 2);
    }
    st_free(&st);
    /* the header length must fit in the file */
    CHECK(st_parse("x.safetensors", buf, 8 + hl - 1, &st, &e) == -1 && strstr(e.msg, "header length"));
    CHECK(st_parse("x.safetensors", buf, 5, &st, &e) == -1 && strstr(e.msg, "too short"));
    free(buf);

    struct {
        const char *json;
        const char *want;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,0]}}", "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", "overflow"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", "JSON"},
        {"{\"a\":[1]}", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"{\"a\":", "not valid JSON"},
    };
    unsigned char zeros[8] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse_buf(bad[i].json, zeros, 8, &st, &e);
        CHECKF(rc == -1 && strstr(e.msg, bad[i].want) && strstr(e.msg, "x.safetensors"), "case %zu: %s", i,
               rc ? e.msg : "parsed");
        if (rc == 0) st_free(&st);
    }
    /* a dtype we size but do not load */
    CHECK(parse_buf("{\"a\":{\"dtype\":\"I8\",\"shape\":[8],\"data_offsets\":[0,8]}}", zeros, 8, &st, &e) == 0);
    if (st.n == 1) {
        float v[8];
        CHECK(st_to_f32(&st, &st.t[0], v, &e) == -1 && strstr(e.msg, "I8"));
    }
    st_free(&st);
}

/* --- hyper-parameters, tokenizer-only loading ------------------------------------ */

static void test_check_hparams(void) {
    model_hparams ok = {.dim = 64, .ffn_dim = 172, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4, .head_dim = 8,
                        .vocab_size = 512, .ctx_len = 512, .rms_eps = 1e-5f, .rope_theta = 10000, .rope_neox = 0};
    cj_err e;
    CHECK(model_check_hparams(&ok, "m", &e) == 0);
    model_hparams h;
#define BAD(field, value, want)                                                             \
    do {                                                                                    \
        h = ok;                                                                             \
        h.field = value;                                                                    \
        CHECKF(model_check_hparams(&h, "m.gguf", &e) == -1 && strstr(e.msg, want) &&      \
                   strstr(e.msg, "m.gguf"),                                                  \
               "%s", #field);                                                               \
    } while (0)
    BAD(dim, 0, "dim = 0");
    BAD(dim, -64, "dim");
    BAD(dim, 1 << 20, "dim");
    BAD(n_layers, 0, "n_layers");
    BAD(n_heads, 0, "n_heads");
    BAD(n_kv_heads, 3, "does not divide");
    BAD(head_dim, 7, "odd");
    BAD(vocab_size, 1 << 30, "vocab_size");
    BAD(ctx_len, 0, "ctx_len");
    BAD(rms_eps, 0, "rms_eps");
    BAD(rms_eps, NAN, "rms_eps");
    BAD(rope_theta, -1, "rope_theta");
    BAD(rope_theta, INFINITY, "rope_theta");
    BAD(rope_neox, 2, "rope_neox");
#undef BAD
}

static void test_load_tokenizer_only(void) {
    cj_err e;
    tokenizer *t = NULL;
    char *vocab = asset("vocab-gguf/ggml-vocab-llama-spm.gguf");
    CHECK(model_load_tokenizer(vocab, NULL, &t, &e) == 0); /* a vocab-only GGUF has no weights */
    CHECK(t && tok_n_vocab(t) == 32000);
    tok_free(t);
    char *hf = golden("hf/llama-tied-f32");
    CHECK(model_load_tokenizer(hf, NULL, &t, &e) == 0 && tok_n_vocab(t) == 32000);
    tok_free(t);
    char *bin = asset("models/stories260K/stories260K.bin"), *tok = asset("models/stories260K/tok512.bin");
    CHECK(model_load_tokenizer(bin, tok, &t, &e) == 0 && tok_n_vocab(t) == 512);
    tok_free(t);
    CHECK(model_load_tokenizer(bin, NULL, &t, &e) == -1 && t == NULL);
    /* an override tokenizer larger than the model's vocabulary is refused */
    char *big = cj_path_join(hf, "tokenizer.json");
    CHECK(load_fails(bin, big, "vocabulary"));
    free(big);
    free(bin);
    free(tok);
    free(hf);
    free(vocab);
}

int main(void) {
    g_assets = cj_assets_dir();
    g_golden = cj_golden_dir();
    g_tmp = fixture_tmpdir("model");
    if (!g_tmp) return 1;
    RUN(test_llama2c_legacy);
    RUN(test_llama2c_v1_identical);
    RUN(test_llama2c_unshared);
    RUN(test_llama2c_errors);
    RUN(test_gguf_stories);
    RUN(test_hf_goldens);
    RUN(test_hf_sharded);
    RUN(test_hf_config_errors);
    RUN(test_hf_config_new_archs);
    RUN(test_safetensors_parse);
    RUN(test_check_hparams);
    RUN(test_load_tokenizer_only);
    rm_tree(g_tmp);
    free(g_tmp);
    free(g_assets);
    free(g_golden);
    return check_summary_();
}
