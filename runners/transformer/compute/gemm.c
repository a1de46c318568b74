/* gemm — y = x W^T, each output element one ascending FMA chain (gemm.h).
 *
 * The blocking follows BLIS's: W is packed, a group of NB panels at a time,
 * each panel NR output rows by KC values of k stored k-major, so that the
 * micro-kernel reads it sequentially (F16 converted and other types
 * dequantized on the way in); the panels (NB x KC x NR floats) stay in
 * cache while every row block of x (MC rows of KC values, read in place)
 * goes through them, and one panel goes through all the MR-row tiles of the
 * block. An MR x NR tile of y lives in registers
 * for KC steps of k; between two k-blocks it goes through memory exactly
 * (a float stored and loaded is the same float), so the chain over k is one
 * chain whatever KC is. Threads take whole panels (or, when there are fewer
 * panels than threads, whole rows); each element is computed by one thread
 * from start to end. None of this changes an element's chain: blocking,
 * threads and the rows in the call only decide where and when it runs. */
#include "gemm.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "pool.h"
#include "wpack.h"
#include "../formats/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GEMM_SIMD 1
#else
#define GEMM_SIMD 0
#endif

#define NR 16  /* outputs per panel: two 8-lane vectors */
#define MR 6   /* rows per tile: 12 accumulators + 2 panel vectors + 1 broadcast of 16 registers */
/* Block sizes, measured on the SmolLM-135M shapes (bench/prefill, 2048 rows):
 * k-blocks of 1024 (a multiple of 256, so a block starts on a K-quant
 * super-block) beat 256 by about 15%: a tile of y goes through memory once
 * per k-block. */
#define KC 1024 /* k per block */
#define NB 8    /* panels packed at a time per thread: 512 KB */
#define MC 48   /* rows per block of x: 192 KB */
/* Products of at most this many rows take the few-rows path (see there). */
#define DIRECT_MAX_ROWS 4
#define DO 32   /* its outputs per block: 4 groups of 8 */
#define DKC 256 /* its k per block (multiple of 256): 32 dequantized rows of it stay in L1 */
/* Products smaller than this (n * in * out) run on one thread. */
#define PARALLEL_MIN (1 << 17)
/* The OpenBLAS path dequantizes at most this many floats of W at a time. */
#define WBUF_MAX ((size_t)16 << 20)

struct gemm {
    int threads;
    gemm_kernels kernels;
    int portable;
    float *pack[POOL_MAX]; /* per thread: NB * KC * NR floats */
    float *rows[POOL_MAX]; /* per thread: dequantized rows, NR * KC or DO * DKC floats */
    wpack *packs;          /* W in groups of 8 outputs, own SIMD kernels */
    float *wbuf;           /* OpenBLAS path: dequantized W, grown on demand */
    size_t wbuf_len;
};

static const float zeros[KC]; /* the rows of a panel past `out` */

static int imin(int a, int b) { return a < b ? a : b; }

static float *alloc_aligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n * sizeof(float))) cj_xmalloc(SIZE_MAX); /* aborts like every allocation here */
    return p;
}

gemm *gemm_new(int threads, gemm_kernels kernels) {
    gemm *g = cj_xcalloc(1, sizeof *g);
    g->threads = threads < 1 ? 1 : threads > POOL_MAX ? POOL_MAX : threads;
    g->kernels = kernels;
    g->packs = wpack_new(0);
    for (int t = 0; t < g->threads; t++) {
        g->pack[t] = alloc_aligned((size_t)NB * KC * NR);
        g->rows[t] = alloc_aligned((size_t)(DO * DKC > NR * KC ? DO * DKC : NR * KC));
    }
    return g;
}

void gemm_free(gemm *g) {
    if (!g) return;
    for (int t = 0; t < g->threads; t++) {
        free(g->pack[t]);
        free(g->rows[t]);
    }
    wpack_free(g->packs);
    free(g->wbuf);
    free(g);
}

gemm_kernels gemm_get_kernels(const gemm *g) { return g->kernels; }
void gemm_set_portable(gemm *g, int on) { g->portable = on; }

void gemm_set_maps(gemm *g, const cj_map *maps, int n) { wpack_set_maps(g->packs, maps, n); }

void gemm_pack_all(gemm *g) {
    wpack_free(g->packs);
    g->packs = wpack_new(1);
}

const char *gemm_kernels_name(gemm_kernels k) { return k == GEMM_OPENBLAS ? "openblas" : "own"; }

int gemm_parse_kernels(const char *name) {
    if (!strcmp(name, "own")) return GEMM_OWN;
    if (!strcmp(name, "openblas")) return GEMM_OPENBLAS;
    return -1;
}

const char *gemm_isa(void) { return GEMM_SIMD ? "avx2+fma" : "portable"; }

/* --- packing ------------------------------------------------------------------ */

/* Where W's rows come from: an F32 array, or a model matrix to dequantize. */
typedef struct {
    const model_mat *m; /* NULL: f32 */
    const float *f32;
    int ldw;
    int out;
    const void *pk; /* m in groups of 8 outputs (wpack.h), or NULL */
    int in;         /* with pk: values per row */
} wsrc;

#if GEMM_SIMD
/* In place: r[i] holds 8 consecutive values of row i; afterwards r[kk] holds
 * value kk of rows 0..7. */
static inline __attribute__((always_inline)) void tr8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

/* Value k of src, F16 (converted exactly, as quant.c does) or F32. */
static inline __attribute__((always_inline)) float ld1(const void *p, int k, int f16) {
    return f16 ? quant_f16_to_f32(((const uint16_t *)p)[k]) : ((const float *)p)[k];
}

#if GEMM_SIMD
static inline __attribute__((always_inline)) __m256 ld8(const void *p, int k, int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + k)));
    return _mm256_loadu_ps((const float *)p + k);
}
#endif

#if GEMM_SIMD
/* The weights of a group's 8 outputs at k (wpack.h's layouts): the floats
 * quant.c's dequantization gives (Q8_0: (float)q * d, as deq_q8_0). */
static inline __attribute__((always_inline)) __m256 pk8(const uint8_t *grp, int k, ggml_type t) {
    if (t == GGML_F16) return _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(grp + (size_t)k * 16)));
    if (t == GGML_Q8_0) {
        const uint8_t *b = grp + (size_t)(k / 32) * WPACK_QBLOCK;
        __m128i q8 = _mm_loadl_epi64((const __m128i *)(const void *)(b + 32 + (k % 32) * WPACK_G));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), _mm256_load_ps((const float *)(const void *)b));
    }
    if (t == GGML_Q4_K) {
        const uint8_t *b = grp + (size_t)(k / 32) * WPACK_Q4K_BLOCK;
        uint32_t v;
        memcpy(&v, b + 64 + (k % 32) * 4, 4);
        __m128i x = _mm_cvtsi32_si128((int)v), m4 = _mm_set1_epi8(0x0f);
        __m128i q = _mm_unpacklo_epi8(_mm_and_si128(x, m4), _mm_and_si128(_mm_srli_epi16(x, 4), m4));
        __m256 p = _mm256_mul_ps(_mm256_load_ps((const float *)(const void *)b),
                                 _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)));
        return _mm256_sub_ps(p, _mm256_load_ps((const float *)(const void *)(b + 32)));
    }
    if (t == GGML_Q6_K) {
        const uint8_t *b = grp + (size_t)(k / 16) * WPACK_Q6K_BLOCK;
        __m128i q8 = _mm_loadl_epi64((const __m128i *)(const void *)(b + 32 + (k % 16) * WPACK_G));
        return _mm256_mul_ps(_mm256_load_ps((const float *)(const void *)b), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)));
    }
    return _mm256_load_ps((const float *)(const void *)(grp + (size_t)k * 32));
}

static const uint8_t *pk_group(const wsrc *w, int g) {
    return (const uint8_t *)w->pk + wpack_group_bytes(w->m->type, w->in) * (size_t)g;
}

/* d[k * NR] (8 floats) = group g's weights at pc + k, k < kc; 0 past the
 * matrix's groups. */
static inline __attribute__((always_inline)) void pk_column(const wsrc *w, int g, int pc, int kc, float *d,
                                                             ggml_type t) {
    if (g >= (w->out + WPACK_G - 1) / WPACK_G) {
        for (int k = 0; k < kc; k++) _mm256_store_ps(d + (size_t)k * NR, _mm256_setzero_ps());
        return;
    }
    const uint8_t *grp = pk_group(w, g);
    for (int k = 0; k < kc; k++) _mm256_store_ps(d + (size_t)k * NR, pk8(grp, pc + k, t));
}

/* pack_panels from the groups: panel p is groups 2p and 2p + 1. */
static void pack_from_groups(const wsrc *w, int p0, int nb, int pc, int kc, float *dst) {
    for (int p = 0; p < nb; p++)
        for (int h = 0; h < 2; h++) {
            float *d = dst + (size_t)p * kc * NR + WPACK_G * h;
            int g = 2 * (p0 + p) + h;
            switch (w->m->type) {
            case GGML_F16: pk_column(w, g, pc, kc, d, GGML_F16); break;
            case GGML_Q8_0: pk_column(w, g, pc, kc, d, GGML_Q8_0); break;
            case GGML_Q4_K: pk_column(w, g, pc, kc, d, GGML_Q4_K); break;
            case GGML_Q6_K: pk_column(w, g, pc, kc, d, GGML_Q6_K); break;
            default: pk_column(w, g, pc, kc, d, GGML_F32); break;
            }
        }
}
#endif

/* dst[k * NR + j] = src[j][k] for k < kc, j < NR; src F16 or F32. */
static inline __attribute__((always_inline)) void transpose_panel(const void *const *src, int kc, float *dst,
                                                                   int f16) {
    int k = 0;
#if GEMM_SIMD
    for (; k + 8 <= kc; k += 8)
        for (int h = 0; h < NR; h += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) r[i] = ld8(src[h + i], k, f16);
            tr8(r);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (size_t)(k + i) * NR + h, r[i]);
        }
#endif
    for (; k < kc; k++)
        for (int j = 0; j < NR; j++) dst[(size_t)k * NR + j] = ld1(src[j], k, f16);
}

/* Packs panels [p0, p0 + nb) of W (outputs p * NR ..) over k in [pc, pc +
 * kc) into dst, nb panels of kc * NR floats; outputs past w->out are 0. */
/* src[j] = where output o0 + j's values for k in [pc, pc + kc) are, j <
 * nrows: F32 rows in place, F16 rows in place when f16 (the reader converts
 * them), other types dequantized into rowbuf (row j at j * ld), zeros past
 * w->out. */
static void row_sources(const wsrc *w, int64_t o0, int nrows, int pc, int kc, int f16, float *rowbuf, size_t ld,
                        const void **src) {
    const model_mat *m = w->m;
    const float *f32 = m ? model_mat_f32(m) : w->f32;
    size_t be = m ? (size_t)quant_block_elems(m->type) : 1, bb = m ? quant_block_bytes(m->type) : 4;
    size_t ldw = m ? m->row_bytes / sizeof(float) : (size_t)w->ldw;
    for (int j = 0; j < nrows; j++) {
        int64_t o = o0 + j;
        const uint8_t *row = m ? (const uint8_t *)m->data + (size_t)o * m->row_bytes : NULL;
        if (o >= w->out) src[j] = zeros;
        else if (f32) src[j] = f32 + (size_t)o * ldw + pc;
        else if (f16) src[j] = row + (size_t)pc * 2;
        else {
            quant_dequantize(m->type, row + (size_t)pc / be * bb, rowbuf + (size_t)j * ld, (uint64_t)kc);
            src[j] = rowbuf + (size_t)j * ld;
        }
    }
}

static void pack_panels(const wsrc *w, int p0, int nb, int pc, int kc, float *dst, float *rowbuf) {
#if GEMM_SIMD
    if (w->pk) {
        pack_from_groups(w, p0, nb, pc, kc, dst);
        return;
    }
#endif
    for (int p = 0; p < nb; p++) {
        const void *src[NR];
        /* F16 is converted in the transposition; a panel past `out` goes through rowbuf */
        int f16 = w->m && w->m->type == GGML_F16 && (int64_t)(p0 + p + 1) * NR <= w->out;
        row_sources(w, (int64_t)(p0 + p) * NR, NR, pc, kc, f16, rowbuf, KC, src);
        if (f16) transpose_panel(src, kc, dst + (size_t)p * kc * NR, 1);
        else transpose_panel(src, kc, dst + (size_t)p * kc * NR, 0);
    }
}

/* --- micro-kernels --------------------------------------------------------------
 *
 * y[i][j] (i < mr rows of x at stride ldx, j < nr of the panel's NR) =
 * chain of fma(x[i][k], bp[k * NR + j], acc) over k < kc, acc starting from
 * 0 (first) or from y. */

static void kern_portable(int mr, int kc, const float *x, size_t ldx, const float *bp, float *y, size_t ldy, int nr,
                          int first) {
    for (int i = 0; i < mr; i++) {
        float acc[NR];
        for (int j = 0; j < NR; j++) acc[j] = first || j >= nr ? 0.0f : y[i * ldy + j];
        const float *xi = x + i * ldx;
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < NR; j++) acc[j] = fmaf(xi[k], bp[(size_t)k * NR + j], acc[j]);
        for (int j = 0; j < nr; j++) y[i * ldy + j] = acc[j];
    }
}

#if GEMM_SIMD
static inline __attribute__((always_inline)) void kern_avx2(int mr, int kc, const float *x, size_t ldx,
                                                             const float *bp, float *y, size_t ldy, int nr,
                                                             int first) {
    __m256 c[MR][2];
    float tmp[NR];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        if (first) {
            c[i][0] = c[i][1] = _mm256_setzero_ps();
        } else {
            const float *yi = y + i * ldy;
            if (nr < NR) {
                memset(tmp, 0, sizeof tmp);
                memcpy(tmp, yi, (size_t)nr * sizeof(float));
                yi = tmp;
            }
            c[i][0] = _mm256_loadu_ps(yi);
            c[i][1] = _mm256_loadu_ps(yi + 8);
        }
    }
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx, *x4 = x + 4 * ldx, *x5 = x + 5 * ldx;
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        bp += NR;
        __m256 a;
#define ROW(i, xi)                                                                                                    \
    if (mr > i) {                                                                                                     \
        a = _mm256_broadcast_ss(xi + k);                                                                              \
        c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);                                                                    \
        c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);                                                                    \
    }
        ROW(0, x0) ROW(1, x1) ROW(2, x2) ROW(3, x3) ROW(4, x4) ROW(5, x5)
#undef ROW
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *yi = y + i * ldy;
        if (nr == NR) {
            _mm256_storeu_ps(yi, c[i][0]);
            _mm256_storeu_ps(yi + 8, c[i][1]);
        } else {
            _mm256_storeu_ps(tmp, c[i][0]);
            _mm256_storeu_ps(tmp + 8, c[i][1]);
            memcpy(yi, tmp, (size_t)nr * sizeof(float));
        }
    }
}

/* One copy of the kernel per row count, so that mr is a constant in each. */
static void kern_simd(int mr, int kc, const float *x, size_t ldx, const float *bp, float *y, size_t ldy, int nr,
                      int first) {
    switch (mr) {
    case 6: kern_avx2(6, kc, x, ldx, bp, y, ldy, nr, first); break;
    case 5: kern_avx2(5, kc, x, ldx, bp, y, ldy, nr, first); break;
    case 4: kern_avx2(4, kc, x, ldx, bp, y, ldy, nr, first); break;
    case 3: kern_avx2(3, kc, x, ldx, bp, y, ldy, nr, first); break;
    case 2: kern_avx2(2, kc, x, ldx, bp, y, ldy, nr, first); break;
    default: kern_avx2(1, kc, x, ldx, bp, y, ldy, nr, first); break;
    }
}
#endif

/* --- a few rows: W read once, transposed in registers ------------------------------
 *
 * With at most DIRECT_MAX_ROWS rows (decoding) every weight is used once or
 * a few times, and packing it (a write and a read per value) would cost more
 * than the products. So each block of DO outputs keeps its n x DO
 * accumulators in registers for the whole of k; 8 x 8 tiles of W (8 rows, 8
 * values of k: F32 and F16 read in place, other types dequantized per
 * k-block into rowbuf) are transposed in registers, and each accumulator
 * takes its fma for k, k + 1, ... in order: the same chain as the packed
 * path, so the same bits. */

#if GEMM_SIMD

/* acc[r][g] (outputs g * 8 ..) continues its chains over k < kc: src[j]
 * points at output j's values for this k-block (F16 or F32), xr[r] at row
 * r's. Each 8 x 8 tile also prefetches two lines of the next block's
 * weights from *pf (up to pf_end): the tiles read 32 rows at once, more
 * streams than the hardware prefetchers follow. */
static inline __attribute__((always_inline)) void direct_k(int n, int f16, int ng, const void *const *src, int kc,
                                                            const float *const *xr,
                                                            __m256 acc[DIRECT_MAX_ROWS][DO / 8],
                                                            const char **pf, const char *pf_end) {
    int k = 0;
    for (; k + 8 <= kc; k += 8)
        for (int g = 0; g < ng; g++) {
            if (*pf < pf_end) {
                _mm_prefetch(*pf, _MM_HINT_T0);
                _mm_prefetch(*pf + 64, _MM_HINT_T0);
                *pf += 128;
            }
            __m256 t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) t[i] = ld8(src[g * 8 + i], k, f16);
            tr8(t);
#pragma GCC unroll 8
            for (int kk = 0; kk < 8; kk++)
#pragma GCC unroll 4
                for (int r = 0; r < n; r++)
                    acc[r][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(xr[r] + k + kk), t[kk], acc[r][g]);
        }
    for (; k < kc; k++)
        for (int g = 0; g < ng; g++) {
            float col[8];
            for (int i = 0; i < 8; i++) col[i] = ld1(src[g * 8 + i], k, f16);
            __m256 t = _mm256_loadu_ps(col);
            for (int r = 0; r < n; r++) acc[r][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(xr[r] + k), t, acc[r][g]);
        }
}

/* y[r][g * 8 ..] = acc[r][g], r < n, g < ng, the first nout outputs. */
static inline __attribute__((always_inline)) void store_acc(int n, int ng, int nout,
                                                             __m256 acc[DIRECT_MAX_ROWS][DO / 8], float *y,
                                                             int ldy) {
    for (int r = 0; r < n; r++)
        for (int g = 0; g < ng; g++) {
            float *yo = y + (size_t)r * ldy + g * 8;
            int left = nout - g * 8;
            if (left >= 8) {
                _mm256_storeu_ps(yo, acc[r][g]);
            } else {
                float tmp[8];
                _mm256_storeu_ps(tmp, acc[r][g]);
                memcpy(yo, tmp, (size_t)left * sizeof(float));
            }
        }
}

/* y for outputs [o0, o0 + DO) of rows r < n. */
static inline __attribute__((always_inline)) void direct_block(int n, const wsrc *w, int o0, const float *x,
                                                                int ldx, int in, float *y, int ldy,
                                                                float *rowbuf) {
    const model_mat *m = w->m;
    int nout = imin(DO, w->out - o0), ng = (nout + 7) / 8;
    int f16 = m && m->type == GGML_F16 && nout == DO; /* in place; a partial block goes through rowbuf */
    __m256 acc[DIRECT_MAX_ROWS][DO / 8];
    for (int r = 0; r < n; r++)
        for (int g = 0; g < ng; g++) acc[r][g] = _mm256_setzero_ps();
    /* the next block's rows, contiguous in the matrix */
    const char *pf = NULL, *pf_end = NULL;
    if (o0 + DO < w->out) {
        size_t rb = m ? m->row_bytes : (size_t)w->ldw * sizeof(float);
        const char *base = m ? (const char *)m->data : (const char *)w->f32;
        pf = base + (size_t)(o0 + DO) * rb;
        pf_end = base + (size_t)imin(o0 + 2 * DO, w->out) * rb;
    }
    for (int pc = 0; pc < in; pc += DKC) {
        int kc = imin(DKC, in - pc);
        const void *src[DO];
        const float *xr[DIRECT_MAX_ROWS];
        for (int r = 0; r < n; r++) xr[r] = x + (size_t)r * ldx + pc;
        row_sources(w, o0, ng * 8, pc, kc, f16, rowbuf, DKC, src);
        if (f16) direct_k(n, 1, ng, src, kc, xr, acc, &pf, pf_end);
        else direct_k(n, 0, ng, src, kc, xr, acc, &pf, pf_end);
    }
    store_acc(n, ng, nout, acc, y + o0, ldy);
}

/* direct_block over W in groups (wpack.h): each 8-output load is one
 * vector, no transposition; the chains are the same fmas in the same order. */
static inline __attribute__((always_inline)) void direct_group_block(int n, ggml_type t, const wsrc *w, int o0,
                                                                      const float *x, int ldx, int in, float *y,
                                                                      int ldy) {
    int nout = imin(DO, w->out - o0), ng = (nout + 7) / 8;
    const uint8_t *grp[DO / 8];
    __m256 acc[DIRECT_MAX_ROWS][DO / 8];
    for (int g = 0; g < ng; g++) grp[g] = pk_group(w, o0 / WPACK_G + g);
    for (int r = 0; r < n; r++)
        for (int g = 0; g < DO / 8; g++) acc[r][g] = _mm256_setzero_ps();
    if (ng == DO / 8) {
        for (int k = 0; k < in; k++)
#pragma GCC unroll 4
            for (int g = 0; g < DO / 8; g++) {
                __m256 wv = pk8(grp[g], k, t);
#pragma GCC unroll 4
                for (int r = 0; r < n; r++)
                    acc[r][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + (size_t)r * ldx + k), wv, acc[r][g]);
            }
    } else {
        for (int k = 0; k < in; k++)
            for (int g = 0; g < ng; g++) {
                __m256 wv = pk8(grp[g], k, t);
                for (int r = 0; r < n; r++)
                    acc[r][g] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + (size_t)r * ldx + k), wv, acc[r][g]);
            }
    }
    store_acc(n, ng, nout, acc, y + o0, ldy);
}

static void direct_group_blocks(int n, const wsrc *w, int b0, int b1, const float *x, int ldx, int in, float *y,
                                int ldy) {
#define DGB(N, T) for (int b = b0; b < b1; b++) direct_group_block(N, T, w, b * DO, x, ldx, in, y, ldy)
#define DGB_T(N)                                                                                                      \
    switch (w->m->type) {                                                                                             \
    case GGML_F16: DGB(N, GGML_F16); break;                                                                           \
    case GGML_Q8_0: DGB(N, GGML_Q8_0); break;                                                                         \
    case GGML_Q4_K: DGB(N, GGML_Q4_K); break;                                                                         \
    case GGML_Q6_K: DGB(N, GGML_Q6_K); break;                                                                         \
    default: DGB(N, GGML_F32); break;                                                                                 \
    }
    switch (n) {
    case 4: DGB_T(4); break;
    case 3: DGB_T(3); break;
    case 2: DGB_T(2); break;
    default: DGB_T(1); break;
    }
#undef DGB_T
#undef DGB
}

/* One copy per row count, so that n is a constant in each. */
static void direct_blocks(int n, const wsrc *w, int b0, int b1, const float *x, int ldx, int in, float *y, int ldy,
                          float *rowbuf) {
    for (int b = b0; b < b1; b++) switch (n) {
        case 4: direct_block(4, w, b * DO, x, ldx, in, y, ldy, rowbuf); break;
        case 3: direct_block(3, w, b * DO, x, ldx, in, y, ldy, rowbuf); break;
        case 2: direct_block(2, w, b * DO, x, ldx, in, y, ldy, rowbuf); break;
        default: direct_block(1, w, b * DO, x, ldx, in, y, ldy, rowbuf); break;
        }
}
#endif

/* --- the blocked loop ---------------------------------------------------------- */

typedef struct {
    gemm *g;
    int t; /* thread index: its scratch */
    float *y;
    int ldy;
    const float *x;
    int ldx;
    const wsrc *w;
    int in;
    int p0, p1; /* panels, or DO-blocks of outputs when direct */
    int r0, r1; /* rows */
    int direct; /* the few-rows path */
} gjob;

static void *gemm_worker(void *arg) {
    const gjob *j = arg;
    float *pack = j->g->pack[j->t], *rowbuf = j->g->rows[j->t];
    int portable = j->g->portable || !GEMM_SIMD;
#if GEMM_SIMD
    if (j->direct && j->w->pk) {
        direct_group_blocks(j->r1 - j->r0, j->w, j->p0, j->p1, j->x + (size_t)j->r0 * j->ldx, j->ldx, j->in,
                            j->y + (size_t)j->r0 * j->ldy, j->ldy);
        return NULL;
    }
    if (j->direct) {
        direct_blocks(j->r1 - j->r0, j->w, j->p0, j->p1, j->x + (size_t)j->r0 * j->ldx, j->ldx, j->in,
                      j->y + (size_t)j->r0 * j->ldy, j->ldy, rowbuf);
        return NULL;
    }
#endif
    for (int g = j->p0; g < j->p1; g += NB) {
        int nb = imin(NB, j->p1 - g);
        for (int pc = 0; pc < j->in; pc += KC) {
            int kc = imin(KC, j->in - pc);
            pack_panels(j->w, g, nb, pc, kc, pack, rowbuf);
            for (int ic = j->r0; ic < j->r1; ic += MC) {
                int mc = imin(MC, j->r1 - ic);
                for (int p = 0; p < nb; p++) {
                    int o0 = (g + p) * NR, nr = imin(NR, j->w->out - o0);
                    const float *bp = pack + (size_t)p * kc * NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const float *x = j->x + (size_t)(ic + ir) * j->ldx + pc;
                        float *y = j->y + (size_t)(ic + ir) * j->ldy + o0;
                        int mr = imin(MR, mc - ir);
#if GEMM_SIMD
                        if (!portable) {
                            kern_simd(mr, kc, x, (size_t)j->ldx, bp, y, (size_t)j->ldy, nr, pc == 0);
                            continue;
                        }
#endif
                        kern_portable(mr, kc, x, (size_t)j->ldx, bp, y, (size_t)j->ldy, nr, pc == 0);
                    }
                }
            }
        }
    }
    (void)portable;
    return NULL;
}

static void gemm_own(gemm *g, float *y, int ldy, const float *x, int ldx, const wsrc *w, int n, int in) {
    int direct = GEMM_SIMD && !g->portable && n <= DIRECT_MAX_ROWS;
    int panels = direct ? (w->out + DO - 1) / DO : (w->out + NR - 1) / NR;
    int nt = g->threads;
    if ((double)n * in * w->out < PARALLEL_MIN) nt = 1;
    gjob jobs[POOL_MAX];
    int by_rows = panels < nt && !direct;
    if (by_rows) nt = imin(nt, n);
    if (direct) nt = imin(nt, panels);
    for (int t = 0; t < nt; t++) {
        jobs[t] = (gjob){g, t, y, ldy, x, ldx, w, in, 0, panels, 0, n, direct};
        if (by_rows) {
            jobs[t].r0 = (int)((int64_t)n * t / nt);
            jobs[t].r1 = (int)((int64_t)n * (t + 1) / nt);
        } else {
            jobs[t].p0 = (int)((int64_t)panels * t / nt);
            jobs[t].p1 = (int)((int64_t)panels * (t + 1) / nt);
        }
    }
    if (nt == 1) gemm_worker(&jobs[0]);
    else pool_fan_out(gemm_worker, jobs, sizeof *jobs, nt);
}

/* --- OpenBLAS ------------------------------------------------------------------ */

typedef struct {
    const model_mat *w;
    int64_t r0, nr;
    int cols;
    float *dst;
} deq_job;

static void *deq_worker(void *arg) {
    const deq_job *j = arg;
    model_mat_rows(j->w, j->r0, j->nr, j->cols, j->dst);
    return NULL;
}

/* Rows [r0, r0 + nr) of w as F32 into dst, split among the threads. */
static void dequant(const gemm *g, const model_mat *w, int64_t r0, int64_t nr, int cols, float *dst) {
    int nt = g->threads;
    if (nt < 2 || nr * cols < ((int64_t)1 << 16)) {
        model_mat_rows(w, r0, nr, cols, dst);
        return;
    }
    deq_job jobs[POOL_MAX];
    for (int t = 0; t < nt; t++) {
        int64_t a = nr * t / nt, b = nr * (t + 1) / nt;
        jobs[t] = (deq_job){w, r0 + a, b - a, cols, dst + a * cols};
    }
    pool_fan_out(deq_worker, jobs, sizeof *jobs, nt);
}

static void gemm_openblas(gemm *g, float *y, int ldy, const float *x, int ldx, const wsrc *w, int n, int in) {
    openblas_set_num_threads(g->threads);
    const float *w32 = w->m ? model_mat_f32(w->m) : w->f32;
    int ldw = w->m ? in : w->ldw;
    if (w32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, w->out, in, 1.0f, x, ldx, w32, ldw, 0.0f, y, ldy);
        return;
    }
    int64_t cap = (int64_t)(WBUF_MAX / (size_t)in);
    if (cap < 1) cap = 1;
    if (cap > w->out) cap = w->out;
    if ((size_t)cap * (size_t)in > g->wbuf_len) {
        free(g->wbuf);
        g->wbuf_len = (size_t)cap * (size_t)in;
        g->wbuf = alloc_aligned(g->wbuf_len);
    }
    for (int64_t a = 0; a < w->out; a += cap) {
        int64_t nr = w->out - a < cap ? w->out - a : cap;
        dequant(g, w->m, a, nr, in, g->wbuf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)nr, in, 1.0f, x, ldx, g->wbuf, in, 0.0f, y + a,
                    ldy);
    }
}

static void run(gemm *g, float *y, int ldy, const float *x, int ldx, const wsrc *w, int n, int in) {
    if (n <= 0 || w->out <= 0) return;
    if (in <= 0) {
        for (int r = 0; r < n; r++) memset(y + (size_t)r * ldy, 0, (size_t)w->out * sizeof(float));
        return;
    }
    if (g->kernels == GEMM_OPENBLAS) gemm_openblas(g, y, ldy, x, ldx, w, n, in);
    else gemm_own(g, y, ldy, x, ldx, w, n, in);
}

void gemm_mat(gemm *g, float *y, int ldy, const float *x, int ldx, const model_mat *w, int n, int in, int out) {
    wsrc s = {w, NULL, 0, out, NULL, in};
    if (GEMM_SIMD && g->kernels == GEMM_OWN && !g->portable && n > 0) s.pk = wpack_get(g->packs, w, out, in);
    run(g, y, ldy, x, ldx, &s, n, in);
}

void gemm_f32(gemm *g, float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int n, int in, int out) {
    wsrc s = {NULL, w, ldw, out, NULL, in};
    run(g, y, ldy, x, ldx, &s, n, in);
}
