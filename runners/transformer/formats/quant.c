/* quant — ggml block layouts and their dequantization.
 *
 * Each dequantizer evaluates the same float expressions, in the same order,
 * as ggml's reference dequantize_row_* (ggml-quants.c), so results are
 * bit-identical. Products are kept in separate statements because a fused
 * multiply-add (clang contracts a*b-c within one expression by default)
 * rounds once instead of twice and would change the last bit. */
#include "quant.h"

#include <string.h>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define QK 32    /* elements per block of the 32-element types */
#define QK_K 256 /* elements per K-quant (and IQ4_XS) super-block */

/* Byte sizes of one block, as the packed ggml structs lay them out. */
enum {
    Q4_0_BYTES = 2 + QK / 2,              /* f16 d; u8 qs[16] (two nibbles each) */
    Q4_1_BYTES = 2 + 2 + QK / 2,          /* f16 d, m; u8 qs[16] */
    Q5_0_BYTES = 2 + 4 + QK / 2,          /* f16 d; u8 qh[4] (fifth bits); u8 qs[16] */
    Q5_1_BYTES = 2 + 2 + 4 + QK / 2,      /* f16 d, m; u8 qh[4]; u8 qs[16] */
    Q8_0_BYTES = 2 + QK,                  /* f16 d; i8 qs[32] */
    IQ4_NL_BYTES = 2 + QK / 2,            /* f16 d; u8 qs[16] (indices into kvalues_iq4nl) */
    Q2_K_BYTES = QK_K / 16 + QK_K / 4 + 2 + 2, /* u8 scales[16]; u8 qs[64]; f16 d, dmin */
    Q3_K_BYTES = QK_K / 8 + QK_K / 4 + 12 + 2, /* u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d */
    Q4_K_BYTES = 2 + 2 + 12 + QK_K / 2,   /* f16 d, dmin; u8 scales[12]; u8 qs[128] */
    Q5_K_BYTES = 2 + 2 + 12 + QK_K / 8 + QK_K / 2, /* f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] */
    Q6_K_BYTES = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, /* u8 ql[128], qh[64]; i8 scales[16]; f16 d */
    IQ4_XS_BYTES = 2 + 2 + QK_K / 64 + QK_K / 2 /* f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] */
};

typedef struct {
    ggml_type type;
    const char *name;
    int elems;
    size_t bytes;
} type_info;

static const type_info TYPES[] = {
    {GGML_F32, "F32", 1, 4}, {GGML_F16, "F16", 1, 2}, {GGML_BF16, "BF16", 1, 2},
    {GGML_Q4_0, "Q4_0", QK, Q4_0_BYTES}, {GGML_Q4_1, "Q4_1", QK, Q4_1_BYTES}, {GGML_Q5_0, "Q5_0", QK, Q5_0_BYTES},
    {GGML_Q5_1, "Q5_1", QK, Q5_1_BYTES}, {GGML_Q8_0, "Q8_0", QK, Q8_0_BYTES}, {GGML_IQ4_NL, "IQ4_NL", QK, IQ4_NL_BYTES},
    {GGML_Q2_K, "Q2_K", QK_K, Q2_K_BYTES}, {GGML_Q3_K, "Q3_K", QK_K, Q3_K_BYTES}, {GGML_Q4_K, "Q4_K", QK_K, Q4_K_BYTES},
    {GGML_Q5_K, "Q5_K", QK_K, Q5_K_BYTES}, {GGML_Q6_K, "Q6_K", QK_K, Q6_K_BYTES}, {GGML_IQ4_XS, "IQ4_XS", QK_K, IQ4_XS_BYTES},
};

static const type_info *info(ggml_type t) {
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
        if (TYPES[i].type == t) return &TYPES[i];
    return NULL;
}

int quant_block_elems(ggml_type t) {
    const type_info *i = info(t);
    return i ? i->elems : 0;
}

size_t quant_block_bytes(ggml_type t) {
    const type_info *i = info(t);
    return i ? i->bytes : 0;
}

const char *quant_type_name(ggml_type t) {
    const type_info *i = info(t);
    return i ? i->name : "?";
}

int quant_nbytes(ggml_type t, uint64_t n, size_t *out) {
    int be = quant_block_elems(t);
    size_t bb = quant_block_bytes(t);
    if (be == 0 || n % (uint64_t)be != 0) return -1;
    uint64_t blocks = n / (uint64_t)be;
    if (blocks > SIZE_MAX / bb) return -1;
    *out = (size_t)blocks * bb;
    return 0;
}

/* ---- scalar conversions ---- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float quant_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* inf, or NaN with its payload kept (quieted) */
        return bits_f32(sign | 0x7f800000u | (man ? 0x00400000u | (man << 13) : 0));
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Round to nearest, ties to even, like F16C's vcvtps2ph and ggml's
 * portable fp32_to_fp16; NaN becomes the quiet NaN 0x7e00 with its sign. */
uint16_t quant_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;
    if (a >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                      /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return sign;       /* <= 2^-25 rounds to 0 (tie to even) */
        uint32_t man = (a & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(a >> 23); /* 14..24: value = man * 2^(e-150) */
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfff + ((a >> 13) & 1); /* ties to even on the 13 dropped bits */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float quant_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* ---- block dequantizers ---- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void deq_q4_0(const uint8_t *b, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const uint8_t *qs = b + 2;
#ifdef __AVX2__
    __m256 dv = _mm256_set1_ps(d);
    __m256i eight = _mm256_set1_epi32(8), lo = _mm256_set1_epi32(0x0f);
    for (int j = 0; j < QK / 2; j += 8) {
        __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(qs + j)));
        __m256i ql = _mm256_sub_epi32(_mm256_and_si256(q, lo), eight);
        __m256i qh = _mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight);
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(ql), dv));
        _mm256_storeu_ps(y + j + QK / 2, _mm256_mul_ps(_mm256_cvtepi32_ps(qh), dv));
    }
    return;
#endif
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + QK / 2] = (float)((qs[j] >> 4) - 8) * d;
    }
}

/* The vector paths below compute the same single float product per value
 * as the scalar loops, so they change no bit. */
static void deq_q8_0(const uint8_t *b, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const int8_t *qs = (const int8_t *)(b + 2);
#ifdef __AVX2__
    __m256 dv = _mm256_set1_ps(d);
    for (int j = 0; j < QK; j += 8) {
        __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(qs + j)));
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), dv));
    }
#else
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
#endif
}

/* Q4_K packs 8 six-bit scales and 8 six-bit mins into 12 bytes: entries
 * 0..3 are the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); entries
 * 4..7 take their low 4 bits from a nibble of bytes 8..11 and their top 2
 * bits from the spare top bits of bytes 0..3 (scales) or 4..7 (mins). */
static void q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q4_K and Q5_K: four groups of 64; the low nibbles of 32 bytes give the
 * first 32 values (sub-block 2g), the high nibbles the next 32 (sub-block
 * 2g+1); Q5_K adds a fifth bit (16) from bit 2g (first 32) or 2g+1 (next
 * 32) of qh[l]; y = d*scale*q - dmin*min. */
static void deq_k_nibbles(const uint8_t *b, const uint8_t *qh, const uint8_t *q, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const float dmin = quant_f16_to_f32(rd16(b + 2));
    const uint8_t *scales = b + 4;
    for (int g = 0; g < 4; g++) {
        uint8_t sc, m, u1 = (uint8_t)(1u << 2 * g), u2 = (uint8_t)(2u << 2 * g);
        q4k_scale_min(2 * g, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        q4k_scale_min(2 * g + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            float p = d1 * (float)((q[l] & 0x0f) + (qh[l] & u1 ? 16 : 0));
            *y++ = p - m1;
        }
        for (int l = 0; l < 32; l++) {
            float p = d2 * (float)((q[l] >> 4) + (qh[l] & u2 ? 16 : 0));
            *y++ = p - m2;
        }
        q += 32;
    }
}

static const uint8_t no_high_bits[QK_K / 8];

static void deq_q4_k(const uint8_t *b, float *y) { deq_k_nibbles(b, no_high_bits, b + 16, y); }
static void deq_q5_k(const uint8_t *b, float *y) { deq_k_nibbles(b, b + 16, b + 16 + QK_K / 8, y); }

void quant_q4_k_parts(const void *blk, float scale[8], float min[8], uint8_t q[QK_K]) {
    const uint8_t *b = blk, *qs = b + 16;
    const float d = quant_f16_to_f32(rd16(b)), dmin = quant_f16_to_f32(rd16(b + 2));
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        q4k_scale_min(j, b + 4, &sc, &m);
        scale[j] = d * (float)sc; /* the d1 / m1 of deq_k_nibbles */
        min[j] = dmin * (float)m;
    }
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            q[64 * g + l] = qs[32 * g + l] & 0x0f;
            q[64 * g + 32 + l] = qs[32 * g + l] >> 4;
        }
}

/* Two halves of 128. In each half, element l + 32k (l < 32, k < 4) has its
 * low 4 bits in ql[l] (k = 0, 2: low/high nibble) or ql[l+32] (k = 1, 3)
 * and its top 2 bits in bits 2k..2k+1 of qh[l]; q is biased by 32, and
 * sixteen int8 scales cover 16 elements each. y = d*scale*q. */
static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + QK_K / 2;
    const int8_t *sc = (const int8_t *)(b + QK_K / 2 + QK_K / 4);
    const float d = quant_f16_to_f32(rd16(b + QK_K / 2 + QK_K / 4 + QK_K / 16));
    for (int half = 0; half < 2; half++) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            float s1 = d * (float)sc[is + 0], s2 = d * (float)sc[is + 2];
            float s3 = d * (float)sc[is + 4], s4 = d * (float)sc[is + 6];
            y[l + 0] = s1 * (float)q1;
            y[l + 32] = s2 * (float)q2;
            y[l + 64] = s3 * (float)q3;
            y[l + 96] = s4 * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

void quant_q6_k_parts(const void *blk, float scale[QK_K / 16], int8_t q[QK_K]) {
    const uint8_t *b = blk;
    const int8_t *sc = (const int8_t *)(b + QK_K / 2 + QK_K / 4);
    const float d = quant_f16_to_f32(rd16(b + QK_K / 2 + QK_K / 4 + QK_K / 16));
    for (int i = 0; i < QK_K / 16; i++) scale[i] = d * (float)sc[i]; /* deq_q6_k's s1 .. s4 */
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b + 64 * half, *qh = b + QK_K / 2 + 32 * half;
        int8_t *y = q + 128 * half;
        for (int l = 0; l < 32; l++) {
            y[l] = (int8_t)(((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32);
            y[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
            y[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            y[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

/* Q5_0, Q4_1, Q5_1: byte j of qs holds element j (low nibble) and j+16
 * (high nibble); bit j and bit j+16 of the little-endian qh add 16 (Q5_*;
 * Q4_1 passes qh = 0). */
static uint32_t rd32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static int q5_lo(const uint8_t *qs, uint32_t qh, int j) { return (qs[j] & 0x0f) | (int)((qh >> j) << 4 & 0x10); }
static int q5_hi(const uint8_t *qs, uint32_t qh, int j) { return (qs[j] >> 4) | (int)(qh >> (j + 12) & 0x10); }

/* y = (q - 16) * d */
static void deq_q5_0(const uint8_t *b, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const uint32_t qh = rd32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)(q5_lo(qs, qh, j) - 16) * d;
        y[j + QK / 2] = (float)(q5_hi(qs, qh, j) - 16) * d;
    }
}

/* y = q * d + m, rounded after the product and after the sum as ggml does */
static void deq_min_blocks(float d, float m, uint32_t qh, const uint8_t *qs, float *y) {
    for (int j = 0; j < QK / 2; j++) {
        float lo = (float)q5_lo(qs, qh, j) * d, hi = (float)q5_hi(qs, qh, j) * d;
        y[j] = lo + m;
        y[j + QK / 2] = hi + m;
    }
}

static void deq_q4_1(const uint8_t *b, float *y) {
    deq_min_blocks(quant_f16_to_f32(rd16(b)), quant_f16_to_f32(rd16(b + 2)), 0, b + 4, y);
}

static void deq_q5_1(const uint8_t *b, float *y) {
    deq_min_blocks(quant_f16_to_f32(rd16(b)), quant_f16_to_f32(rd16(b + 2)), rd32(b + 4), b + 8, y);
}

/* Q2_K and Q3_K: two halves of 128, each 32 bytes of qs holding four 2-bit
 * fields per byte; field k (bits 2k..2k+1) of bytes l < 16 gives 16 values
 * (scale 8h + 2k), of bytes 16..31 the next 16 (scale 8h + 2k + 1). */

/* Q2_K: scales[i] = scale (low nibble) | min (high nibble);
 * y = d*scale*q - dmin*min. */
static void deq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *q = b + QK_K / 16;
    const float d = quant_f16_to_f32(rd16(b + QK_K / 16 + QK_K / 4));
    const float dmin = quant_f16_to_f32(rd16(b + QK_K / 16 + QK_K / 4 + 2));
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int part = 0; part < 2; part++, sc++) {
                const float dl = d * (float)(*sc & 0x0f), ml = dmin * (float)(*sc >> 4);
                for (int l = 16 * part; l < 16 * part + 16; l++) {
                    float p = dl * (float)((q[l] >> shift) & 3);
                    *y++ = p - ml;
                }
            }
}

/* Q3_K: sixteen 6-bit scales biased by 32, packed in 12 bytes: scale i's
 * low 4 bits are the low (i < 8) or high (i >= 8) nibble of byte i % 8, its
 * top 2 bits bits 2(i/4)..2(i/4)+1 of byte 8 + i % 4. Value l of field k in
 * half h loses 4 unless bit 4h + k of hmask[l] is set; y = d*(scale-32)*q. */
static int q3k_scale(const uint8_t *s, int i) {
    int lo = i < 8 ? s[i] & 0x0f : s[i - 8] >> 4;
    return (lo | ((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4) - 32;
}

static void deq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *q = b + QK_K / 8, *scales = b + QK_K / 8 + QK_K / 4;
    const float d = quant_f16_to_f32(rd16(scales + 12));
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1))
            for (int part = 0; part < 2; part++) {
                const float dl = d * (float)q3k_scale(scales, is++);
                for (int l = 16 * part; l < 16 * part + 16; l++)
                    *y++ = dl * (float)(((q[l] >> shift) & 3) - (hm[l] & m ? 0 : 4));
            }
}

/* IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table; 32
 * values from 16 bytes, element j in the low nibble of byte j, j+16 in its
 * high nibble; y = dl * kvalues[index]. */
static const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

static void deq_iq4_run(float dl, const uint8_t *qs, float *y) {
    for (int j = 0; j < 16; j++) {
        y[j] = dl * (float)kvalues_iq4nl[qs[j] & 0x0f];
        y[j + 16] = dl * (float)kvalues_iq4nl[qs[j] >> 4];
    }
}

static void deq_iq4_nl(const uint8_t *b, float *y) { deq_iq4_run(quant_f16_to_f32(rd16(b)), b + 2, y); }

/* IQ4_XS: eight sub-blocks of 32, each with a 6-bit scale biased by 32: low
 * 4 bits a nibble of scales_l[ib / 2], top 2 bits bits 2ib..2ib+1 of scales_h. */
static void deq_iq4_xs(const uint8_t *b, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const unsigned scales_h = rd16(b + 2);
    const uint8_t *scales_l = b + 4, *qs = b + 8;
    for (int ib = 0; ib < QK_K / 32; ib++) {
        int ls = ((scales_l[ib / 2] >> 4 * (ib % 2)) & 0x0f) | ((scales_h >> 2 * ib) & 3) << 4;
        deq_iq4_run(d * (float)(ls - 32), qs + 16 * ib, y + 32 * ib);
    }
}

/* Half types, 8 at a time where the CPU converts them (the forward pass
 * dequantizes every layer of every batch, so this runs per batch, not just
 * at load). Unaligned loads: safetensors data need not be aligned. The
 * results equal the scalar conversions: both are exact. */
static void deq_f16(const uint8_t *s, float *dst, uint64_t n) {
    uint64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i))));
#endif
    for (; i < n; i++) dst[i] = quant_f16_to_f32(rd16(s + 2 * i));
}

static void deq_bf16(const uint8_t *s, float *dst, uint64_t n) {
    uint64_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
#endif
    for (; i < n; i++) dst[i] = quant_bf16_to_f32(rd16(s + 2 * i));
}

typedef void (*block_fn)(const uint8_t *, float *);

static void each_block(block_fn deq, const uint8_t *s, float *dst, uint64_t n, int elems, size_t bytes) {
    for (uint64_t i = 0; i < n / (uint64_t)elems; i++) deq(s + i * bytes, dst + i * (uint64_t)elems);
}

static block_fn block_dequantizer(ggml_type t) {
    switch (t) {
    case GGML_Q4_1: return deq_q4_1;
    case GGML_Q5_0: return deq_q5_0;
    case GGML_Q5_1: return deq_q5_1;
    case GGML_IQ4_NL: return deq_iq4_nl;
    case GGML_Q2_K: return deq_q2_k;
    case GGML_Q3_K: return deq_q3_k;
    case GGML_Q4_K: return deq_q4_k;
    case GGML_Q5_K: return deq_q5_k;
    case GGML_Q6_K: return deq_q6_k;
    case GGML_IQ4_XS: return deq_iq4_xs;
    default: return NULL;
    }
}

/* Q4_0 and Q8_0 blocks take a few vector instructions each, so their loops
 * call them directly (inlined); the others go through a pointer. */
void quant_dequantize(ggml_type t, const void *src, float *dst, uint64_t n) {
    const uint8_t *s = src;
    switch (t) {
    case GGML_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case GGML_F16: deq_f16(s, dst, n); return;
    case GGML_BF16: deq_bf16(s, dst, n); return;
    case GGML_Q4_0:
        for (uint64_t i = 0; i < n / QK; i++) deq_q4_0(s + i * Q4_0_BYTES, dst + i * QK);
        return;
    case GGML_Q8_0:
        for (uint64_t i = 0; i < n / QK; i++) deq_q8_0(s + i * Q8_0_BYTES, dst + i * QK);
        return;
    default: break;
    }
    block_fn deq = block_dequantizer(t);
    if (deq) each_block(deq, s, dst, n, quant_block_elems(t), quant_block_bytes(t));
}
