/* gemm — y = x W^T, each output element one ascending FMA chain (gemm.h).
 *
 * The blocking follows BLIS's: W is packed, a group of NB panels at a time,
 * each panel NR output rows by KC values of k stored k-major, so that the
 * micro-kernel reads it sequentially; the panels (NB x KC x NR floats) stay
 * in L2 while every row block of x (MC rows of KC values, read in place)
 * goes through them, and one panel (KC x NR) stays in L1 while the MR-row
 * tiles of the block go through it. An MR x NR tile of y lives in registers
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

#include "../../common/sb.h"
#include "pool.h"
#include "quant.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEMM_SIMD 1
#else
#define GEMM_SIMD 0
#endif

#define NR 16  /* outputs per panel: two 8-lane vectors */
#define MR 6   /* rows per tile: 12 accumulators + 2 panel vectors + 1 broadcast of 16 registers */
#define KC 256 /* k per block; a multiple of 256 so a block starts on a K-quant super-block */
#define NB 16  /* panels packed at a time per thread: 256 KB */
#define MC 96  /* rows per block of x: 96 KB */
/* Products smaller than this (n * in * out) run on one thread. */
#define PARALLEL_MIN (1 << 17)
/* The OpenBLAS path dequantizes at most this many floats of W at a time. */
#define WBUF_MAX ((size_t)16 << 20)

struct gemm {
    int threads;
    gemm_kernels kernels;
    int portable;
    float *pack[POOL_MAX]; /* per thread: NB * KC * NR floats */
    float *rows[POOL_MAX]; /* per thread: NR * KC floats, dequantized rows */
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
    for (int t = 0; t < g->threads; t++) {
        g->pack[t] = alloc_aligned((size_t)NB * KC * NR);
        g->rows[t] = alloc_aligned((size_t)NR * KC);
    }
    return g;
}

void gemm_free(gemm *g) {
    if (!g) return;
    for (int t = 0; t < g->threads; t++) {
        free(g->pack[t]);
        free(g->rows[t]);
    }
    free(g->wbuf);
    free(g);
}

gemm_kernels gemm_get_kernels(const gemm *g) { return g->kernels; }
void gemm_set_portable(gemm *g, int on) { g->portable = on; }

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
} wsrc;

/* dst[k * NR + j] = src[j][k] for k < kc, j < NR. */
static void transpose_panel(const float *const *src, int kc, float *dst) {
    int k = 0;
#if GEMM_SIMD
    for (; k + 8 <= kc; k += 8)
        for (int h = 0; h < NR; h += 8) {
            const float *const *s = src + h;
            __m256 r0 = _mm256_loadu_ps(s[0] + k), r1 = _mm256_loadu_ps(s[1] + k);
            __m256 r2 = _mm256_loadu_ps(s[2] + k), r3 = _mm256_loadu_ps(s[3] + k);
            __m256 r4 = _mm256_loadu_ps(s[4] + k), r5 = _mm256_loadu_ps(s[5] + k);
            __m256 r6 = _mm256_loadu_ps(s[6] + k), r7 = _mm256_loadu_ps(s[7] + k);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
            __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
            __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
            float *d = dst + (size_t)k * NR + h;
            _mm256_store_ps(d + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_store_ps(d + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_store_ps(d + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_store_ps(d + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_store_ps(d + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_store_ps(d + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_store_ps(d + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_store_ps(d + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
#endif
    for (; k < kc; k++)
        for (int j = 0; j < NR; j++) dst[(size_t)k * NR + j] = src[j][k];
}

/* Packs panels [p0, p0 + nb) of W (outputs p * NR ..) over k in [pc, pc +
 * kc) into dst, nb panels of kc * NR floats; outputs past w->out are 0. */
static void pack_panels(const wsrc *w, int p0, int nb, int pc, int kc, float *dst, float *rowbuf) {
    const model_mat *m = w->m;
    const float *f32 = m ? model_mat_f32(m) : w->f32;
    size_t be = m ? (size_t)quant_block_elems(m->type) : 1, bb = m ? quant_block_bytes(m->type) : 4;
    size_t ldw = m ? m->row_bytes / sizeof(float) : (size_t)w->ldw;
    for (int p = 0; p < nb; p++) {
        const float *src[NR];
        for (int j = 0; j < NR; j++) {
            int64_t o = (int64_t)(p0 + p) * NR + j;
            if (o >= w->out) src[j] = zeros;
            else if (f32) src[j] = f32 + (size_t)o * ldw + pc;
            else {
                const uint8_t *row = (const uint8_t *)m->data + (size_t)o * m->row_bytes;
                quant_dequantize(m->type, row + (size_t)pc / be * bb, rowbuf + (size_t)j * KC, (uint64_t)kc);
                src[j] = rowbuf + (size_t)j * KC;
            }
        }
        transpose_panel(src, kc, dst + (size_t)p * kc * NR);
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
    int p0, p1; /* panels */
    int r0, r1; /* rows */
} gjob;

static void *gemm_worker(void *arg) {
    const gjob *j = arg;
    float *pack = j->g->pack[j->t], *rowbuf = j->g->rows[j->t];
    int portable = j->g->portable || !GEMM_SIMD;
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
    int panels = (w->out + NR - 1) / NR;
    int nt = g->threads;
    if ((double)n * in * w->out < PARALLEL_MIN) nt = 1;
    gjob jobs[POOL_MAX];
    int by_rows = panels < nt;
    if (by_rows) nt = imin(nt, n);
    for (int t = 0; t < nt; t++) {
        jobs[t] = (gjob){g, t, y, ldy, x, ldx, w, in, 0, panels, 0, n};
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
    wsrc s = {w, NULL, 0, out};
    run(g, y, ldy, x, ldx, &s, n, in);
}

void gemm_f32(gemm *g, float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int n, int in, int out) {
    wsrc s = {NULL, w, ldw, out};
    run(g, y, ldy, x, ldx, &s, n, in);
}
