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

#define QK 32   /* elements per Q4_0 / Q8_0 block */
#define QK_K 256 /* elements per K-quant super-block */

/* Byte sizes of one block, as the packed ggml structs lay them out. */
enum {
    Q4_0_BYTES = 2 + QK / 2,                      /* f16 d; u8 qs[16] (two nibbles each) */
    Q8_0_BYTES = 2 + QK,                          /* f16 d; i8 qs[32] */
    Q4_K_BYTES = 2 + 2 + 12 + QK_K / 2,           /* f16 d, dmin; u8 scales[12]; u8 qs[128] */
    Q6_K_BYTES = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2 /* u8 ql[128], qh[64]; i8 scales[16]; f16 d */
};

int quant_block_elems(ggml_type t) {
    switch (t) {
    case GGML_F32:
    case GGML_F16:
    case GGML_BF16: return 1;
    case GGML_Q4_0:
    case GGML_Q8_0: return QK;
    case GGML_Q4_K:
    case GGML_Q6_K: return QK_K;
    }
    return 0;
}

size_t quant_block_bytes(ggml_type t) {
    switch (t) {
    case GGML_F32: return 4;
    case GGML_F16:
    case GGML_BF16: return 2;
    case GGML_Q4_0: return Q4_0_BYTES;
    case GGML_Q8_0: return Q8_0_BYTES;
    case GGML_Q4_K: return Q4_K_BYTES;
    case GGML_Q6_K: return Q6_K_BYTES;
    }
    return 0;
}

const char *quant_type_name(ggml_type t) {
    switch (t) {
    case GGML_F32: return "F32";
    case GGML_F16: return "F16";
    case GGML_BF16: return "BF16";
    case GGML_Q4_0: return "Q4_0";
    case GGML_Q8_0: return "Q8_0";
    case GGML_Q4_K: return "Q4_K";
    case GGML_Q6_K: return "Q6_K";
    }
    return "?";
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

/* Four groups of 64: the low nibbles of 32 bytes give the first 32 values
 * (sub-block 2g), the high nibbles the next 32 (sub-block 2g+1);
 * y = d*scale*q - dmin*min. */
static void deq_q4_k(const uint8_t *b, float *y) {
    const float d = quant_f16_to_f32(rd16(b));
    const float dmin = quant_f16_to_f32(rd16(b + 2));
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int g = 0; g < 4; g++) {
        uint8_t sc, m;
        q4k_scale_min(2 * g, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        q4k_scale_min(2 * g + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            float p = d1 * (float)(q[l] & 0x0f);
            *y++ = p - m1;
        }
        for (int l = 0; l < 32; l++) {
            float p = d2 * (float)(q[l] >> 4);
            *y++ = p - m2;
        }
        q += 32;
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
    case GGML_Q4_K:
        for (uint64_t i = 0; i < n / QK_K; i++) deq_q4_k(s + i * Q4_K_BYTES, dst + i * QK_K);
        return;
    case GGML_Q6_K:
        for (uint64_t i = 0; i < n / QK_K; i++) deq_q6_k(s + i * Q6_K_BYTES, dst + i * QK_K);
        return;
    }
}
