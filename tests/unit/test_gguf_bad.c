/* Unit tests for gguf (the reader) and model_gguf (the GGUF model loader)
 * on bad input: one malformed variant per check of the reader, the nesting
 * limit, and a robustness sweep (truncations, seeded byte flips of real
 * files) that must never crash. Well-formed files: test_gguf.c. */
#include "../../runners/transformer/formats/gguf.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../../runners/transformer/formats/model.h"
#include "../check.h"
#include "gguf_fixtures.h"

/* ---- malformed variants: a valid base file, patched one field at a time ---- */

typedef struct {
    size_t version, n_tensors, n_kv, align_type, align_val, arr_type, arr_etype, arr_n, str_key, t0_ndims, t0_ne0,
        t0_ne1, t0_type, t1_name, t1_ne0, t1_off, end_infos;
} base_offsets;

/* kv: general.alignment u32 32; a.arr [u32 1, 2]; a.nest [[u8 7]]; a.str "s".
 * tensors: t0 F32 [32, 2] at 0 (256 bytes); t1 Q8_0 [32] at 256 (34 bytes). */
static void build_base(sb *b, base_offsets *o) {
    o->version = 4, o->n_tensors = 8, o->n_kv = 16;
    w_header(b, 3, 2, 4);
    w_str(b, "general.alignment");
    o->align_type = b->len;
    w_le(b, GGUF_T_UINT32, 4);
    o->align_val = b->len;
    w_le(b, 32, 4);
    w_str(b, "a.arr");
    o->arr_type = b->len;
    w_le(b, GGUF_T_ARRAY, 4);
    o->arr_etype = b->len;
    w_le(b, GGUF_T_UINT32, 4);
    o->arr_n = b->len;
    w_le(b, 2, 8), w_le(b, 1, 4), w_le(b, 2, 4);
    w_key(b, "a.nest", GGUF_T_ARRAY), w_le(b, GGUF_T_ARRAY, 4), w_le(b, 1, 8);
    w_le(b, GGUF_T_UINT8, 4), w_le(b, 1, 8), w_le(b, 7, 1);
    o->str_key = b->len + 8;
    w_key(b, "a.str", GGUF_T_STRING), w_str(b, "s");
    w_str(b, "t0");
    o->t0_ndims = b->len;
    w_le(b, 2, 4);
    o->t0_ne0 = b->len, o->t0_ne1 = b->len + 8;
    w_le(b, 32, 8), w_le(b, 2, 8);
    o->t0_type = b->len;
    w_le(b, GGML_F32, 4), w_le(b, 0, 8);
    o->t1_name = b->len + 8;
    w_str(b, "t1"), w_le(b, 1, 4);
    o->t1_ne0 = b->len;
    w_le(b, 32, 8), w_le(b, GGML_Q8_0, 4);
    o->t1_off = b->len;
    w_le(b, 256, 8);
    o->end_infos = b->len;
    w_pad(b, 32);
    for (int i = 0; i < 256 + 34; i++) sb_putc(b, (char)i);
}

/* Expects gguf_open_mem to refuse buf[0..n) with a message holding the
 * file name and every one of the given fragments. */
static void expect_refused(const char *what, const char *buf, size_t n, const char *frag1, const char *frag2) {
    char *copy = malloc(n ? n : 1); /* exactly n bytes, so ASan sees any overread */
    memcpy(copy, buf, n);
    gguf_ctx *g = (gguf_ctx *)&g; /* must be reset to NULL */
    cj_err e = {{0}};
    int rc = gguf_open_mem(copy, n, "mem.gguf", &g, &e);
    CHECKF(rc == -1 && g == NULL, "%s: accepted", what);
    CHECKF(strstr(e.msg, "mem.gguf") && strstr(e.msg, frag1) && (!frag2 || strstr(e.msg, frag2)),
           "%s: message \"%s\" lacks \"%s\"/\"%s\"", what, e.msg, frag1, frag2 ? frag2 : "");
    if (rc == 0) gguf_close(g);
    free(copy);
}

typedef struct {
    const char *what;
    int field;     /* index into base_offsets viewed as an array of size_t; -1: byte 0 */
    int delta;     /* bytes after that offset */
    int width;
    uint64_t value;
    const char *frag1, *frag2;
} patch_case;

/* t1 (34 bytes of data, the last tensor) retyped and reshaped: quantized
 * data cut short by the end of the file, or rows that are not whole blocks. */
static void test_quantized_t1(const sb *b, const base_offsets *o) {
    const struct {
        ggml_type type;
        uint64_t ne0;
        const char *frag;
    } cases[] = {
        {GGML_Q2_K, 256, "outside"},     /* 84 bytes */
        {GGML_Q3_K, 256, "outside"},     /* 110 */
        {GGML_Q5_1, 64, "outside"},      /* 48 */
        {GGML_Q4_1, 64, "outside"},      /* 40 */
        {GGML_IQ4_NL, 48, "not a multiple of the IQ4_NL block size 32"},
        {GGML_Q5_0, 33, "not a multiple of the Q5_0 block size 32"},
        {GGML_Q3_K, 288, "not a multiple of the Q3_K block size 256"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        char *buf = malloc(b->len), what[64];
        memcpy(buf, b->s, b->len);
        put_le(buf + o->t1_ne0, cases[i].ne0, 8);
        put_le(buf + o->t1_ne0 + 8, cases[i].type, 4);
        snprintf(what, sizeof what, "t1 as %" PRIu64 " values of type %d", cases[i].ne0, (int)cases[i].type);
        expect_refused(what, buf, b->len, "'t1'", cases[i].frag);
        free(buf);
    }
    /* the same tensors whole are accepted */
    char *buf = malloc(b->len);
    memcpy(buf, b->s, b->len);
    put_le(buf + o->t1_ne0, 32, 8);
    put_le(buf + o->t1_ne0 + 8, GGML_Q5_1, 4); /* 24 of the 34 bytes */
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    CHECKF(gguf_open_mem(buf, b->len, "mem.gguf", &g, &e) == 0, "Q5_1 t1: %s", e.msg);
    CHECK(g && gguf_find_tensor(g, "t1")->nbytes == 24);
    gguf_close(g);
    free(buf);
}

static void test_malformed_fields(void) {
    sb b;
    sb_init(&b);
    base_offsets o;
    build_base(&b, &o);
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    CHECKF(gguf_open_mem(b.s, b.len, "mem.gguf", &g, &e) == 0, "base: %s", e.msg);
    gguf_close(g);
    const size_t *f = (const size_t *)&o;
    enum { VER, NT, NKV, ATYPE, AVAL, ARRT, ARRET, ARRN, STRK, T0ND, T0NE0, T0NE1, T0T, T1NAME, T1NE0, T1OFF };
    const patch_case cases[] = {
        {"bad magic", -1, 0, 1, 'X', "not a GGUF file", NULL},
        {"version 1", VER, 0, 4, 1, "version 1 is not supported", NULL},
        {"big-endian", VER, 0, 4, 0x03000000, "big-endian", NULL},
        {"version 4", VER, 0, 4, 4, "version 4 is not supported", NULL},
        {"huge n_kv", NKV, 0, 8, (uint64_t)1 << 60, "metadata count 1152921504606846976", NULL},
        {"huge n_tensors", NT, 0, 8, (uint64_t)1 << 60, "tensor count 1152921504606846976", NULL},
        {"key past EOF", STRK, -8, 8, (uint64_t)1 << 62, "metadata key #3", "runs past the end"},
        {"unknown value type", ARRT, 0, 4, 13, "'a.arr'", "unknown value type 13"},
        {"unknown element type", ARRET, 0, 4, 99, "'a.arr'", "unknown array element type 99"},
        {"huge array", ARRN, 0, 8, (uint64_t)1 << 61, "'a.arr'", "array of 2305843009213693952 uint32"},
        {"alignment 48", AVAL, 0, 4, 48, "general.alignment 48", "power of two"},
        {"alignment 0", AVAL, 0, 4, 0, "general.alignment 0", "power of two"},
        {"alignment float", ATYPE, 0, 4, GGUF_T_FLOAT32, "general.alignment", "float32"},
        {"duplicate key", STRK, 2, 3, 0x727261 /* "arr" */, "'a.arr' appears twice", NULL},
        {"duplicate tensor", T1NAME, 1, 1, '0', "tensor 't0' appears twice", NULL},
        {"NUL in a key", STRK, 1, 1, 0, "metadata key #3", "key holds a NUL byte"},
        {"NUL in a tensor name", T1NAME, 1, 1, 0, "tensor #1", "name holds a NUL byte"},
        {"n_dims 5", T0ND, 0, 4, 5, "'t0'", "n_dims 5"},
        {"n_dims 0", T0ND, 0, 4, 0, "'t0'", "n_dims 0"},
        {"ne overflow", T0NE1, 0, 8, (uint64_t)1 << 62, "'t0'", "ne[1] = 4611686018427387904"},
        {"ne negative", T0NE0, 0, 8, UINT64_MAX, "'t0'", "ne[0]"},
        {"type IQ2_XXS", T0T, 0, 4, 16, "'t0'", "type 16 (IQ2_XXS) is not supported"},
        {"type Q8_1", T0T, 0, 4, 9, "'t0'", "type 9 (Q8_1) is not supported"},
        {"Q5_K row of 32", T1NE0, 8, 4, GGML_Q5_K, "'t1'", "not a multiple of the Q5_K block size 256"},
        {"IQ4_XS row of 32", T1NE0, 8, 4, GGML_IQ4_XS, "'t1'", "not a multiple of the IQ4_XS block size 256"},
        {"type 1000", T0T, 0, 4, 1000, "'t0'", "type 1000"},
        {"row not whole blocks", T1NE0, 0, 8, 48, "'t1'", "not a multiple of the Q8_0 block size 32"},
        {"unaligned offset", T1OFF, 0, 8, 256 + 16, "'t1'", "not a multiple of the alignment 32"},
        {"offset past EOF", T1OFF, 0, 8, (uint64_t)1 << 40, "'t1'", "outside"},
        {"tensor too long", T0NE0, 0, 8, 64, "'t0'", "outside"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        const patch_case *c = &cases[i];
        char *buf = malloc(b.len);
        memcpy(buf, b.s, b.len);
        put_le(buf + (c->field < 0 ? 0 : f[c->field]) + c->delta, c->value, c->width);
        expect_refused(c->what, buf, b.len, c->frag1, c->frag2);
        free(buf);
    }
    test_quantized_t1(&b, &o);
    expect_refused("truncated tensor info", b.s, o.t1_off + 3, "'t1'", "data offset truncated");
    expect_refused("tensor infos cannot fit", b.s, o.t1_ne0 + 3, "tensor count 2", "after the metadata");
    expect_refused("no data section", b.s, o.end_infos, "data section", NULL);
    expect_refused("empty", b.s, 0, "not a GGUF file", NULL);
    expect_refused("header only", b.s, 10, "header", "truncated");
    sb_free(&b);
}

/* Nested arrays: depth 8 is accepted, depth 9 refused (bounded recursion). */
static void test_nesting_limit(void) {
    for (int depth = 8; depth <= 9; depth++) {
        sb b;
        sb_init(&b);
        w_header(&b, 3, 0, 1);
        w_key(&b, "deep", GGUF_T_ARRAY);
        for (int d = 1; d < depth; d++) w_le(&b, GGUF_T_ARRAY, 4), w_le(&b, 1, 8);
        w_le(&b, GGUF_T_UINT8, 4), w_le(&b, 0, 8);
        gguf_ctx *g = NULL;
        cj_err e = {{0}};
        int rc = gguf_open_mem(b.s, b.len, "mem.gguf", &g, &e);
        if (depth == 8) CHECKF(rc == 0, "%s", e.msg);
        else CHECK(rc == -1 && strstr(e.msg, "'deep'") && strstr(e.msg, "nested deeper than 8"));
        gguf_close(g);
        sb_free(&b);
    }
}

/* ---- robustness: truncations and byte flips never crash ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

/* Parses buf[0..n), which must be a heap block of exactly n bytes so that
 * ASan sees any overread; on success reads every value and touches every
 * tensor's first and last byte. */
static int parse_one(const char *buf, size_t n, int *bad_msgs) {
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    int rc = gguf_open_mem(buf, n, "fuzz.gguf", &g, &e);
    if (rc == 0) {
        int failures = 0;
        read_all_metadata(g, &failures);
        unsigned sum = 0;
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            const gguf_tensor *t = gguf_tensor_at(g, i);
            if (t->nbytes) sum += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->nbytes - 1];
        }
        (void)sum;
        gguf_close(g);
    } else if (rc != -1 || !strstr(e.msg, "fuzz.gguf")) {
        (*bad_msgs)++;
    }
    return rc;
}

static int load_one(const char *buf, size_t n, int *bad_msgs) {
    char *path = write_temp(buf, n);
    if (!path) return 0;
    model *m = NULL;
    cj_err e = {{0}};
    int rc = model_load(path, NULL, &m, &e);
    if (rc != 0 && (rc != -1 || m != NULL || !e.msg[0])) (*bad_msgs)++;
    model_free(m);
    unlink(path);
    free(path);
    return rc;
}

static void fuzz_file(const char *path, int n_flips, int n_model_cases) {
    cj_map map;
    cj_err e = {{0}};
    CHECKF(cj_map_open(path, &map, &e) == 0, "%s", e.msg);
    if (!map.data) return;
    char *buf = malloc(map.size);
    memcpy(buf, map.data, map.size);
    size_t n = map.size;
    cj_map_close(&map);
    gguf_ctx *g = NULL;
    size_t header = n; /* bytes before the first tensor's data */
    if (gguf_open_mem(buf, n, path, &g, &e) == 0 && gguf_n_tensors(g) > 0)
        header = (size_t)((const char *)gguf_tensor_at(g, 0)->data - buf);
    gguf_close(g);
    int bad = 0, refused = 0, cases = 0;
    size_t every = header < 20000 ? header : 4096, stride = n / 200 + 1;
    for (size_t cut = 0; cut < n; cut += cut < every ? 1 : stride, cases++) {
        char *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, buf, cut);
        refused += parse_one(prefix, cut, &bad) != 0;
        free(prefix);
    }
    for (int i = 0; i < n_flips; i++, cases++) {
        size_t pos[3];
        unsigned char old[3];
        int k = 1 + (int)(rng() % 3);
        for (int j = 0; j < k; j++) {
            pos[j] = (size_t)(rng() % 4 ? rng() % header : rng() % n);
            old[j] = (unsigned char)buf[pos[j]];
            buf[pos[j]] = (char)(rng() % 2 ? old[j] ^ (1u << (rng() % 8)) : (unsigned char)rng());
        }
        int rc = parse_one(buf, n, &bad);
        refused += rc != 0;
        if (i < n_model_cases) load_one(buf, n, &bad);
        for (int j = k - 1; j >= 0; j--) buf[pos[j]] = (char)old[j];
    }
    for (int i = 0; i < n_model_cases / 4; i++) load_one(buf, (size_t)(rng() % n), &bad);
    CHECKF(bad == 0, "%s: %d cases failed without a proper message", path, bad);
    CHECKF(refused > cases / 4, "%s: only %d of %d damaged files were refused", path, refused, cases);
    free(buf);
}

static void test_robustness(void) {
    char *p = golden_path("stories260K.gguf");
    fuzz_file(p, 3000, 60);
    free(p);
    fuzz_file("tests/golden/quant/stories260K-q5_1.gguf", 500, 10); /* Q5_1 blocks, F16 ffn_down */
    p = vocab_path("ggml-vocab-llama-spm.gguf");
    fuzz_file(p, 500, 10);
    free(p);
}

int main(void) {
    RUN(test_malformed_fields);
    RUN(test_nesting_limit);
    RUN(test_robustness);
    return check_summary_();
}
