/* mkmodel — writes random-weight checkpoints of real shapes, for benchmarks.
 *
 * The speed of a model does not depend on its weights' values, so a benchmark
 * needs only the right shapes, types and vocabulary. The weights are drawn
 * from N(0, std) with a generator seeded by (seed, tensor name): the same
 * seed gives the same file, and a tensor's values do not depend on which
 * other tensors are written. std is 0.02 (GPT-2 / Llama initialisation),
 * 0.02 / sqrt(2 * layers) for the two matrices that write into the residual
 * stream; norms are 1, biases 0. The logits then have a standard deviation
 * of about 0.5: a flat but sane distribution.
 *
 * Output: a GGUF v3 file (architecture "llama", or "gptneox" for the
 * Polyglot-ko shape; tensors named as llama.cpp names them, every
 * tokenizer.* key copied from a vocabulary GGUF, or that vocabulary cut to
 * the shape's size) in F32, F16 or Q8_0 (norms and biases stay F32, as
 * llama.cpp's converter keeps them).
 * Q8_0 follows ggml's reference quantizer: per block of 32, d = amax / 127
 * stored as F16, q = roundf(x * (1 / d)) with 1/d taken from the F32 d.
 * Optionally also an HF folder holding the same model: config.json,
 * model.safetensors (F32 or F16, Q/K rows in HF's rotate-halves order, i.e.
 * the inverse of llama.cpp's converter permutation) and a llama2.c
 * tokenizer.bin of the vocabulary (HF folders need a tokenizer override:
 * `--tokenizer DIR/tokenizer.bin`).
 *
 * Files are written under a temporary name and renamed when complete, so an
 * interrupted run never leaves a truncated checkpoint behind. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/err.h"
#include "../common/fileio.h"
#include "../common/sb.h"
#include "../runners/transformer/formats/gguf.h"
#include "../runners/transformer/formats/quant.h"
#include "gguf_out.h"

#define QK8_0 32

typedef struct {
    const char *name;
    int dim, ffn_dim, n_layers, n_heads, n_kv_heads, ctx_len;
    int tied; /* output projection shares token_embd, as in the real checkpoint */
    const char *arch; /* "llama" or "gptneox" */
    int rope_pct;     /* % of a head's dims that RoPE rotates */
    int vocab;        /* > 0: the vocabulary cut to this many tokens (write_vocab) */
} shape;

static const shape SHAPES[] = {
    {"smollm-135m", 576, 1536, 30, 9, 3, 2048, 1, "llama", 100, 0},
    {"tinyllama-1.1b", 2048, 5632, 22, 32, 4, 2048, 0, "llama", 100, 0},
    /* Polyglot-ko-1.3B: GPT-NeoX, parallel residual, rotary_pct 0.5, 30,080 tokens */
    {"polyglot-ko-1.3b", 2048, 8192, 24, 16, 16, 2048, 0, "gptneox", 50, 30080},
};

typedef enum { W_ONES, W_ZEROS, W_NORMAL } wkind;

/* One tensor to write. A matrix of GGUF shape [ne0, ne1] is ne1 rows of ne0
 * values: [in, out] in ggml's order, [out, in] in HF's. */
typedef struct {
    char gguf_name[64];
    char hf_name[80];
    int64_t ne0, ne1; /* ne1 == 1 for vectors */
    wkind kind;
    float std;
    int rope_heads;   /* > 0: Q or K with this many heads (HF order differs) */
    ggml_type type;   /* in the GGUF file */
    uint64_t offset;  /* of its data, from the start of the data section */
    size_t nbytes;
} tensor_spec;

typedef struct {
    const shape *sh;
    int n_layers;
    int vocab;
    ggml_type type;
    uint64_t seed;
    tensor_spec *t;
    int n;
} plan;

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Fills x[n] with N(0, std) by Box-Muller from a stream seeded by (seed, name). */
static void fill_normal(float *x, uint64_t n, float std, uint64_t seed, const char *name) {
    uint64_t s = seed ^ fnv1a(name);
    for (uint64_t i = 0; i < n; i += 2) {
        /* 53-bit uniforms in (0, 1]: log never sees 0. */
        double u1 = ((splitmix64(&s) >> 11) + 1) * 0x1.0p-53;
        double u2 = (splitmix64(&s) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1)) * std, a = 6.283185307179586 * u2;
        x[i] = (float)(r * cos(a));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(a));
    }
}

static void tensor_values(const plan *p, const tensor_spec *t, float *x) {
    uint64_t n = (uint64_t)t->ne0 * (uint64_t)t->ne1;
    if (t->kind != W_NORMAL)
        for (uint64_t i = 0; i < n; i++) x[i] = t->kind == W_ONES ? 1.0f : 0.0f;
    else
        fill_normal(x, n, t->std, p->seed, t->gguf_name);
}

/* ---- the plan ---- */

static void add(plan *p, const char *gname, const char *hname, int64_t ne0, int64_t ne1, wkind kind, float std,
                int rope_heads) {
    tensor_spec *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->gguf_name, sizeof t->gguf_name, "%s", gname);
    snprintf(t->hf_name, sizeof t->hf_name, "%s", hname);
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->kind = kind;
    t->std = std;
    t->rope_heads = rope_heads;
    t->type = ne1 > 1 ? p->type : GGML_F32;
}

/* One tensor of a layer: GGUF suffix, HF suffix, [ne0, ne1], values. */
typedef struct {
    const char *g, *h;
    int64_t ne0, ne1;
    wkind kind;
    float std;
    int rope_heads;
} layer_tensor;

#define MAX_LAYER_TENSORS 12

static int llama_layer(const shape *s, float std, float std_res, layer_tensor *L) {
    int64_t d = s->dim, hd = s->dim / s->n_heads, q = s->n_heads * hd, kv = s->n_kv_heads * hd, f = s->ffn_dim;
    const layer_tensor t[] = {
        {"attn_norm.weight", "input_layernorm.weight", d, 1, W_ONES, 0, 0},
        {"attn_q.weight", "self_attn.q_proj.weight", d, q, W_NORMAL, std, s->n_heads},
        {"attn_k.weight", "self_attn.k_proj.weight", d, kv, W_NORMAL, std, s->n_kv_heads},
        {"attn_v.weight", "self_attn.v_proj.weight", d, kv, W_NORMAL, std, 0},
        {"attn_output.weight", "self_attn.o_proj.weight", q, d, W_NORMAL, std_res, 0},
        {"ffn_norm.weight", "post_attention_layernorm.weight", d, 1, W_ONES, 0, 0},
        {"ffn_gate.weight", "mlp.gate_proj.weight", d, f, W_NORMAL, std, 0},
        {"ffn_up.weight", "mlp.up_proj.weight", d, f, W_NORMAL, std, 0},
        {"ffn_down.weight", "mlp.down_proj.weight", f, d, W_NORMAL, std_res, 0},
    };
    memcpy(L, t, sizeof t);
    return (int)(sizeof t / sizeof *t);
}

/* GPT-NeoX (llama.cpp's gptneox tensors; mkmodel writes no NeoX HF folder):
 * LayerNorms and products with biases, fused [q | k | v]. */
static int neox_layer(const shape *s, float std, float std_res, layer_tensor *L) {
    int64_t d = s->dim, f = s->ffn_dim;
    const layer_tensor t[] = {
        {"attn_norm.weight", "", d, 1, W_ONES, 0, 0},         {"attn_norm.bias", "", d, 1, W_ZEROS, 0, 0},
        {"attn_qkv.weight", "", d, 3 * d, W_NORMAL, std, 0},  {"attn_qkv.bias", "", 3 * d, 1, W_ZEROS, 0, 0},
        {"attn_output.weight", "", d, d, W_NORMAL, std_res, 0}, {"attn_output.bias", "", d, 1, W_ZEROS, 0, 0},
        {"ffn_norm.weight", "", d, 1, W_ONES, 0, 0},          {"ffn_norm.bias", "", d, 1, W_ZEROS, 0, 0},
        {"ffn_up.weight", "", d, f, W_NORMAL, std, 0},        {"ffn_up.bias", "", f, 1, W_ZEROS, 0, 0},
        {"ffn_down.weight", "", f, d, W_NORMAL, std_res, 0},  {"ffn_down.bias", "", d, 1, W_ZEROS, 0, 0},
    };
    memcpy(L, t, sizeof t);
    return (int)(sizeof t / sizeof *t);
}

static int make_plan(plan *p, cj_err *e) {
    const shape *s = p->sh;
    int neox = !strcmp(s->arch, "gptneox");
    int64_t d = s->dim;
    float std = 0.02f, std_res = 0.02f / sqrtf(2.0f * (float)p->n_layers);
    layer_tensor L[MAX_LAYER_TENSORS];
    int n_per_layer = neox ? neox_layer(s, std, std_res, L) : llama_layer(s, std, std_res, L);
    p->t = cj_xcalloc((size_t)p->n_layers * (size_t)n_per_layer + 4, sizeof *p->t);
    add(p, "token_embd.weight", "model.embed_tokens.weight", d, p->vocab, W_NORMAL, std, 0);
    add(p, "output_norm.weight", "model.norm.weight", d, 1, W_ONES, 0, 0);
    if (neox) add(p, "output_norm.bias", "", d, 1, W_ZEROS, 0, 0);
    if (!s->tied) add(p, "output.weight", "lm_head.weight", d, p->vocab, W_NORMAL, std, 0);
    for (int l = 0; l < p->n_layers; l++) {
        for (int k = 0; k < n_per_layer; k++) {
            char g[64], h[80];
            snprintf(g, sizeof g, "blk.%d.%s", l, L[k].g);
            snprintf(h, sizeof h, "model.layers.%d.%s", l, L[k].h);
            add(p, g, h, L[k].ne0, L[k].ne1, L[k].kind, L[k].std, L[k].rope_heads);
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        tensor_spec *t = &p->t[i];
        if (quant_nbytes(t->type, (uint64_t)t->ne0 * (uint64_t)t->ne1, &t->nbytes))
            return cj_fail(e, "tensor %s: %" PRId64 " x %" PRId64 " does not fit type %s", t->gguf_name, t->ne0,
                           t->ne1, quant_type_name(t->type));
        t->offset = off;
        off += (t->nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }
    return 0;
}

/* ---- conversion ---- */

/* ggml's quantize_row_q8_0_ref, one row of n (a multiple of 32) values. */
static void quantize_q8_0(const float *x, unsigned char *out, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0, out += 2 + QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = quant_f32_to_f16(d);
        out[0] = (unsigned char)(h & 0xff);
        out[1] = (unsigned char)(h >> 8);
        for (int j = 0; j < QK8_0; j++) out[2 + j] = (unsigned char)(int8_t)roundf(x[j] * id);
    }
}

/* Converts n F32 values to type t into out (quant_nbytes(t, n) bytes). */
static void convert(ggml_type t, const float *x, int64_t n, int64_t row, unsigned char *out) {
    if (t == GGML_F32) {
        memcpy(out, x, (size_t)n * 4);
    } else if (t == GGML_F16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = quant_f32_to_f16(x[i]);
            out[2 * i] = (unsigned char)(h & 0xff);
            out[2 * i + 1] = (unsigned char)(h >> 8);
        }
    } else {
        for (int64_t r = 0; r < n / row; r++)
            quantize_q8_0(x + r * row, out + (size_t)r * (size_t)(row / QK8_0) * (2 + QK8_0), row);
    }
}

/* Largest tensor in floats: the buffer every tensor is generated into. */
static uint64_t max_elems(const plan *p) {
    uint64_t m = 0;
    for (int i = 0; i < p->n; i++) {
        uint64_t n = (uint64_t)p->t[i].ne0 * (uint64_t)p->t[i].ne1;
        if (n > m) m = n;
    }
    return m;
}

/* The model's own metadata keys, in the order llama.cpp's converter writes them. */
static void model_keys(out_file *o, const plan *p) {
    const shape *s = p->sh;
    char name[96], k[96];
    snprintf(name, sizeof name, "random %s seed %" PRIu64, s->name, p->seed);
    uint32_t ftype = p->type == GGML_F32 ? 0 : p->type == GGML_F16 ? 1 : 7; /* llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0 */
    int neox = !strcmp(s->arch, "gptneox");
#define KEY(x) (snprintf(k, sizeof k, "%s.%s", s->arch, x), k)
    kv_str(o, "general.architecture", s->arch);
    kv_str(o, "general.name", name);
    kv_u32(o, "general.file_type", ftype);
    kv_u32(o, KEY("context_length"), (uint32_t)s->ctx_len);
    kv_u32(o, KEY("embedding_length"), (uint32_t)s->dim);
    kv_u32(o, KEY("block_count"), (uint32_t)p->n_layers);
    kv_u32(o, KEY("feed_forward_length"), (uint32_t)s->ffn_dim);
    kv_u32(o, KEY("rope.dimension_count"), (uint32_t)(s->dim / s->n_heads * s->rope_pct / 100));
    kv_u32(o, KEY("attention.head_count"), (uint32_t)s->n_heads);
    if (neox) {
        kv_f32(o, KEY("attention.layer_norm_epsilon"), 1e-5f);
        kv_bool(o, KEY("use_parallel_residual"), 1);
    } else {
        kv_u32(o, KEY("attention.head_count_kv"), (uint32_t)s->n_kv_heads);
        kv_f32(o, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
        kv_f32(o, KEY("rope.freq_base"), 10000.0f);
        kv_u32(o, KEY("vocab_size"), (uint32_t)p->vocab);
    }
#undef KEY
}

static int write_gguf(const plan *p, const gguf_ctx *v, const char *path, cj_err *e) {
    out_file o = {0}; /* no file: counts the keys */
    model_keys(&o, p);
    if (write_vocab(&o, v, (uint64_t)p->sh->vocab, e)) return -1;
    int n_keys = o.n_keys;
    char *tmp = cj_xmalloc(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    if (out_open(&o, tmp, e)) {
        free(tmp);
        return -1;
    }
    put(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, (uint64_t)p->n);
    put_u64(&o, (uint64_t)n_keys);
    model_keys(&o, p);
    int rc = write_vocab(&o, v, (uint64_t)p->sh->vocab, e);
    for (int i = 0; i < p->n && !rc; i++) {
        const tensor_spec *t = &p->t[i];
        put_str(&o, t->gguf_name, strlen(t->gguf_name));
        int nd = t->ne1 > 1 ? 2 : 1;
        put_u32(&o, (uint32_t)nd);
        put_u64(&o, (uint64_t)t->ne0);
        if (nd == 2) put_u64(&o, (uint64_t)t->ne1);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, t->offset);
    }
    if (!rc) {
        long pos = ftell(o.f);
        if (pos < 0) o.failed = 1;
        else put_zeros(&o, (size_t)((ALIGN - pos % ALIGN) % ALIGN));
    }
    uint64_t cap = max_elems(p);
    float *x = cj_xmalloc((size_t)cap * sizeof *x);
    unsigned char *buf = cj_xmalloc((size_t)cap * sizeof(float));
    for (int i = 0; i < p->n && !rc && !o.failed; i++) {
        const tensor_spec *t = &p->t[i];
        tensor_values(p, t, x);
        convert(t->type, x, t->ne0 * t->ne1, t->ne0, buf);
        put(&o, buf, t->nbytes);
        put_zeros(&o, (size_t)((ALIGN - t->nbytes % ALIGN) % ALIGN));
    }
    free(x);
    free(buf);
    if (rc) {
        fclose(o.f);
        remove(tmp);
    } else {
        rc = out_close(&o, path, e);
    }
    free(tmp);
    return rc;
}

/* ---- HF folder ---- */

/* The GGUF row that HF row r of a Q/K matrix with `heads` heads of hd rows holds. */
static int64_t hf_to_gguf_row(int64_t r, int64_t hd) {
    int64_t h = r / hd, k = r % hd, half = hd / 2;
    int64_t j = k / half, i = k % half; /* HF row = h*hd + j*half + i */
    return h * hd + 2 * i + j;
}

static int write_safetensors(const plan *p, const char *path, cj_err *e) {
    const char *dtype = p->type == GGML_F32 ? "F32" : "F16";
    size_t esz = p->type == GGML_F32 ? 4 : 2;
    sb h;
    sb_init(&h);
    sb_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        const tensor_spec *t = &p->t[i];
        uint64_t n = (uint64_t)t->ne0 * (uint64_t)t->ne1 * esz;
        if (t->ne1 > 1)
            sb_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 ",%" PRId64 "],\"data_offsets\":[%" PRIu64
                          ",%" PRIu64 "]}",
                      t->hf_name, dtype, t->ne1, t->ne0, off, off + n);
        else
            sb_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRId64 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                      t->hf_name, dtype, t->ne0, off, off + n);
        off += n;
    }
    sb_putc(&h, '}');
    while (h.len % 8) sb_putc(&h, ' ');

    char *tmp = cj_xmalloc(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    out_file o;
    int rc = out_open(&o, tmp, e);
    if (rc) {
        sb_free(&h);
        free(tmp);
        return -1;
    }
    put_u64(&o, h.len);
    put(&o, h.s, h.len);
    sb_free(&h);
    uint64_t cap = max_elems(p);
    float *x = cj_xmalloc((size_t)cap * sizeof *x);
    unsigned char *row = cj_xmalloc((size_t)p->sh->ffn_dim * 4 + (size_t)p->sh->dim * 4);
    for (int i = 0; i < p->n && !o.failed; i++) {
        const tensor_spec *t = &p->t[i];
        tensor_values(p, t, x);
        int64_t hd = t->rope_heads ? t->ne1 / t->rope_heads : 0;
        for (int64_t r = 0; r < t->ne1; r++) {
            int64_t src = hd ? hf_to_gguf_row(r, hd) : r;
            convert(p->type, x + src * t->ne0, t->ne0, t->ne0, row);
            put(&o, row, (size_t)t->ne0 * esz);
        }
    }
    free(x);
    free(row);
    rc = out_close(&o, path, e);
    free(tmp);
    return rc;
}

static int write_text(const char *path, const char *text, cj_err *e) {
    char *tmp = cj_xmalloc(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    out_file o;
    int rc = out_open(&o, tmp, e);
    if (!rc) {
        put(&o, text, strlen(text));
        rc = out_close(&o, path, e);
    }
    free(tmp);
    return rc;
}

static int write_config(const plan *p, const char *path, cj_err *e) {
    const shape *s = p->sh;
    sb b;
    sb_init(&b);
    sb_printf(&b,
              "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
              "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
              "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
              "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
              "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"%s\",\n"
              "  \"bos_token_id\": 1,\n  \"eos_token_id\": 2\n}\n",
              s->dim, s->ffn_dim, p->n_layers, s->n_heads, s->n_kv_heads, p->vocab, s->ctx_len,
              s->tied ? "true" : "false", p->type == GGML_F32 ? "float32" : "float16");
    int rc = write_text(path, b.s, e);
    sb_free(&b);
    return rc;
}

/* llama2.c's tokenizer.bin: max_token_length, then per token its score,
 * byte length and bytes, with "▁" written as a space. */
static int write_tokenizer_bin(const gguf_ctx *v, int vocab, const char *path, cj_err *e) {
    gguf_vtype st;
    uint64_t ns;
    const void *scores;
    if (gguf_get_arr(v, "tokenizer.ggml.scores", &st, &ns, &scores, e)) return -1;
    if (st != GGUF_T_FLOAT32 || ns != (uint64_t)vocab)
        return cj_fail(e, "%s: tokenizer.ggml.scores is not %d float32 values", gguf_path(v), vocab);
    sb body;
    sb_init(&body);
    int32_t max_len = 0;
    int rc = 0;
    for (int i = 0; i < vocab && !rc; i++) {
        const char *s;
        uint64_t len;
        if ((rc = gguf_get_arr_str(v, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len, e))) break;
        sb piece;
        sb_init(&piece);
        for (uint64_t k = 0; k < len; k++) {
            if (k + 2 < len && !memcmp(s + k, "\xe2\x96\x81", 3)) {
                sb_putc(&piece, ' ');
                k += 2;
            } else {
                sb_putc(&piece, s[k]);
            }
        }
        float score;
        memcpy(&score, (const unsigned char *)scores + (size_t)i * 4, 4);
        int32_t n = (int32_t)piece.len;
        if (n > max_len) max_len = n;
        sb_putn(&body, (const char *)&score, 4);
        sb_putn(&body, (const char *)&n, 4);
        sb_putn(&body, piece.s, piece.len);
        sb_free(&piece);
    }
    if (!rc) {
        char *tmp = cj_xmalloc(strlen(path) + 5);
        sprintf(tmp, "%s.tmp", path);
        out_file o;
        rc = out_open(&o, tmp, e);
        if (!rc) {
            put(&o, &max_len, 4);
            put(&o, body.s, body.len);
            rc = out_close(&o, path, e);
        }
        free(tmp);
    }
    sb_free(&body);
    return rc;
}

static int write_hf(const plan *p, const gguf_ctx *v, const char *dir, cj_err *e) {
    if (mkdir(dir, 0777) && errno != EEXIST) return cj_fail(e, "%s: cannot create: %s", dir, strerror(errno));
    char *st = cj_path_join(dir, "model.safetensors"), *cfg = cj_path_join(dir, "config.json"),
         *tok = cj_path_join(dir, "tokenizer.bin");
    int rc = write_safetensors(p, st, e) || write_config(p, cfg, e) || write_tokenizer_bin(v, p->vocab, tok, e) ? -1 : 0;
    free(st);
    free(cfg);
    free(tok);
    return rc;
}

/* ---- command line ---- */

static void usage(FILE *f) {
    fputs("usage: mkmodel --shape NAME --type f32|f16|q8_0 --vocab VOCAB.gguf -o OUT.gguf\n"
          "               [--seed S] [--layers N] [--hf DIR]\n\n"
          "Writes a random-weight checkpoint of a real shape with the vocabulary of VOCAB.gguf.\n"
          "  --shape NAME   smollm-135m (576/1536, 30 layers, 9 heads, 3 KV heads, tied output)\n"
          "                 tinyllama-1.1b (2048/5632, 22 layers, 32 heads, 4 KV heads)\n"
          "                 polyglot-ko-1.3b (GPT-NeoX: 2048/8192, 24 layers, 16 heads, rotary_pct 0.5,\n"
          "                 parallel residual; a byte-level BPE VOCAB, e.g. GPT-2's, cut to 30,080 tokens)\n"
          "  --type T       matrix type: f32, f16 or q8_0 (norms are always F32)\n"
          "  --seed S       weight seed (default 1)\n"
          "  --layers N     fewer layers than the shape has (quick checks)\n"
          "  --hf DIR       also write the same model as an HF folder (f32 or f16): config.json,\n"
          "                 model.safetensors, and tokenizer.bin (pass it as --tokenizer)\n",
          f);
}

int main(int argc, char **argv) {
    const char *shape_name = NULL, *type_name = NULL, *vocab_path = NULL, *out = NULL, *hf = NULL;
    uint64_t seed = 1;
    long layers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!val) {
            fprintf(stderr, "mkmodel: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        char *end = NULL;
        if (!strcmp(a, "--shape")) shape_name = val;
        else if (!strcmp(a, "--type")) type_name = val;
        else if (!strcmp(a, "--vocab")) vocab_path = val;
        else if (!strcmp(a, "-o")) out = val;
        else if (!strcmp(a, "--hf")) hf = val;
        else if (!strcmp(a, "--seed")) {
            errno = 0;
            seed = strtoull(val, &end, 10);
            if (errno || *end || end == val) {
                fprintf(stderr, "mkmodel: --seed: not a number: '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--layers")) {
            layers = strtol(val, &end, 10);
            if (*end || end == val || layers < 1 || layers > 1000) {
                fprintf(stderr, "mkmodel: --layers: expected 1..1000, got '%s'\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "mkmodel: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!shape_name || !type_name || !vocab_path || !out) {
        fprintf(stderr, "mkmodel: --shape, --type, --vocab and -o are required (see --help)\n");
        return 2;
    }
    plan p = {.seed = seed};
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (!strcmp(SHAPES[i].name, shape_name)) p.sh = &SHAPES[i];
    if (!p.sh) {
        fprintf(stderr, "mkmodel: unknown shape '%s' (smollm-135m, tinyllama-1.1b, polyglot-ko-1.3b)\n", shape_name);
        return 2;
    }
    if (!strcmp(type_name, "f32")) p.type = GGML_F32;
    else if (!strcmp(type_name, "f16")) p.type = GGML_F16;
    else if (!strcmp(type_name, "q8_0")) p.type = GGML_Q8_0;
    else {
        fprintf(stderr, "mkmodel: unknown type '%s' (f32, f16, q8_0)\n", type_name);
        return 2;
    }
    if (hf && strcmp(p.sh->arch, "llama")) {
        fprintf(stderr, "mkmodel: --hf writes Llama folders only, not %s\n", p.sh->arch);
        return 2;
    }
    if (hf && p.type == GGML_Q8_0) {
        fprintf(stderr, "mkmodel: --hf needs f32 or f16 (safetensors has no Q8_0)\n");
        return 2;
    }
    p.n_layers = layers ? (int)layers : p.sh->n_layers;

    cj_err e;
    gguf_ctx *v = NULL;
    int rc = 1;
    if (gguf_open(vocab_path, &v, &e)) goto fail;
    gguf_vtype et;
    uint64_t n_vocab;
    const void *unused;
    if (gguf_get_arr(v, "tokenizer.ggml.tokens", &et, &n_vocab, &unused, &e)) goto fail;
    if (et != GGUF_T_STRING || n_vocab < 1 || n_vocab > 1000000) {
        cj_fail(&e, "%s: tokenizer.ggml.tokens is not a string array of 1..1000000 entries", vocab_path);
        goto fail;
    }
    p.vocab = p.sh->vocab ? p.sh->vocab : (int)n_vocab;
    if (make_plan(&p, &e) || write_gguf(&p, v, out, &e)) goto fail;
    if (hf && write_hf(&p, v, hf, &e)) goto fail;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mkmodel: %s\n", e.msg);
done:
    gguf_close(v);
    free(p.t);
    return rc;
}
