/* gguf_out — writing GGUF files for the bench tools (header-only, static):
 * a buffered output file that remembers a failed write, the GGUF value
 * encodings, a copy of one metadata key of another file, and a
 * vocabulary's tokenizer.* keys, whole or cut to its first N tokens. An
 * out_file whose FILE is NULL writes nothing: it only counts keys. */
#ifndef CJ_BENCH_GGUF_OUT_H
#define CJ_BENCH_GGUF_OUT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../common/err.h"
#include "../runners/transformer/formats/gguf.h"

#define ALIGN 32

typedef struct {
    FILE *f; /* NULL: count keys only */
    const char *path;
    int failed;
    int n_keys; /* metadata keys written */
} out_file;

static void put(out_file *o, const void *p, size_t n) {
    if (o->f && !o->failed && n && fwrite(p, 1, n, o->f) != n) o->failed = 1;
}
static void put_u32(out_file *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(out_file *o, uint64_t v) { put(o, &v, 8); }
static void put_f32(out_file *o, float v) { put(o, &v, 4); }
static void put_str(out_file *o, const char *s, size_t n) {
    put_u64(o, n);
    put(o, s, n);
}
static void put_zeros(out_file *o, size_t n) {
    static const unsigned char z[ALIGN];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        put(o, z, k);
        n -= k;
    }
}

static int out_open(out_file *o, const char *tmp, cj_err *e) {
    o->path = tmp;
    o->failed = 0;
    o->n_keys = 0;
    o->f = fopen(tmp, "wb");
    if (!o->f) return cj_fail(e, "%s: cannot create: %s", tmp, strerror(errno));
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

/* Closes and renames tmp to final; removes tmp on any failure. */
static int out_close(out_file *o, const char *final, cj_err *e) {
    int failed = o->failed | (fclose(o->f) != 0);
    if (!failed && rename(o->path, final) == 0) return 0;
    int err = errno;
    remove(o->path);
    return cj_fail(e, "%s: write failed: %s", final, strerror(err));
}

/* Writes key i of the vocabulary file as it is there. */
static int copy_kv(out_file *o, const gguf_ctx *v, int64_t i, cj_err *e) {
    const char *key = gguf_key_name(v, i);
    gguf_vtype t = gguf_key_type(v, i);
    o->n_keys++;
    put_str(o, key, strlen(key));
    put_u32(o, (uint32_t)t);
    if (t == GGUF_T_STRING) {
        const char *s = gguf_get_str(v, key, e);
        if (!s) return -1;
        put_str(o, s, strlen(s));
    } else if (t == GGUF_T_ARRAY) {
        gguf_vtype et;
        uint64_t n;
        const void *data;
        if (gguf_get_arr(v, key, &et, &n, &data, e)) return -1;
        put_u32(o, (uint32_t)et);
        put_u64(o, n);
        if (et == GGUF_T_STRING) {
            for (uint64_t k = 0; k < n; k++) {
                const char *s;
                uint64_t len;
                if (gguf_get_arr_str(v, key, k, &s, &len, e)) return -1;
                put_str(o, s, (size_t)len);
            }
        } else if (gguf_vtype_size(et)) {
            put(o, data, (size_t)n * gguf_vtype_size(et));
        } else {
            return cj_fail(e, "%s: key %s: arrays of type %d are not copied", gguf_path(v), key, (int)et);
        }
    } else if (t == GGUF_T_FLOAT32 || t == GGUF_T_FLOAT64) {
        double d;
        if (gguf_get_float(v, key, &d, e)) return -1;
        if (t == GGUF_T_FLOAT32) put_f32(o, (float)d);
        else put(o, &d, 8);
    } else if (t == GGUF_T_BOOL) {
        int b;
        if (gguf_get_bool(v, key, &b, e)) return -1;
        unsigned char c = b != 0;
        put(o, &c, 1);
    } else if (gguf_vtype_size(t)) {
        int64_t x;
        if (gguf_get_int(v, key, &x, e)) return -1;
        put(o, &x, gguf_vtype_size(t)); /* little-endian: the low bytes of x are the value */
    } else {
        return cj_fail(e, "%s: key %s has unknown type %d", gguf_path(v), key, (int)t);
    }
    return 0;
}

static void kv_key(out_file *o, const char *key, gguf_vtype t) {
    o->n_keys++;
    put_str(o, key, strlen(key));
    put_u32(o, (uint32_t)t);
}
static void kv_u32(out_file *o, const char *key, uint32_t v) {
    kv_key(o, key, GGUF_T_UINT32);
    put_u32(o, v);
}
static void kv_f32(out_file *o, const char *key, float v) {
    kv_key(o, key, GGUF_T_FLOAT32);
    put_f32(o, v);
}
static void kv_str(out_file *o, const char *key, const char *v) {
    kv_key(o, key, GGUF_T_STRING);
    put_str(o, v, strlen(v));
}
static void kv_bool(out_file *o, const char *key, int v) {
    unsigned char c = v != 0;
    kv_key(o, key, GGUF_T_BOOL);
    put(o, &c, 1);
}

/* --- a vocabulary cut to its first `cut` tokens --- */

#define EOT "<|endoftext|>"

/* Merge i must make token 256 + i (a byte-level BPE ordered by its merges,
 * as GPT-2's is): then the first cut - 257 merges make exactly the kept tokens. */
static int check_merge(const gguf_ctx *v, uint64_t i, cj_err *e) {
    const char *m, *t;
    uint64_t ml, tl;
    if (gguf_get_arr_str(v, "tokenizer.ggml.merges", i, &m, &ml, e) || gguf_get_arr_str(v, "tokenizer.ggml.tokens", 256 + i, &t, &tl, e))
        return -1;
    const char *sp = memchr(m, ' ', (size_t)ml);
    if (!sp || ml - 1 != tl || memcmp(m, t, (size_t)(sp - m)) || memcmp(sp + 1, t + (sp - m), (size_t)(tl - (uint64_t)(sp - m))))
        return cj_fail(e, "%s: merge %llu does not make token %llu: the vocabulary cannot be cut", gguf_path(v),
                       (unsigned long long)i, (unsigned long long)(256 + i));
    return 0;
}

/* Array key i of the vocabulary, cut: tokens, token types, scores and
 * merges keep what the first cut - 1 tokens need, then EOT as a control
 * token. Returns 1 when key i is not one of those (copy it whole). */
static int cut_array(out_file *o, const gguf_ctx *v, int64_t i, uint64_t cut, cj_err *e) {
    const char *key = gguf_key_name(v, i);
    gguf_vtype et;
    uint64_t n;
    const void *data;
    int tokens = !strcmp(key, "tokenizer.ggml.tokens"), merges = !strcmp(key, "tokenizer.ggml.merges");
    if (!tokens && !merges && strcmp(key, "tokenizer.ggml.token_type") && strcmp(key, "tokenizer.ggml.scores")) return 1;
    if (gguf_get_arr(v, key, &et, &n, &data, e)) return -1;
    uint64_t keep = merges ? cut - 257 : cut - 1;
    if (n < keep + 1) return cj_fail(e, "%s: %s has %llu entries, fewer than %llu", gguf_path(v), key,
                                     (unsigned long long)n, (unsigned long long)keep + 1);
    kv_key(o, key, GGUF_T_ARRAY);
    put_u32(o, (uint32_t)et);
    put_u64(o, merges ? keep : cut);
    for (uint64_t k = 0; k < keep && (et == GGUF_T_STRING); k++) {
        const char *s;
        uint64_t len;
        if ((merges && check_merge(v, k, e)) || gguf_get_arr_str(v, key, k, &s, &len, e)) return -1;
        put_str(o, s, (size_t)len);
    }
    if (et != GGUF_T_STRING) put(o, data, (size_t)keep * gguf_vtype_size(et));
    if (tokens) put_str(o, EOT, strlen(EOT));
    if (et == GGUF_T_INT32) put_u32(o, 3); /* token type: control */
    if (et == GGUF_T_FLOAT32) put_f32(o, 0.0f);
    return 0;
}

/* Writes the vocabulary's tokenizer.* keys; cut > 0 keeps its first cut - 1
 * tokens and makes EOT token cut - 1, the BOS and EOS (a byte-level BPE
 * vocabulary only, e.g. GPT-2's cut to Polyglot-ko's 30,080). */
static int write_vocab(out_file *o, const gguf_ctx *v, uint64_t cut, cj_err *e) {
    if (cut) {
        const char *model = gguf_get_str(v, "tokenizer.ggml.model", e);
        if (!model) return -1;
        if (strcmp(model, "gpt2") || cut < 258)
            return cj_fail(e, "%s: only a byte-level BPE (gpt2) vocabulary can be cut to %llu tokens", gguf_path(v),
                           (unsigned long long)cut);
    }
    for (int64_t i = 0; i < gguf_n_keys(v); i++) {
        const char *key = gguf_key_name(v, i);
        if (strncmp(key, "tokenizer.", 10)) continue;
        int rc = 1;
        if (cut && gguf_key_type(v, i) == GGUF_T_ARRAY) rc = cut_array(o, v, i, cut, e);
        if (cut && (!strcmp(key, "tokenizer.ggml.bos_token_id") || !strcmp(key, "tokenizer.ggml.eos_token_id"))) {
            kv_u32(o, key, (uint32_t)(cut - 1));
            rc = 0;
        }
        if (rc == 1) rc = copy_kv(o, v, i, e);
        if (rc) return -1;
    }
    return 0;
}

#endif

