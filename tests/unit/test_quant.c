/* Unit tests for quant: fp16/bf16 conversions on edge values, hand-built
 * blocks of every quantized type (expected values worked out by hand in the
 * comments), and the real quantized goldens checked against their F16
 * source (Q8_0 and Q4_0 re-quantized bit for bit; K-quants by error size). */
#include "../../runners/transformer/formats/quant.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../common/fileio.h"
#include "../../runners/transformer/formats/gguf.h"
#include "../check.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_block_sizes(void) {
    CHECK(quant_block_elems(GGML_F32) == 1 && quant_block_bytes(GGML_F32) == 4);
    CHECK(quant_block_elems(GGML_F16) == 1 && quant_block_bytes(GGML_F16) == 2);
    CHECK(quant_block_elems(GGML_BF16) == 1 && quant_block_bytes(GGML_BF16) == 2);
    CHECK(quant_block_elems(GGML_Q8_0) == 32 && quant_block_bytes(GGML_Q8_0) == 34);
    CHECK(quant_block_elems(GGML_Q4_0) == 32 && quant_block_bytes(GGML_Q4_0) == 18);
    CHECK(quant_block_elems(GGML_Q4_K) == 256 && quant_block_bytes(GGML_Q4_K) == 144);
    CHECK(quant_block_elems(GGML_Q6_K) == 256 && quant_block_bytes(GGML_Q6_K) == 210);
    CHECK(quant_block_elems((ggml_type)16) == 0 && quant_block_bytes((ggml_type)16) == 0);
    CHECK_STR(quant_type_name(GGML_Q4_K), "Q4_K");
    CHECK_STR(quant_type_name(GGML_BF16), "BF16");
    CHECK_STR(quant_type_name((ggml_type)16), "?");
    size_t n = 0;
    CHECK(quant_nbytes(GGML_Q6_K, 512, &n) == 0 && n == 420);
    CHECK(quant_nbytes(GGML_F16, 7, &n) == 0 && n == 14);
    CHECK(quant_nbytes(GGML_Q4_0, 48, &n) == -1);              /* not a multiple of 32 */
    CHECK(quant_nbytes((ggml_type)16, 256, &n) == -1);         /* unsupported */
    CHECK(quant_nbytes(GGML_F32, UINT64_MAX / 2, &n) == -1);   /* overflows size_t */
    CHECK(quant_nbytes(GGML_Q8_0, UINT64_MAX - 31, &n) == -1); /* (2^59 blocks) * 34 overflows */
}

static void test_f16_to_f32_edges(void) {
    CHECK(bits(quant_f16_to_f32(0x0000)) == 0x00000000u);
    CHECK(bits(quant_f16_to_f32(0x8000)) == 0x80000000u); /* -0 keeps its sign */
    CHECK(quant_f16_to_f32(0x0001) == 0x1p-24f);           /* smallest subnormal */
    CHECK(quant_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);    /* largest subnormal */
    CHECK(quant_f16_to_f32(0x8001) == -0x1p-24f);
    CHECK(quant_f16_to_f32(0x0400) == 0x1p-14f);           /* smallest normal */
    CHECK(quant_f16_to_f32(0x3c00) == 1.0f);
    CHECK(quant_f16_to_f32(0xc000) == -2.0f);
    CHECK(quant_f16_to_f32(0x3555) == 0x1.554p-2f); /* 0.25 * (1 + 341/1024) */
    CHECK(quant_f16_to_f32(0x7bff) == 65504.0f);    /* largest finite */
    CHECK(isinf(quant_f16_to_f32(0x7c00)) && quant_f16_to_f32(0x7c00) > 0);
    CHECK(isinf(quant_f16_to_f32(0xfc00)) && quant_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(quant_f16_to_f32(0x7e00)));
    CHECK(isnan(quant_f16_to_f32(0x7c01))); /* signalling payload still NaN */
    CHECK(isnan(quant_f16_to_f32(0xfe00)) && signbit(quant_f16_to_f32(0xfe00)));
}

static void test_f32_to_f16_edges(void) {
    CHECK(quant_f32_to_f16(0.0f) == 0x0000);
    CHECK(quant_f32_to_f16(-0.0f) == 0x8000);
    CHECK(quant_f32_to_f16(1.0f) == 0x3c00);
    CHECK(quant_f32_to_f16(-2.0f) == 0xc000);
    CHECK(quant_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(quant_f32_to_f16(65519.99f) == 0x7bff); /* below the midpoint to 65536 */
    CHECK(quant_f32_to_f16(65520.0f) == 0x7c00);  /* the midpoint: ties to even = inf */
    CHECK(quant_f32_to_f16(1e30f) == 0x7c00);
    CHECK(quant_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(quant_f32_to_f16(NAN) == 0x7e00);
    CHECK(quant_f32_to_f16(-NAN) == 0xfe00);
    CHECK(quant_f32_to_f16(0x1p-14f) == 0x0400);
    CHECK(quant_f32_to_f16(0x1p-24f) == 0x0001);
    CHECK(quant_f32_to_f16(0x1p-25f) == 0x0000);              /* half the smallest subnormal: tie to 0 */
    CHECK(quant_f32_to_f16(0x1.000002p-25f) == 0x0001);       /* just above the tie */
    CHECK(quant_f32_to_f16(1e-8f) == 0x0000);
    CHECK(quant_f32_to_f16(1.5f * 0x1p-24f) == 0x0002);       /* tie between 1 and 2 ulps: even */
    CHECK(quant_f32_to_f16(2.5f * 0x1p-24f) == 0x0002);       /* tie between 2 and 3: even */
    CHECK(quant_f32_to_f16(1023.5f * 0x1p-24f) == 0x0400);    /* rounds up into the normals */
    CHECK(quant_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);       /* tie: to even */
    CHECK(quant_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);   /* tie: to even (up) */
    CHECK(quant_f32_to_f16(1.0f + 0x1.002p-11f) == 0x3c01);    /* past the tie */
}

/* Every finite f16 survives f16 -> f32 -> f16, and for random floats the
 * result is the nearest f16 (ties to even), checked against both
 * neighbours in double precision. */
static void test_f16_roundtrip_and_nearest(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        if (isnan(f)) bad += !isnan(quant_f16_to_f32(quant_f32_to_f16(f)));
        else bad += quant_f32_to_f16(f) != h;
    }
    CHECKF(bad == 0, "%d f16 values do not round-trip", bad);
    uint64_t s = 0x9e3779b97f4a7c15u;
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)s & 0x7fffffffu;
        u = (u % (0x477fe000u - 0x30000000u)) + 0x30000000u; /* 2^-31 .. 65504 */
        float x;
        memcpy(&x, &u, 4);
        uint16_t h = quant_f32_to_f16(x);
        double v = quant_f16_to_f32(h), err = fabs(v - x);
        double lo = h > 0 ? fabs(quant_f16_to_f32((uint16_t)(h - 1)) - (double)x) : INFINITY;
        double hi = h < 0x7bff ? fabs(quant_f16_to_f32((uint16_t)(h + 1)) - (double)x) : INFINITY;
        if (err > lo || err > hi || ((err == lo || err == hi) && (h & 1))) bad++;
    }
    CHECKF(bad == 0, "%d of 200000 random floats not rounded to the nearest-even f16", bad);
}

static void test_bf16(void) {
    CHECK(quant_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(quant_bf16_to_f32(0xc040) == -3.0f);
    CHECK(quant_bf16_to_f32(0x3e20) == 0.15625f);
    CHECK(quant_bf16_to_f32(0x0001) == 0x1p-133f); /* smallest subnormal */
    CHECK(bits(quant_bf16_to_f32(0x8000)) == 0x80000000u);
    CHECK(isinf(quant_bf16_to_f32(0x7f80)));
    CHECK(isnan(quant_bf16_to_f32(0x7fc1)));
    uint8_t raw[4] = {0x80, 0x3f, 0x40, 0xc0}; /* little-endian 0x3f80, 0xc040 */
    float y[2];
    quant_dequantize(GGML_BF16, raw, y, 2);
    CHECK(y[0] == 1.0f && y[1] == -3.0f);
    uint8_t h[4] = {0x00, 0x3c, 0x01, 0x00}; /* 1.0, 2^-24 */
    quant_dequantize(GGML_F16, h, y, 2);
    CHECK(y[0] == 1.0f && y[1] == 0x1p-24f);
}

/* Q8_0: d = 0.5 (f16 0x3800); y = q * d. */
static void test_q8_0_block(void) {
    uint8_t b[2 * 34] = {0};
    b[0] = 0x00, b[1] = 0x38;
    int8_t q[5] = {-128, -1, 0, 1, 127};
    memcpy(b + 2, q, 5);
    b[34] = 0x00, b[35] = 0x40; /* second block: d = 2 */
    b[36] = 3;
    float y[64];
    quant_dequantize(GGML_Q8_0, b, y, 64);
    CHECK(y[0] == -64.0f && y[1] == -0.5f && y[2] == 0.0f && y[3] == 0.5f && y[4] == 63.5f && y[31] == 0.0f);
    CHECK(y[32] == 6.0f && y[33] == 0.0f);
}

/* Q4_0: d = 2 (f16 0x4000); byte j holds element j in its low nibble and
 * element j+16 in its high nibble, both biased by 8: y = (q - 8) * d.
 * qs[0] = 0x0f: y[0] = (15-8)*2 = 14, y[16] = (0-8)*2 = -16.
 * qs[1] = 0x88: y[1] = y[17] = 0. qs[2] = 0x7a: y[2] = (10-8)*2 = 4, y[18] = -2. */
static void test_q4_0_block(void) {
    uint8_t b[18];
    memset(b, 0x88, sizeof b);
    b[0] = 0x00, b[1] = 0x40;
    b[2] = 0x0f, b[4] = 0x7a;
    float y[32];
    quant_dequantize(GGML_Q4_0, b, y, 32);
    CHECK(y[0] == 14.0f && y[16] == -16.0f);
    CHECK(y[1] == 0.0f && y[17] == 0.0f);
    CHECK(y[2] == 4.0f && y[18] == -2.0f);
    CHECK(y[15] == 0.0f && y[31] == 0.0f);
}

/* Q4_K: d = 1 (0x3c00), dmin = 0.5 (0x3800). Six-bit scale/min pairs:
 *   sub-block 0: sc = s[0] & 63 = 0x41 & 63 = 1, m = s[4] & 63 = 0x82 & 63 = 2;
 *   sub-block 4: sc = (s[8] & 15) | (s[0] >> 6) << 4 = 3 | 16 = 19,
 *                m  = (s[8] >> 4) | (s[4] >> 6) << 4 = 5 | 32 = 37;
 *   all other scales and mins are 0.
 * Sub-block 0 is the low nibbles of qs[0..31], sub-block 1 their high
 * nibbles; sub-block 4 is the low nibbles of qs[64..95] (elements 128..159).
 * y = d*sc*q - dmin*m:
 *   qs[0] = 0x7f: y[0] = 15 - 1 = 14; y[32] = 0*7 - 0 = 0.  qs[1] = 0: y[1] = -1.
 *   qs[64] = 0x0a: y[128] = 19*10 - 18.5 = 171.5.  qs[65] = 0: y[129] = -18.5.
 *   y[160] (sub-block 5, high nibble of qs[64]) = 0. */
static void test_q4_k_block(void) {
    uint8_t b[144] = {0};
    b[0] = 0x00, b[1] = 0x3c, b[2] = 0x00, b[3] = 0x38;
    uint8_t *s = b + 4, *qs = b + 16;
    s[0] = 0x41, s[4] = 0x82, s[8] = 0x53;
    qs[0] = 0x7f, qs[64] = 0x0a;
    float y[256];
    quant_dequantize(GGML_Q4_K, b, y, 256);
    CHECK(y[0] == 14.0f && y[1] == -1.0f && y[31] == -1.0f);
    CHECK(y[32] == 0.0f && y[63] == 0.0f);
    CHECK(y[128] == 171.5f && y[129] == -18.5f && y[159] == -18.5f);
    CHECK(y[160] == 0.0f && y[255] == 0.0f);
}

/* Q6_K: d = 0.25 (0x3400) at byte 208; int8 scales at 192..207:
 *   sc[0] = 2, sc[1] = 5, sc[2] = -3, sc[4] = 4, sc[6] = 1, sc[8] = 7, others 0.
 * Element l + 32k of a 128-half takes its low nibble from ql[l] (k = 0 low,
 * k = 2 high) or ql[l+32] (k = 1 low, k = 3 high), bits 2k..2k+1 of qh[l] as
 * bits 4..5, minus 32; scale index l/16 + 2k (+8 in the second half).
 *   ql[0] = 0x21, ql[32] = 0x43, qh[0] = 0xe4 (2-bit fields 0, 1, 2, 3):
 *     y[0]  = 0.25*2*((1|0<<4)-32)  = 0.5*-31  = -15.5
 *     y[32] = 0.25*-3*((3|1<<4)-32) = -0.75*-13 = 9.75
 *     y[64] = 0.25*4*((2|2<<4)-32)  = 1*2      = 2
 *     y[96] = 0.25*1*((4|3<<4)-32)  = 0.25*20  = 5
 *   zero bits give q = -32: y[1] = 0.5*-32 = -16, y[16] = 1.25*-32 = -40,
 *     y[33] = -0.75*-32 = 24, y[48] = 0 (sc[3] = 0).
 *   second half: ql[64] = 0x0f, qh[32] = 0x03: y[128] = 0.25*7*(63-32) = 54.25,
 *     y[129] = 1.75*-32 = -56, y[192] = 0 (sc[12] = 0). */
static void test_q6_k_block(void) {
    uint8_t b[210] = {0};
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    b[208] = 0x00, b[209] = 0x34;
    sc[0] = 2, sc[1] = 5, sc[2] = -3, sc[4] = 4, sc[6] = 1, sc[8] = 7;
    ql[0] = 0x21, ql[32] = 0x43, qh[0] = 0xe4;
    ql[64] = 0x0f, qh[32] = 0x03;
    float y[256];
    quant_dequantize(GGML_Q6_K, b, y, 256);
    CHECK(y[0] == -15.5f && y[32] == 9.75f && y[64] == 2.0f && y[96] == 5.0f);
    CHECK(y[1] == -16.0f && y[16] == -40.0f && y[33] == 24.0f && y[48] == 0.0f);
    CHECK(y[128] == 54.25f && y[129] == -56.0f && y[192] == 0.0f && y[255] == 0.0f);
}

/* ---- the real quantized goldens against their F16 source ---- */

static gguf_ctx *open_golden(const char *name) {
    char *dir = cj_golden_dir(), *sub = cj_path_join(dir, "llamacpp"), *path = cj_path_join(sub, name);
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    if (gguf_open(path, &g, &e) != 0) printf("  %s\n", e.msg);
    free(dir), free(sub), free(path);
    return g;
}

static float *dequant(const gguf_tensor *t) {
    float *y = malloc(t->n_elements * sizeof *y);
    quant_dequantize(t->type, t->data, y, t->n_elements);
    return y;
}

/* llama-quantize made these files from the F16 one with ggml's reference
 * quantizers: Q8_0 d = amax/127, q = roundf(x/d); Q4_0 d = max/-8 (max:
 * the signed value of largest magnitude), q = min(15, (int8)(x/d + 8.5)).
 * Re-quantizing the F16 weights must give the stored blocks byte for byte,
 * which checks the block layout and f32 -> f16 rounding on real data. */
static int requantize_block(ggml_type t, const float *x, uint8_t *out) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    if (t == GGML_Q8_0) {
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        uint16_t h = quant_f32_to_f16(d);
        out[0] = (uint8_t)h, out[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
        return 34;
    }
    const float d = max / -8, id = d ? 1.0f / d : 0.0f;
    uint16_t h = quant_f32_to_f16(d);
    out[0] = (uint8_t)h, out[1] = (uint8_t)(h >> 8);
    for (int j = 0; j < 16; j++) {
        /* separate statements: a fused multiply-add would round differently */
        float slo = x[j] * id, shi = x[j + 16] * id;
        int lo = (int8_t)(slo + 8.5f), hi = (int8_t)(shi + 8.5f);
        out[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
    }
    return 18;
}

static void test_requantize_matches_golden(void) {
    gguf_ctx *f16 = open_golden("tiny-llama-f16.gguf");
    const char *files[2] = {"tiny-llama-q8_0.gguf", "tiny-llama-q4_0.gguf"};
    ggml_type types[2] = {GGML_Q8_0, GGML_Q4_0};
    CHECK(f16 != NULL);
    for (int f = 0; f < 2 && f16; f++) {
        gguf_ctx *q = open_golden(files[f]);
        CHECK(q != NULL);
        int n_checked = 0;
        uint64_t bad = 0;
        for (int64_t i = 0; q && i < gguf_n_tensors(q); i++) {
            const gguf_tensor *t = gguf_tensor_at(q, i), *src = gguf_find_tensor(f16, t->name);
            if (t->type != types[f]) continue;
            CHECK(src && src->type == GGML_F16 && src->n_elements == t->n_elements);
            if (!src) continue;
            float *x = dequant(src);
            const uint8_t *stored = t->data;
            uint8_t blk[34];
            for (uint64_t b = 0; b < t->n_elements / 32; b++) {
                int nb = requantize_block(t->type, x + 32 * b, blk);
                bad += memcmp(blk, stored + b * (uint64_t)nb, (size_t)nb) != 0;
            }
            free(x);
            n_checked++;
        }
        CHECKF(n_checked >= 14 && bad == 0, "%s: %d tensors, %llu blocks differ", files[f], n_checked,
               (unsigned long long)bad);
        gguf_close(q);
    }
    gguf_close(f16);
}

/* K-quants use an iterative fit that we do not re-implement; a layout error
 * would give errors as large as the weights, while a correct dequantization
 * stays within the quantization noise: relative RMS error well under 10%. */
static void test_k_quants_close_to_f16(void) {
    gguf_ctx *f16 = open_golden("tiny-llama-f16.gguf");
    const char *files[3] = {"tiny-llama-q4_k_m.gguf", "tiny-llama-q6_k.gguf", "tiny-llama-q4_0.gguf"};
    CHECK(f16 != NULL);
    int seen[2] = {0, 0};
    for (int f = 0; f < 3 && f16; f++) {
        gguf_ctx *q = open_golden(files[f]);
        CHECK(q != NULL);
        for (int64_t i = 0; q && i < gguf_n_tensors(q); i++) {
            const gguf_tensor *t = gguf_tensor_at(q, i), *src = gguf_find_tensor(f16, t->name);
            if (t->type != GGML_Q4_K && t->type != GGML_Q6_K) continue;
            seen[t->type == GGML_Q6_K]++;
            float *x = dequant(src), *y = dequant(t);
            double num = 0, den = 0;
            for (uint64_t k = 0; k < t->n_elements; k++) num += (x[k] - y[k]) * (double)(x[k] - y[k]), den += x[k] * (double)x[k];
            double rel = sqrt(num / den), lim = t->type == GGML_Q6_K ? 0.02 : 0.10;
            CHECKF(rel < lim, "%s %s (%s): relative RMS error %.4f", files[f], t->name, quant_type_name(t->type), rel);
            free(x), free(y);
        }
        gguf_close(q);
    }
    CHECKF(seen[0] == 12 && seen[1] == 15 + 3 + 1, "Q4_K tensors %d, Q6_K tensors %d", seen[0], seen[1]);
    gguf_close(f16);
}

int main(void) {
    RUN(test_block_sizes);
    RUN(test_f16_to_f32_edges);
    RUN(test_f32_to_f16_edges);
    RUN(test_f16_roundtrip_and_nearest);
    RUN(test_bf16);
    RUN(test_q8_0_block);
    RUN(test_q4_0_block);
    RUN(test_q4_k_block);
    RUN(test_q6_k_block);
    RUN(test_requantize_matches_golden);
    RUN(test_k_quants_close_to_f16);
    return check_summary_();
}
