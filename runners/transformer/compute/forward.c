/* forward — the batched Llama-family forward pass (see forward.h).
 *
 * One call runs a "row plan" through the model: n rows, one token each. Row r
 * is at position pos[r], writes its K/V to cache row kv0 + r, and attends to
 * a chain of cache row ranges holding its prefix (shared with other rows,
 * root first: rng[chain[r] ..], nchain[r] of them) followed by [kvlo[r],
 * kv0 + r] (its own node so far). The plans:
 *   fwd_score: the nodes of a prefix tree of the sequences (see "the prefix
 *     tree" below), packed into batches;
 *   decoding: kv0 = n_past, no chain, kvlo = 0.
 * Per layer, every weight matrix is one product over all n rows (tokens as
 * rows, y = x W^T, gemm.h); attention and the per-row steps between
 * products are our own loops, the rows split among threads.
 *
 * Determinism. Each row's result is a function of its own sequence only,
 * computed by the same operations in the same order wherever the row sits:
 * the products sum each output element as one ascending FMA chain over k
 * (gemm.h), and norms, RoPE, attention (keys always in position order) and
 * the log-softmax are per-row loops with fixed orders. So neither the other
 * rows of a batch, nor the batching, nor prefix sharing, nor the thread
 * count, nor decoding versus scoring change a bit; and since every step is
 * IEEE arithmetic in a fixed order (explicit FMAs where FMAs are meant,
 * -ffp-contract=off elsewhere), neither does the CPU, as long as it has
 * FMA. tests/unit/test_runner.c, test_prefix.c and test_exact.c check it.
 * (`--kernels openblas` gives up that promise for OpenBLAS's sgemm.) */
#include "forward.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../../common/sb.h"
#include "gemm.h"
#include "pool.h"

#define DEFAULT_BATCH_TOKENS 2048
#define MAX_BATCH_TOKENS (1 << 20)
/* Logit rows computed per output product, bounded by this many floats. */
#define LOGIT_BUDGET (4 << 20)
/* Attention runs on up to this many threads, when a call has at least
 * this much work (query components x keys); decoding stays serial. */
#define MAX_ATT_THREADS POOL_MAX
#define ATT_PARALLEL_MIN (1 << 20)
/* The per-row steps between products take a thread per this many rows. */
#define ROWS_PER_THREAD_MIN 32
/* Up to this many query heads of one KV head are handled together, so that
 * each key and value is loaded once for all of them. */
#define GMAX 4
/* The kernels take up to this many queries at once: GMAX heads of two rows. */
#define QMAX (2 * GMAX)
/* The loops over those queries unroll fully, so that their accumulators stay
 * in registers. */
#define UNROLL_G _Pragma("GCC unroll 8")

struct fwd {
    const model *m;
    int threads;   /* threads of the products and of our loops, >= 1 */
    int max_batch; /* tokens per forward call: rows of the activation buffers */
    gemm *gm;      /* the weight products */
    int q_dim;     /* n_heads * head_dim */
    int kv_dim;    /* n_kv_heads * head_dim */

    /* activations, one row per token */
    float *x;   /* [max_batch, dim] residual stream */
    float *xb;  /* [max_batch, max(dim, q_dim)] normed input, then attention output */
    float *q;   /* [max_batch, q_dim] */
    float *k;   /* [max_batch, kv_dim] */
    float *v;   /* [max_batch, kv_dim] */
    float *hb;  /* [max_batch, ffn_dim] gate, then silu(gate) * up */
    float *hb2; /* [max_batch, ffn_dim] up */
    float *att[MAX_ATT_THREADS]; /* [QMAX, att_stride] each: scores of QMAX queries, per attention thread */
    int att_stride;

    /* the row plan (see above) */
    int *tok;  /* [max_batch] */
    int *pos;  /* [max_batch] */
    int *chain;  /* [max_batch] the row's shared ranges: rng[2 * chain ..] */
    int *nchain; /* [max_batch] how many */
    int *kvlo;   /* [max_batch] first cache row of the row's own range */
    int *rng;    /* [rng_cap][2] cache row ranges [lo, hi) */
    int rng_cap;
    int share;   /* prefix sharing on */

    /* output projection */
    int out_cap;   /* rows per output product */
    float *hsel;   /* [out_cap, dim] final-normed rows gathered */
    float *logits; /* [out_cap, vocab] */

    /* KV cache, per layer. Keys are stored transposed, [kv_dim, kv_cap], so
     * that a query's scores are axpys over contiguous keys (vectorized across
     * keys, each key's dot product still summed in order); values are rows,
     * [kv_cap, kv_dim], mixed the same way. */
    float **kc;
    float **vc;
    int kv_cap;

    /* RoPE table: for position p and pair i, [p * head_dim/2 + i] */
    float *rope_cos;
    float *rope_sin;
    int rope_cap;
    int rope_bf16; /* frequencies rounded to bf16 (see bf16_round) */

    fwd_timing tm; /* where the time went, since fwd_new */

    int n_past; /* decoding state: tokens in the cache */

    /* the prefix kept from the last fwd_score: its K/V at cache rows [0, ret_n) */
    int *ret_tok; /* [ret_n] */
    int ret_n;
    int kv_budget_rows; /* cache rows allowed (0: no bound) */
    size_t budget;      /* bytes for the cache plus a batch's activations (0: no bound) */
};

/* --- helpers --------------------------------------------------------------- */

static float *alloc_rows(int rows, int width) {
    return cj_xcalloc((size_t)rows * (size_t)width, sizeof(float));
}

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fan_out(void *(*fn)(void *), void *jobs, size_t job_size, int nt) {
    pool_fan_out(fn, jobs, job_size, nt);
}

/* y[n, out] = x[n, in] W^T. */
static void matmul(fwd *f, float *y, float *x, const model_mat *w, int n, int in, int out) {
    double t0 = now_s();
    gemm_mat(f->gm, y, out, x, in, w, n, in, out);
    f->tm.matrix_s += now_s() - t0;
    f->tm.matrix_flops += 2.0 * n * in * out;
}

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], the sum of squares in
 * double: 16 partial sums by i mod 16 (independent chains, so they
 * vectorize, where one chain of dependent adds does not), added in a fixed
 * order. Each square is exact in double. */
static void rmsnorm(float *out, const float *x, const float *w, int d, float eps) {
    double part[16] = {0};
    int i = 0;
    for (; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) part[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; i + k < d; k++) part[k] += (double)x[i + k] * x[i + k];
    for (int h = 8; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) part[k] += part[k + h];
    double ss = part[0];
    float scale = 1.0f / sqrtf((float)(ss / d) + eps);
    for (int i = 0; i < d; i++) out[i] = x[i] * scale * w[i];
}

static void add_bias(float *y, const float *b, int r0, int r1, int width) {
    if (!b) return;
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < width; i++) y[(size_t)r * width + i] += b[i];
}

/* --- growth of position-indexed state ---------------------------------------- */

/* Rounds to the nearest bfloat16 (ties to even). transformers casts a whole
 * model, buffers included, to the checkpoint's dtype, so for a BF16
 * checkpoint the RoPE inverse frequencies are bf16 values; the HF goldens
 * (and any run of such a model in transformers) use them. */
static double bf16_round(double v) {
    float x = (float)v;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int ensure_rope(fwd *f, int positions, cj_err *e) {
    if (positions <= f->rope_cap) return 0;
    const model_hparams *hp = &f->m->hp;
    int half = hp->head_dim / 2;
    int cap = imax(positions, imin(2 * f->rope_cap, INT32_MAX / 2));
    if ((size_t)cap > SIZE_MAX / sizeof(float) / (size_t)half)
        return cj_fail(e, "forward: RoPE table for %d positions is too large", positions);
    f->rope_cos = cj_xrealloc(f->rope_cos, (size_t)cap * half * sizeof(float));
    f->rope_sin = cj_xrealloc(f->rope_sin, (size_t)cap * half * sizeof(float));
    for (int p = f->rope_cap; p < cap; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)hp->rope_theta, -2.0 * i / hp->head_dim);
            double theta = p * (f->rope_bf16 ? bf16_round(freq) : freq);
            f->rope_cos[(size_t)p * half + i] = (float)cos(theta);
            f->rope_sin[(size_t)p * half + i] = (float)sin(theta);
        }
    f->rope_cap = cap;
    return 0;
}

/* KV buffers of n floats are anonymous mappings, not malloc blocks: the
 * cache grows by copying into new buffers, and an unmapped buffer leaves
 * resident memory at once, where malloc may keep large freed blocks in its
 * heap (the KV budget is about resident memory). Failure aborts, as
 * cj_xmalloc does. Sanitizer builds use the heap, whose redzones let
 * AddressSanitizer check every KV index. */
#if defined(__SANITIZE_ADDRESS__)
#define KV_MALLOC 1 /* heap blocks have redzones: AddressSanitizer checks every KV index */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KV_MALLOC 1
#endif
#endif

static float *kv_map(size_t n) {
#ifdef KV_MALLOC
    return cj_xmalloc(n * sizeof(float));
#else
    void *p = mmap(NULL, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "chaejeom: out of memory (a KV buffer of %zu bytes)\n", n * sizeof(float));
        abort();
    }
    return p;
#endif
}

static void kv_unmap(float *p, size_t n) {
#ifdef KV_MALLOC
    (void)n;
    free(p);
#else
    if (p && n) munmap(p, n * sizeof(float));
#endif
}

static int ensure_kv(fwd *f, int rows, cj_err *e) {
    if (rows <= f->kv_cap) return 0;
    /* Doubling, or under a budget an eighth at a time: the keys are stored
     * transposed, so the copy touches every page of the new capacity, and
     * the batch planner counts only the rows in use against the budget. */
    int grow = f->budget ? f->kv_cap + f->kv_cap / 8 + 64 : imin(2 * f->kv_cap, INT32_MAX / 2);
    if (f->kv_budget_rows > 0) grow = imin(grow, f->kv_budget_rows);
    int cap = imax(rows, grow);
    if ((size_t)cap > SIZE_MAX / sizeof(float) / (size_t)f->kv_dim)
        return cj_fail(e, "forward: KV cache for %d positions is too large", rows);
    size_t n_new = (size_t)cap * f->kv_dim, n_old = (size_t)f->kv_cap * f->kv_dim;
    for (int l = 0; l < f->m->hp.n_layers; l++) {
        float *k = kv_map(n_new), *v = kv_map(n_new);
        for (int d = 0; d < f->kv_dim && f->kv_cap; d++)
            memcpy(k + (size_t)d * cap, f->kc[l] + (size_t)d * f->kv_cap, (size_t)f->kv_cap * sizeof(float));
        if (n_old) memcpy(v, f->vc[l], n_old * sizeof(float));
        kv_unmap(f->kc[l], n_old);
        kv_unmap(f->vc[l], n_old);
        f->kc[l] = k;
        f->vc[l] = v;
    }
    f->kv_cap = cap;
    return 0;
}

static void ensure_att(fwd *f, int n) {
    if (n <= f->att_stride) return;
    for (int t = 0; t < imin(f->threads, MAX_ATT_THREADS); t++)
        f->att[t] = cj_xrealloc(f->att[t], (size_t)n * QMAX * sizeof(float));
    f->att_stride = n;
}

/* --- the layers -------------------------------------------------------------- */

/* Rotates each of the n_h heads of the rows of x in place by the row's position. */
static void rope(const fwd *f, float *x, int r0, int r1, int n_h) {
    const model_hparams *hp = &f->m->hp;
    int hd = hp->head_dim, half = hd / 2, width = n_h * hd;
    for (int r = r0; r < r1; r++) {
        const float *c = f->rope_cos + (size_t)f->pos[r] * half;
        const float *s = f->rope_sin + (size_t)f->pos[r] * half;
        for (int h = 0; h < n_h; h++) {
            float *v = x + (size_t)r * width + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                /* neox rotates (v[i], v[i + d/2]); normal rotates (v[2i], v[2i+1]) */
                int a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * c[i] - v1 * s[i];
                v[b] = v0 * s[i] + v1 * c[i];
            }
        }
    }
}

/* --- attention kernels --------------------------------------------------------
 *
 * A row's scores are indexed by key position (a row at position p attends to
 * positions 0..p, whichever cache rows hold them), and every per-key
 * operation below is the same instruction sequence whatever the key's place
 * in a block or range: explicit FMAs (masked vector lanes in the tails, or
 * fmaf without SIMD), an exp that treats 8 padded lanes alike, sums in 8
 * lanes by position mod 8. So the result of
 * a row depends on its keys only, not on how its prefix was split into
 * shared ranges. */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ATT_SIMD 1
#else
#define ATT_SIMD 0
#endif

#if ATT_SIMD
/* exp of 8 lanes (Cephes' polynomial, about 2 ulp); below -87 it returns
 * 0, so -INFINITY padding adds nothing to a sum; above 88 it returns
 * exp(88). */
static inline __m256 exp8v(__m256 v) {
    __m256 keep = _mm256_cmp_ps(v, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_and_ps(y, keep);
}
#endif

#ifdef __AVX512F__
/* exp8v on 16 lanes: the same operations lane by lane. */
static inline __m512 exp16v(__m512 v) {
    __mmask16 keep = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    y = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
    return _mm512_maskz_mov_ps(keep, y);
}
#endif

#if !ATT_SIMD
/* exp8v's operations on one lane, for builds without AVX2+FMA: the same
 * bits (max/min as the vector instructions order their operands, rounding
 * to nearest even, fmaf for each fused multiply-add). */
static float exp1(float v) {
    int keep = v >= -87.0f;
    v = v > -87.0f ? v : -87.0f;
    v = v < 88.0f ? v : 88.0f;
    float n = nearbyintf(v * 1.44269504088896341f);
    float r = fmaf(-n, 0.693359375f, v);
    r = fmaf(-n, -2.12194440e-4f, r);
    float y = 1.9875691500e-4f;
    y = fmaf(y, r, 1.3981999507e-3f);
    y = fmaf(y, r, 8.3334519073e-3f);
    y = fmaf(y, r, 4.1665795894e-2f);
    y = fmaf(y, r, 1.6666665459e-1f);
    y = fmaf(y, r, 5.0000001201e-1f);
    y = fmaf(y, r * r, r + 1.0f);
    uint32_t eb = (uint32_t)((int)n + 127) << 23;
    float e;
    memcpy(&e, &eb, sizeof e);
    return keep ? y * e : 0.0f;
}
#endif

/* exp of x[0..8) in place: exp8v, or its scalar twin without SIMD. */
static void exp8(float *x) {
#if ATT_SIMD
    _mm256_storeu_ps(x, exp8v(_mm256_loadu_ps(x)));
#else
    for (int b = 0; b < 8; b++) x[b] = exp1(x[b]);
#endif
}

/* softmax of att[0..n) in place, padded with zeros to a multiple of 8 (att
 * has room): each exp times 1 / the sum of them (summed in double, in 8 lanes
 * by position mod 8, combined in a fixed order). */
static void softmax8(float *att, int n) {
    int n8 = (n + 7) & ~7, j0 = 0;
    float mx = -INFINITY; /* max is exact in any order */
#if ATT_SIMD
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    for (; j0 + 8 <= n; j0 += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(att + j0));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmx);
    for (int b = 0; b < 8; b++) mx = lanes[b] > mx ? lanes[b] : mx;
#endif
    for (int j = j0; j < n; j++) mx = att[j] > mx ? att[j] : mx;
    for (int j = n; j < n8; j++) att[j] = -INFINITY;
    double s[8] = {0};
#if ATT_SIMD
    /* the same sums, lane b of (lo, hi) holding s[b] and s[4 + b] */
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    __m256 m8 = _mm256_set1_ps(mx);
    int j = 0;
#ifdef __AVX512F__
    /* 16 at a time: lane b of s8 holds s[b]; the first 8 keys then the next 8 */
    __m512d s8 = _mm512_setzero_pd();
    __m512 m16 = _mm512_set1_ps(mx);
    for (; j + 16 <= n8; j += 16) {
        __m512 v = exp16v(_mm512_sub_ps(_mm512_loadu_ps(att + j), m16));
        _mm512_storeu_ps(att + j, v);
        s8 = _mm512_add_pd(s8, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s8 = _mm512_add_pd(s8, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    lo = _mm512_castpd512_pd256(s8);
    hi = _mm512_extractf64x4_pd(s8, 1);
#endif
    for (; j < n8; j += 8) {
        __m256 v = exp8v(_mm256_sub_ps(_mm256_loadu_ps(att + j), m8));
        _mm256_storeu_ps(att + j, v);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    _mm256_storeu_pd(s, lo);
    _mm256_storeu_pd(s + 4, hi);
#else
    for (int j = 0; j < n8; j += 8) {
        for (int b = 0; b < 8; b++) att[j + b] -= mx;
        exp8(att + j);
        for (int b = 0; b < 8; b++) s[b] += att[j + b];
    }
#endif
    double sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n8; j++) att[j] *= inv;
}

/* g[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u, every element through
 * exp8 (the tail padded), so that each value is computed alike wherever it
 * falls. */
static void swiglu(float *restrict g, const float *restrict u, size_t n) {
    size_t i = 0;
#if ATT_SIMD
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 ev = exp8v(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, ev)), _mm256_loadu_ps(u + i)));
    }
#endif
    for (; i < n; i += 8) {
        float e[8] = {0};
        size_t m = n - i < 8 ? n - i : 8;
        for (size_t b = 0; b < m; b++) e[b] = -g[i + b];
        exp8(e);
        for (size_t b = 0; b < m; b++) g[i + b] = g[i + b] / (1.0f + e[b]) * u[i + b];
    }
}

/* x[i] += y[i] */
static void add_to(float *restrict x, const float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

#if ATT_SIMD
/* Scaled dot products of the ng queries q[g] with the keys at cache rows
 * [lo, hi) (kt: the transposed keys of their KV head, row i = component
 * i), into att[g] + aoff. Each score is fma(q[i], k[i], acc) in order of i,
 * whatever the blocking. */
static inline __attribute__((always_inline)) void scores_g(const fwd *f, const float *const *q, int ng,
                                                           const float *restrict kt, int lo, int hi, float scale,
                                                           float *const *att, int aoff) {
    int hd = f->m->hp.head_dim, n = hi - lo, j = 0;
    size_t ld = (size_t)f->kv_cap;
    kt += lo;
#ifdef __AVX512F__
    /* The same per-key instructions, 64 keys at a time (4 accumulators per
     * query: enough independent FMAs to hide their latency), then 32, then
     * the remainder with masked loads (one pass instead of 16-, 8- and
     * one-key tails whose dependent FMA chains cost more than the bulk). */
    __m512 sc16 = _mm512_set1_ps(scale);
    for (; ng <= 6 && j + 64 <= n; j += 64) { /* 4 accumulators for more queries would spill */
        __m512 a[QMAX][4];
        UNROLL_G for (int g = 0; g < ng; g++) a[g][0] = a[g][1] = a[g][2] = a[g][3] = _mm512_setzero_ps();
        for (int i = 0; i < hd; i++) {
            const float *k = kt + (size_t)i * ld + j;
            __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16);
            __m512 k2 = _mm512_loadu_ps(k + 32), k3 = _mm512_loadu_ps(k + 48);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m512 qi = _mm512_set1_ps(q[g][i]);
                a[g][0] = _mm512_fmadd_ps(qi, k0, a[g][0]);
                a[g][1] = _mm512_fmadd_ps(qi, k1, a[g][1]);
                a[g][2] = _mm512_fmadd_ps(qi, k2, a[g][2]);
                a[g][3] = _mm512_fmadd_ps(qi, k3, a[g][3]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++)
            for (int b = 0; b < 4; b++) _mm512_storeu_ps(att[g] + aoff + j + 16 * b, _mm512_mul_ps(a[g][b], sc16));
    }
    for (; j + 32 <= n; j += 32) {
        __m512 a[QMAX][2];
        UNROLL_G for (int g = 0; g < ng; g++) a[g][0] = a[g][1] = _mm512_setzero_ps();
        for (int i = 0; i < hd; i++) {
            const float *k = kt + (size_t)i * ld + j;
            __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m512 qi = _mm512_set1_ps(q[g][i]);
                a[g][0] = _mm512_fmadd_ps(qi, k0, a[g][0]);
                a[g][1] = _mm512_fmadd_ps(qi, k1, a[g][1]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++) {
            _mm512_storeu_ps(att[g] + aoff + j, _mm512_mul_ps(a[g][0], sc16));
            _mm512_storeu_ps(att[g] + aoff + j + 16, _mm512_mul_ps(a[g][1], sc16));
        }
    }
    if (j < n) { /* 1..31 keys left */
        int r = n - j;
        __mmask16 m0 = r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
        __mmask16 m1 = r > 16 ? (__mmask16)((1u << (r - 16)) - 1) : 0;
        __m512 a[QMAX][2];
        UNROLL_G for (int g = 0; g < ng; g++) a[g][0] = a[g][1] = _mm512_setzero_ps();
        for (int i = 0; i < hd; i++) {
            const float *k = kt + (size_t)i * ld + j;
            __m512 k0 = _mm512_maskz_loadu_ps(m0, k), k1 = _mm512_maskz_loadu_ps(m1, k + 16);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m512 qi = _mm512_set1_ps(q[g][i]);
                a[g][0] = _mm512_fmadd_ps(qi, k0, a[g][0]);
                a[g][1] = _mm512_fmadd_ps(qi, k1, a[g][1]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++) {
            _mm512_mask_storeu_ps(att[g] + aoff + j, m0, _mm512_mul_ps(a[g][0], sc16));
            _mm512_mask_storeu_ps(att[g] + aoff + j + 16, m1, _mm512_mul_ps(a[g][1], sc16));
        }
        j = n;
    }
#endif
    __m256 sc = _mm256_set1_ps(scale);
    for (; j + 16 <= n; j += 16) {
        __m256 a[QMAX][2];
        UNROLL_G for (int g = 0; g < ng; g++) a[g][0] = a[g][1] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i++) {
            const float *k = kt + (size_t)i * ld + j;
            __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m256 qi = _mm256_set1_ps(q[g][i]);
                a[g][0] = _mm256_fmadd_ps(qi, k0, a[g][0]);
                a[g][1] = _mm256_fmadd_ps(qi, k1, a[g][1]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++) {
            _mm256_storeu_ps(att[g] + aoff + j, _mm256_mul_ps(a[g][0], sc));
            _mm256_storeu_ps(att[g] + aoff + j + 8, _mm256_mul_ps(a[g][1], sc));
        }
    }
    for (; j + 8 <= n; j += 8) {
        __m256 a[QMAX];
        UNROLL_G for (int g = 0; g < ng; g++) a[g] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i++) {
            __m256 k0 = _mm256_loadu_ps(kt + (size_t)i * ld + j);
            UNROLL_G for (int g = 0; g < ng; g++) a[g] = _mm256_fmadd_ps(_mm256_set1_ps(q[g][i]), k0, a[g]);
        }
        UNROLL_G for (int g = 0; g < ng; g++) _mm256_storeu_ps(att[g] + aoff + j, _mm256_mul_ps(a[g], sc));
    }
    if (j < n) { /* 1..7 keys left: masked lanes, the same FMAs */
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane);
        __m256 a[QMAX];
        UNROLL_G for (int g = 0; g < ng; g++) a[g] = _mm256_setzero_ps();
        for (int i = 0; i < hd; i++) {
            __m256 k0 = _mm256_maskload_ps(kt + (size_t)i * ld + j, m);
            UNROLL_G for (int g = 0; g < ng; g++) a[g] = _mm256_fmadd_ps(_mm256_set1_ps(q[g][i]), k0, a[g]);
        }
        UNROLL_G for (int g = 0; g < ng; g++) _mm256_maskstore_ps(att[g] + aoff + j, m, _mm256_mul_ps(a[g], sc));
    }
}

/* o[g] += sum over cache rows [lo, hi) of att[g][aoff + j - lo] * v_j,
 * in order of j, each component an fma per key (o in registers 16
 * components at a time). */
static inline __attribute__((always_inline)) void mix_g(const fwd *f, float *const *o, int ng,
                                                        const float *restrict vc, int lo, int hi,
                                                        float *const *att, int aoff) {
    int hd = f->m->hp.head_dim, i0 = 0;
    size_t ld = (size_t)f->kv_dim;
#ifdef __AVX512F__
    /* the same per-component instructions, 64 components at a time (4
     * accumulators per query, for the FMA latency), then 32 */
    for (; ng <= 6 && i0 + 64 <= hd; i0 += 64) { /* 4 accumulators for more queries would spill */
        __m512 a[QMAX][4];
        UNROLL_G for (int g = 0; g < ng; g++)
            for (int b = 0; b < 4; b++) a[g][b] = _mm512_loadu_ps(o[g] + i0 + 16 * b);
        for (int j = lo; j < hi; j++) {
            const float *v = vc + (size_t)j * ld + i0;
            __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
            __m512 v2 = _mm512_loadu_ps(v + 32), v3 = _mm512_loadu_ps(v + 48);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m512 w = _mm512_set1_ps(att[g][aoff + j - lo]);
                a[g][0] = _mm512_fmadd_ps(w, v0, a[g][0]);
                a[g][1] = _mm512_fmadd_ps(w, v1, a[g][1]);
                a[g][2] = _mm512_fmadd_ps(w, v2, a[g][2]);
                a[g][3] = _mm512_fmadd_ps(w, v3, a[g][3]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++)
            for (int b = 0; b < 4; b++) _mm512_storeu_ps(o[g] + i0 + 16 * b, a[g][b]);
    }
    for (; i0 + 32 <= hd; i0 += 32) {
        __m512 a[QMAX][2];
        UNROLL_G for (int g = 0; g < ng; g++) {
            a[g][0] = _mm512_loadu_ps(o[g] + i0);
            a[g][1] = _mm512_loadu_ps(o[g] + i0 + 16);
        }
        for (int j = lo; j < hi; j++) {
            const float *v = vc + (size_t)j * ld + i0;
            __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m512 w = _mm512_set1_ps(att[g][aoff + j - lo]);
                a[g][0] = _mm512_fmadd_ps(w, v0, a[g][0]);
                a[g][1] = _mm512_fmadd_ps(w, v1, a[g][1]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++) {
            _mm512_storeu_ps(o[g] + i0, a[g][0]);
            _mm512_storeu_ps(o[g] + i0 + 16, a[g][1]);
        }
    }
#endif
    for (; i0 + 16 <= hd; i0 += 16) {
        __m256 a[QMAX][2];
        UNROLL_G for (int g = 0; g < ng; g++) {
            a[g][0] = _mm256_loadu_ps(o[g] + i0);
            a[g][1] = _mm256_loadu_ps(o[g] + i0 + 8);
        }
        for (int j = lo; j < hi; j++) {
            const float *v = vc + (size_t)j * ld + i0;
            __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m256 w = _mm256_set1_ps(att[g][aoff + j - lo]);
                a[g][0] = _mm256_fmadd_ps(w, v0, a[g][0]);
                a[g][1] = _mm256_fmadd_ps(w, v1, a[g][1]);
            }
        }
        UNROLL_G for (int g = 0; g < ng; g++) {
            _mm256_storeu_ps(o[g] + i0, a[g][0]);
            _mm256_storeu_ps(o[g] + i0 + 8, a[g][1]);
        }
    }
    for (; i0 + 8 <= hd; i0 += 8)
        UNROLL_G for (int g = 0; g < ng; g++) {
            __m256 a = _mm256_loadu_ps(o[g] + i0);
            for (int j = lo; j < hi; j++)
                a = _mm256_fmadd_ps(_mm256_set1_ps(att[g][aoff + j - lo]),
                                    _mm256_loadu_ps(vc + (size_t)j * ld + i0), a);
            _mm256_storeu_ps(o[g] + i0, a);
        }
    for (; i0 < hd; i0++)
        UNROLL_G for (int g = 0; g < ng; g++) {
            float a = o[g][i0];
            for (int j = lo; j < hi; j++) a = fmaf(att[g][aoff + j - lo], vc[(size_t)j * ld + i0], a);
            o[g][i0] = a;
        }
}
#else
static inline void scores_g(const fwd *f, const float *const *q, int ng, const float *restrict kt, int lo, int hi,
                            float scale, float *const *att, int aoff) {
    int hd = f->m->hp.head_dim, n = hi - lo;
    size_t ld = (size_t)f->kv_cap;
    for (int g = 0; g < ng; g++) {
        float *a = att[g] + aoff;
        for (int j = 0; j < n; j++) a[j] = 0;
        for (int i = 0; i < hd; i++)
            for (int j = 0; j < n; j++) a[j] = fmaf(q[g][i], kt[(size_t)i * ld + lo + j], a[j]);
        for (int j = 0; j < n; j++) a[j] *= scale;
    }
}

static inline void mix_g(const fwd *f, float *const *o, int ng, const float *restrict vc, int lo, int hi,
                         float *const *att, int aoff) {
    int hd = f->m->hp.head_dim;
    for (int g = 0; g < ng; g++)
        for (int j = lo; j < hi; j++) {
            const float *v = vc + (size_t)j * f->kv_dim;
            float w = att[g][aoff + j - lo];
            for (int i = 0; i < hd; i++) o[g][i] = fmaf(w, v[i], o[g][i]);
        }
}
#endif

/* Attention of rows r .. r + nrow - 1 (nrow 1 or 2; two rows of one node
 * share their keys but the second row's own last one) for query heads
 * h0 .. h0 + ng - 1 of KV head kh. Two rows go through the kernels together
 * so that each key and value loaded serves both; every score and output is
 * the same instruction sequence as for one row alone. */
static inline __attribute__((always_inline)) void attend_heads(const fwd *f, int l, int r, int nrow, int kv0, int kh,
                                                               int h0, int ng, float *out, float *att) {
    int hd = f->m->hp.head_dim, nq = ng * nrow;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kt = f->kc[l] + (size_t)kh * hd * f->kv_cap, *vc = f->vc[l] + (size_t)kh * hd;
    const int *rg = f->rng + 2 * (size_t)f->chain[r];
    int nr = f->nchain[r], lo = f->kvlo[r], hi = kv0 + r + 1;
    const float *q[QMAX];
    float *a[QMAX], *o[QMAX];
    for (int k = 0; k < nq; k++) {
        size_t row = (size_t)(r + k / ng), head = (size_t)(h0 + k % ng);
        q[k] = f->q + row * f->q_dim + head * hd;
        a[k] = att + (size_t)k * f->att_stride;
        o[k] = out + row * f->q_dim + head * hd;
    }
    int nk = 0;
    for (int c = 0; c < nr; c++) {
        scores_g(f, q, nq, kt, rg[2 * c], rg[2 * c + 1], scale, a, nk);
        nk += rg[2 * c + 1] - rg[2 * c];
    }
    scores_g(f, q, nq, kt, lo, hi, scale, a, nk);
    nk += hi - lo;
    if (nrow == 2) scores_g(f, q + ng, ng, kt, hi, hi + 1, scale, a + ng, nk);
    for (int k = 0; k < nq; k++) {
        softmax8(a[k], nk + (k >= ng));
        memset(o[k], 0, (size_t)hd * sizeof(float));
    }
    nk = 0;
    for (int c = 0; c < nr; c++) {
        mix_g(f, o, nq, vc, rg[2 * c], rg[2 * c + 1], a, nk);
        nk += rg[2 * c + 1] - rg[2 * c];
    }
    mix_g(f, o, nq, vc, lo, hi, a, nk);
    if (nrow == 2) mix_g(f, o + ng, ng, vc, hi, hi + 1, a + ng, nk + hi - lo);
}

/* Causal GQA attention of rows [r0, r1), reading keys/values of layer l
 * from the cache: row r attends to its shared ranges (rng[chain[r]] ..,
 * root first) and then to its own rows [kvlo[r], kv0 + r]; writes the
 * [q_dim] outputs into out. att: scratch for QMAX rows of scores. Rows of
 * one node (same ranges, consecutive positions) go in pairs. */
static void attention_rows(const fwd *f, int l, int r0, int r1, int kv0, float *out, float *att) {
    const model_hparams *hp = &f->m->hp;
    int group = hp->n_heads / hp->n_kv_heads;
    /* KV heads outermost: a layer's keys and values of all heads outgrow
     * L2 at long contexts (3 MB for the SmolLM shape at 2,048 positions);
     * one head's stay there while every row reads them. */
    for (int kh = 0; kh < hp->n_kv_heads; kh++)
        for (int r = r0; r < r1;) {
            int nrow = r + 1 < r1 && f->chain[r + 1] == f->chain[r] && f->nchain[r + 1] == f->nchain[r] &&
                               f->kvlo[r + 1] == f->kvlo[r]
                           ? 2
                           : 1;
            for (int g0 = 0; g0 < group; g0 += GMAX) {
                int h0 = kh * group + g0;
                switch ((nrow - 1) * GMAX + imin(GMAX, group - g0)) { /* constant counts: the loops unroll */
                case 1: attend_heads(f, l, r, 1, kv0, kh, h0, 1, out, att); break;
                case 2: attend_heads(f, l, r, 1, kv0, kh, h0, 2, out, att); break;
                case 3: attend_heads(f, l, r, 1, kv0, kh, h0, 3, out, att); break;
                case 4: attend_heads(f, l, r, 1, kv0, kh, h0, 4, out, att); break;
                case 5: attend_heads(f, l, r, 2, kv0, kh, h0, 1, out, att); break;
                case 6: attend_heads(f, l, r, 2, kv0, kh, h0, 2, out, att); break;
                case 7: attend_heads(f, l, r, 2, kv0, kh, h0, 3, out, att); break;
                default: attend_heads(f, l, r, 2, kv0, kh, h0, 4, out, att); break;
                }
            }
            r += nrow;
        }
}

typedef struct {
    const fwd *f;
    int l, r0, r1, kv0;
    float *out, *att;
} att_job;

static void *attention_worker(void *arg) {
    att_job *j = arg;
    attention_rows(j->f, j->l, j->r0, j->r1, j->kv0, j->out, j->att);
    return NULL;
}

/* Attention of rows [0, n). Rows are independent, so with several threads
 * each takes a contiguous range of about equal work (a row attends to
 * pos + 1 keys); a row's result is the same whichever thread computes it.
 * Small calls (decoding) stay on the calling thread. */
static void attention(fwd *f, int l, int n, int kv0, float *out) {
    int nt = imin(f->threads, MAX_ATT_THREADS);
    double work = 0;
    for (int r = 0; r < n; r++) work += (double)f->pos[r] + 1;
    work *= (double)f->q_dim;
    if (nt < 2 || work < ATT_PARALLEL_MIN) {
        attention_rows(f, l, 0, n, kv0, out, f->att[0]);
        return;
    }
    att_job jobs[MAX_ATT_THREADS];
    double per = work / nt, acc = 0;
    int r = 0;
    for (int t = 0; t < nt; t++) {
        int r0 = r;
        if (t == nt - 1) {
            r = n;
        } else {
            while (r < n && acc < per * (t + 1)) {
                acc += ((double)f->pos[r] + 1) * f->q_dim;
                r++;
            }
        }
        jobs[t] = (att_job){f, l, r0, r, kv0, out, f->att[t]};
    }
    fan_out(attention_worker, jobs, sizeof *jobs, nt);
}

/* The per-row work between the products of a layer, one step per call,
 * on rows [r0, r1): each row's result depends on that row alone. */
enum { ROW_ATTN_NORM, ROW_QKV, ROW_ATTN_OUT, ROW_SWIGLU, ROW_FFN_OUT };

typedef struct {
    fwd *f;
    int l, kv0, step, r0, r1;
} row_job;

static void row_step(fwd *f, int l, int kv0, int step, int r0, int r1) {
    const model_hparams *hp = &f->m->hp;
    const model_layer *w = &f->m->layers[l];
    size_t d = (size_t)hp->dim, ff = (size_t)hp->ffn_dim, kvd = (size_t)f->kv_dim;
    switch (step) {
    case ROW_ATTN_NORM:
        for (int r = r0; r < r1; r++) rmsnorm(f->xb + r * d, f->x + r * d, w->attn_norm, (int)d, hp->rms_eps);
        break;
    case ROW_QKV: /* biases, RoPE, and the rows' K/V into the cache */
        add_bias(f->q, w->bq, r0, r1, f->q_dim);
        add_bias(f->k, w->bk, r0, r1, f->kv_dim);
        add_bias(f->v, w->bv, r0, r1, f->kv_dim);
        rope(f, f->q, r0, r1, hp->n_heads);
        rope(f, f->k, r0, r1, hp->n_kv_heads);
        for (size_t i = 0; i < kvd; i++) {
            float *kt = f->kc[l] + i * f->kv_cap + kv0;
            for (int r = r0; r < r1; r++) kt[r] = f->k[r * kvd + i];
        }
        memcpy(f->vc[l] + ((size_t)kv0 + r0) * kvd, f->v + r0 * kvd, (size_t)(r1 - r0) * kvd * sizeof(float));
        break;
    case ROW_ATTN_OUT: /* residual, then the FFN's norm */
        add_to(f->x + r0 * d, f->hb + r0 * d, (size_t)(r1 - r0) * d);
        for (int r = r0; r < r1; r++) rmsnorm(f->xb + r * d, f->x + r * d, w->ffn_norm, (int)d, hp->rms_eps);
        break;
    case ROW_SWIGLU:
        swiglu(f->hb + r0 * ff, f->hb2 + r0 * ff, (size_t)(r1 - r0) * ff);
        break;
    default: /* ROW_FFN_OUT */
        add_to(f->x + r0 * d, f->xb + r0 * d, (size_t)(r1 - r0) * d);
        break;
    }
}

static void *row_worker(void *arg) {
    const row_job *j = arg;
    row_step(j->f, j->l, j->kv0, j->step, j->r0, j->r1);
    return NULL;
}

/* One step on rows [0, n), split among the threads when there are enough
 * rows to pay for starting them. */
static void rows_parallel(fwd *f, int l, int n, int kv0, int step) {
    int nt = imin(imin(f->threads, MAX_ATT_THREADS), n / ROWS_PER_THREAD_MIN);
    if (nt < 2) {
        row_step(f, l, kv0, step, 0, n);
        return;
    }
    row_job jobs[MAX_ATT_THREADS];
    for (int t = 0; t < nt; t++) jobs[t] = (row_job){f, l, kv0, step, n * t / nt, n * (t + 1) / nt};
    fan_out(row_worker, jobs, sizeof *jobs, nt);
}

static void layer(fwd *f, int l, int n, int kv0) {
    const model_hparams *hp = &f->m->hp;
    const model_layer *w = &f->m->layers[l];
    int d = hp->dim, ff = hp->ffn_dim;

    rows_parallel(f, l, n, kv0, ROW_ATTN_NORM);
    matmul(f, f->q, f->xb, &w->wq, n, d, f->q_dim);
    matmul(f, f->k, f->xb, &w->wk, n, d, f->kv_dim);
    matmul(f, f->v, f->xb, &w->wv, n, d, f->kv_dim);
    rows_parallel(f, l, n, kv0, ROW_QKV);

    double t0 = now_s();
    attention(f, l, n, kv0, f->xb);
    f->tm.attention_s += now_s() - t0;
    matmul(f, f->hb, f->xb, &w->wo, n, f->q_dim, d); /* hb as scratch [n, dim] */
    rows_parallel(f, l, n, kv0, ROW_ATTN_OUT);

    matmul(f, f->hb, f->xb, &w->w_gate, n, d, ff);
    matmul(f, f->hb2, f->xb, &w->w_up, n, d, ff);
    rows_parallel(f, l, n, kv0, ROW_SWIGLU);
    matmul(f, f->xb, f->hb, &w->w_down, n, ff, d);
    rows_parallel(f, l, n, kv0, ROW_FFN_OUT);
}

/* Runs the plan in f->tok/pos/chain/kvlo for rows [0, n), K/V at cache rows kv0..;
 * leaves the final-normed hidden states in f->xb [n, dim]. */
static int run_rows_timed(fwd *f, int n, int kv0, cj_err *e);

static int run_rows(fwd *f, int n, int kv0, cj_err *e) {
    double t0 = now_s();
    int rc = run_rows_timed(f, n, kv0, e);
    f->tm.forward_s += now_s() - t0;
    f->tm.rows += n;
    return rc;
}

static int run_rows_timed(fwd *f, int n, int kv0, cj_err *e) {
    const model_hparams *hp = &f->m->hp;
    int max_pos = 0;
    for (int r = 0; r < n; r++) max_pos = imax(max_pos, f->pos[r]);
    if (ensure_rope(f, max_pos + 1, e) || ensure_kv(f, kv0 + n, e)) return -1;
    ensure_att(f, max_pos + 1 + 8); /* softmax8 pads to a multiple of 8 */
    int d = hp->dim;
    for (int r = 0; r < n; r++) model_mat_rows(&f->m->tok_embd, f->tok[r], 1, d, f->x + (size_t)r * d);
    for (int l = 0; l < hp->n_layers; l++) layer(f, l, n, kv0);
    for (int r = 0; r < n; r++)
        rmsnorm(f->xb + (size_t)r * d, f->x + (size_t)r * d, f->m->output_norm, d, hp->rms_eps);
    return 0;
}

/* Logits of the rows f->hsel[0..nr), nr <= out_cap, into f->logits [nr, vocab]. */
static void hsel_logits(fwd *f, int nr) {
    const model_mat *w = &f->m->output;
    int V = f->m->hp.vocab_size, d = f->m->hp.dim;
    double t0 = now_s();
    gemm_mat(f->gm, f->logits, V, f->hsel, d, w, nr, d, V);
    f->tm.matrix_s += now_s() - t0;
    f->tm.matrix_flops += 2.0 * nr * d * V;
}

/* Logits of the final-normed rows rows[0..nr) of f->xb, nr <= out_cap, into
 * f->logits [nr, vocab]. */
static void logits_rows(fwd *f, const int *rows, int nr) {
    int d = f->m->hp.dim;
    for (int i = 0; i < nr; i++)
        memcpy(f->hsel + (size_t)i * d, f->xb + (size_t)rows[i] * d, (size_t)d * sizeof(float));
    hsel_logits(f, nr);
}

float fwd_logprob(const float *logits, int n, int tok, int *argmax) {
    int am = 0;
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) {
            mx = logits[i];
            am = i;
        }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += expf(logits[i] - mx);
    if (argmax) *argmax = am;
    return (float)((double)logits[tok] - mx - log(sum));
}

/* --- the prefix tree ------------------------------------------------------------
 *
 * fwd_score builds a radix tree of its sequences (sorted, then split at the
 * longest common prefixes of neighbours): a node is a run of positions
 * [d0, d1) whose tokens every sequence below it shares. Nodes are computed
 * once each, in depth-first order, packed into batches of max_batch rows (a
 * node longer than what is left of a batch continues in the next one); a
 * row attends to its ancestors' cache rows, root first, then to its own
 * node's. Between batches the cache is compacted to the nodes still needed:
 * those with descendants left to compute, the node being computed, and the
 * path kept for the next call. That path, the deepest node on the last
 * sequence's path that at least half of the sequences go through, stays at
 * cache rows [0, P) in position order after the call (within the KV budget),
 * and the next call's sequences that begin with its tokens attend to it
 * instead of computing it again. */

/* An output: batch row `row` predicts seqs[s].tokens[t]. */
typedef struct {
    int row, s, t;
} out_row;

typedef struct {
    const int *toks; /* the tokens of a sequence through this node, by position */
    int parent;      /* node index, -1 for a root */
    int d0, d1;      /* positions */
    int done;        /* positions d0 .. d0 + done - 1 have K/V at cache rows kv .. */
    int kv;
    int pending;     /* nodes below still to compute */
    int owner;       /* first sequence (input order) through it, -1 if none */
    int keep;        /* on the path kept for the next call */
    int out0, nout;  /* its outputs: outs[out0 .. out0 + nout), row = offset in the node */
} tnode;

typedef struct {
    tnode *node;
    int n, cap;
    int *leaf;     /* [n_seqs + 1]: the node where each sequence ends (the last: the retained prefix) */
    int *order;    /* the sequences in the order the tree was built (sorted when sharing) */
    int n_order;
    int *sched;    /* nodes to compute, in order */
    int n_sched;
    out_row *outs; /* by node */
} trie;

static int new_node(trie *T, const int *toks, int parent, int d0, int d1) {
    if (T->n == T->cap) {
        T->cap = T->cap ? 2 * T->cap : 64;
        T->node = cj_xrealloc(T->node, (size_t)T->cap * sizeof *T->node);
    }
    T->node[T->n] = (tnode){toks, parent, d0, d1, 0, -1, 0, -1, 0, 0, 0};
    return T->n++;
}

static int lcp(const int *a, int na, const int *b, int nb) {
    int n = imin(na, nb), i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Sequence views for sorting: index n is the retained prefix. */
typedef struct {
    const int *t;
    int n;
} tokseq;

static int seq_less(const tokseq *v, int a, int b) {
    int l = lcp(v[a].t, v[a].n, v[b].t, v[b].n);
    if (l < v[a].n && l < v[b].n) return v[a].t[l] < v[b].t[l];
    if (v[a].n != v[b].n) return v[a].n < v[b].n;
    return a < b;
}

/* Sorts idx[0..n) by token sequence (stable merge sort; tmp: n ints). */
static void sort_seqs(const tokseq *v, int *idx, int *tmp, int n) {
    if (n < 2) return;
    int h = n / 2;
    sort_seqs(v, idx, tmp, h);
    sort_seqs(v, idx + h, tmp, n - h);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = seq_less(v, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof(int));
}

/* Builds the tree of v[0..nv) in T (sharing off: one node per sequence). */
static void trie_build(trie *T, const tokseq *v, int nv, int share) {
    int *idx = cj_xmalloc((size_t)nv * sizeof(int)), *tmp = cj_xmalloc((size_t)nv * sizeof(int));
    int *stack = cj_xmalloc((size_t)(2 * nv + 1) * sizeof(int)), sp = 0;
    for (int i = 0; i < nv; i++) idx[i] = i;
    if (share) sort_seqs(v, idx, tmp, nv);
    for (int k = 0; k < nv; k++) {
        const tokseq *s = &v[idx[k]];
        int l = share && k ? lcp(v[idx[k - 1]].t, v[idx[k - 1]].n, s->t, s->n) : 0;
        while (sp > 0 && T->node[stack[sp - 1]].d0 >= l) sp--;
        if (sp > 0 && T->node[stack[sp - 1]].d1 > l) { /* split the node at l */
            int old = stack[sp - 1];
            int x = new_node(T, T->node[old].toks, T->node[old].parent, T->node[old].d0, l);
            T->node[old].d0 = l;
            T->node[old].parent = x;
            stack[sp - 1] = x;
        }
        if (s->n > l || sp == 0) {
            int x = new_node(T, s->t, sp ? stack[sp - 1] : -1, l, s->n);
            stack[sp++] = x;
        }
        T->leaf[idx[k]] = stack[sp - 1];
    }
    T->order = idx;
    T->n_order = nv;
    free(tmp);
    free(stack);
}

/* Attaches each scored position of seqs[0..n) to the node holding the row
 * that predicts it (position t - 1), grouped by node. */
static void trie_outputs(trie *T, const fwd_seq *seqs, int n) {
    for (int s = 0; s < n; s++)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) {
            tnode *N = &T->node[x];
            int a = imax(N->d0, seqs[s].score_from - 1), b = imin(N->d1, seqs[s].n_tokens - 1);
            if (b > a) N->nout += b - a;
        }
    int total = 0;
    for (int x = 0; x < T->n; x++) {
        T->node[x].out0 = total;
        total += T->node[x].nout;
        T->node[x].nout = 0;
    }
    T->outs = cj_xmalloc((size_t)imax(total, 1) * sizeof *T->outs);
    for (int s = 0; s < n; s++)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) {
            tnode *N = &T->node[x];
            int a = imax(N->d0, seqs[s].score_from - 1), b = imin(N->d1, seqs[s].n_tokens - 1);
            for (int p = a; p < b; p++) T->outs[N->out0 + N->nout++] = (out_row){p - N->d0, s, p + 1};
        }
}

/* Marks owners; the retained prefix's nodes as computed (at cache row =
 * position), except those a prediction is read from (their hidden states
 * were not kept, so they run again); the schedule (depth first: sequences in
 * sorted order, each path root first); pending counts; the path to keep. */
static void trie_plan(trie *T, int n, int ret_n, int keep_max) {
    for (int s = n - 1; s >= 0; s--)
        for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) T->node[x].owner = s;
    if (ret_n > 0)
        for (int x = T->leaf[n]; x >= 0; x = T->node[x].parent)
            if (T->node[x].nout == 0) {
                T->node[x].done = T->node[x].d1 - T->node[x].d0;
                T->node[x].kv = T->node[x].d0;
            }
    /* depth first: the sequences in the order the tree was built, each
     * path root first */
    int *path = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    char *seen = cj_xcalloc((size_t)T->n + 1, 1);
    T->sched = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    for (int k = 0; k < T->n_order; k++) {
        int np = 0;
        if (T->order[k] == n) continue; /* the retained prefix: nothing to compute */
        for (int x = T->leaf[T->order[k]]; x >= 0; x = T->node[x].parent) path[np++] = x;
        while (np-- > 0) {
            int x = path[np];
            tnode *N = &T->node[x];
            if (seen[x] || N->done == N->d1 - N->d0) continue;
            seen[x] = 1;
            T->sched[T->n_sched++] = x;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) T->node[a].pending++;
        }
    }
    /* keep: deepest node on the last sequence's path that half the
     * sequences (at least 2) go through, if its path fits keep_max */
    if (n > 0 && keep_max > 0) {
        int *count = cj_xcalloc((size_t)T->n, sizeof(int));
        for (int s = 0; s < n; s++)
            for (int x = T->leaf[s]; x >= 0; x = T->node[x].parent) count[x]++;
        for (int x = T->leaf[n - 1]; x >= 0; x = T->node[x].parent)
            if (count[x] >= imax(2, (n + 1) / 2) && T->node[x].d1 <= keep_max) {
                for (int a = x; a >= 0; a = T->node[a].parent) T->node[a].keep = 1;
                break;
            }
        free(count);
    }
    free(path);
    free(seen);
}

static void trie_free(trie *T) {
    free(T->node);
    free(T->leaf);
    free(T->order);
    free(T->sched);
    free(T->outs);
}

/* --- the cache between batches ----------------------------------------------- */

/* Moves cache rows [src, src + n) of every layer to [dst, dst + n), dst <= src. */
static void kv_move(fwd *f, int dst, int src, int n) {
    if (dst == src || n == 0) return;
    for (int l = 0; l < f->m->hp.n_layers; l++) {
        for (int d = 0; d < f->kv_dim; d++) {
            float *k = f->kc[l] + (size_t)d * f->kv_cap;
            memmove(k + dst, k + src, (size_t)n * sizeof(float));
        }
        memmove(f->vc[l] + (size_t)dst * f->kv_dim, f->vc[l] + (size_t)src * f->kv_dim,
                (size_t)n * f->kv_dim * sizeof(float));
    }
}

/* Keeps only the nodes still needed, moved down to rows [0, live) in their
 * order in the cache (the node being computed, if any, is the highest and
 * stays last, so that its next rows follow). Returns live. */
static int kv_compact(fwd *f, trie *T, int *tmp) {
    int nl = 0;
    for (int x = 0; x < T->n; x++) {
        tnode *N = &T->node[x];
        if (N->done > 0 && (N->pending > 0 || N->keep || N->done < N->d1 - N->d0)) tmp[nl++] = x;
        else N->kv = -1;
    }
    for (int i = 1; i < nl; i++) /* by cache row (insertion sort: few live nodes) */
        for (int j = i; j > 0 && T->node[tmp[j - 1]].kv > T->node[tmp[j]].kv; j--) {
            int t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    int top = 0;
    for (int i = 0; i < nl; i++) {
        tnode *N = &T->node[tmp[i]];
        kv_move(f, top, N->kv, N->done);
        N->kv = top;
        top += N->done;
    }
    return top;
}

/* --- scoring ------------------------------------------------------------------ */

static int out_cmp(const void *a, const void *b) {
    const out_row *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Computes the log-probs of outs[0..n) (sorted by row) from the rows in
 * f->xb: one logit row per distinct batch row. */
static void score_outputs(fwd *f, fwd_seq *seqs, const out_row *outs, int n) {
    int vocab = f->m->hp.vocab_size, d = f->m->hp.dim;
    for (int i0 = 0; i0 < n;) {
        int nr = 0, i1 = i0;
        while (i1 < n && (nr < f->out_cap || outs[i1].row == outs[i1 - 1].row)) {
            if (i1 == i0 || outs[i1].row != outs[i1 - 1].row)
                memcpy(f->hsel + (size_t)nr++ * d, f->xb + (size_t)outs[i1].row * d, (size_t)d * sizeof(float));
            i1++;
        }
        hsel_logits(f, nr);
        for (int i = i0, k = -1; i < i1; i++) {
            if (i == i0 || outs[i].row != outs[i - 1].row) k++;
            const out_row *o = &outs[i];
            fwd_seq *sq = &seqs[o->s];
            int am, j = o->t - sq->score_from;
            sq->logprobs[j] = fwd_logprob(f->logits + (size_t)k * vocab, vocab, sq->tokens[o->t], &am);
            if (sq->argmax) sq->argmax[j] = am;
        }
        i0 = i1;
    }
}

static void plan_row(fwd *f, int r, int tok, int pos, int chain, int nchain, int kvlo) {
    f->tok[r] = tok;
    f->pos[r] = pos;
    f->chain[r] = chain;
    f->nchain[r] = nchain;
    f->kvlo[r] = kvlo;
}

/* Rows a batch may take with `live` cache rows held, within the KV budget
 * (but at least a few, so that any sequence progresses). */
/* Bytes of one cache row (K and V of every layer) and of one batch row's
 * activations (x, xb, q, k, v, hb, hb2). */
static size_t kv_row_bytes(const fwd *f) { return (size_t)f->m->hp.n_layers * 2 * (size_t)f->kv_dim * sizeof(float); }
static size_t act_row_bytes(const fwd *f) {
    const model_hparams *hp = &f->m->hp;
    size_t w = (size_t)hp->dim + (size_t)imax(hp->dim, f->q_dim) + (size_t)f->q_dim + 2 * (size_t)f->kv_dim +
               (size_t)imax(hp->ffn_dim, hp->dim) + (size_t)hp->ffn_dim;
    return w * sizeof(float);
}

/* Rows the next batch may take with `live` cache rows in use: under the
 * budget, each new row costs its cache row and its activations. */
static int batch_room(const fwd *f, int live) {
    int room = f->max_batch;
    if (f->budget) {
        size_t used = (size_t)live * kv_row_bytes(f);
        size_t fit = used < f->budget ? (f->budget - used) / (kv_row_bytes(f) + act_row_bytes(f)) : 0;
        room = imin(room, imax(fit < (size_t)room ? (int)fit : room, imin(room, 64)));
    }
    return room;
}

/* Runs the schedule of T batch by batch and scores every output. */
static int run_trie(fwd *f, fwd_seq *seqs, trie *T, cj_err *e) {
    int *tmp = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    out_row *outs = NULL;
    int out_cap = 0, rc = 0;
    int *units = cj_xmalloc((size_t)(f->max_batch + 1) * 3 * sizeof(int)); /* node, first offset, rows */
    for (int k = 0; k < T->n_sched && rc == 0;) {
        int kv0 = kv_compact(f, T, tmp), room = batch_room(f, kv0), n = 0, nu = 0, nrng = 0;
        while (k < T->n_sched && n < room) {
            int x = T->sched[k];
            tnode *N = &T->node[x];
            int take = imin(N->d1 - N->d0 - N->done, room - n);
            if (N->done == 0) N->kv = kv0 + n;
            /* the ancestors' ranges, root first */
            int depth = 0;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) depth++;
            if (f->rng_cap < nrng + depth) {
                f->rng_cap = imax(2 * f->rng_cap, nrng + depth + 64);
                f->rng = cj_xrealloc(f->rng, (size_t)f->rng_cap * 2 * sizeof(int));
            }
            int c = depth;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) {
                c--;
                f->rng[2 * (nrng + c)] = T->node[a].kv;
                f->rng[2 * (nrng + c) + 1] = T->node[a].kv + T->node[a].d1 - T->node[a].d0;
            }
            for (int i = 0; i < take; i++) {
                int p = N->d0 + N->done + i;
                plan_row(f, n + i, N->toks[p], p, nrng, depth, N->kv);
            }
            nrng += depth;
            units[3 * nu] = x;
            units[3 * nu + 1] = N->done;
            units[3 * nu + 2] = take;
            nu++;
            N->done += take;
            n += take;
            if (N->owner >= 0) seqs[N->owner].computed += take;
            if (N->done < N->d1 - N->d0) break; /* continues in the next batch */
            k++;
        }
        if (run_rows(f, n, kv0, e)) {
            rc = -1;
            break;
        }
        /* outputs of the rows just computed */
        int no = 0, row = 0;
        for (int u = 0; u < nu; u++) {
            tnode *N = &T->node[units[3 * u]];
            int off0 = units[3 * u + 1], cnt = units[3 * u + 2];
            for (int i = 0; i < N->nout; i++) {
                out_row o = T->outs[N->out0 + i];
                if (o.row < off0 || o.row >= off0 + cnt) continue;
                if (no == out_cap) {
                    out_cap = out_cap ? 2 * out_cap : 256;
                    outs = cj_xrealloc(outs, (size_t)out_cap * sizeof *outs);
                }
                o.row = row + o.row - off0;
                outs[no++] = o;
            }
            row += cnt;
            if (N->done == N->d1 - N->d0)
                for (int a = N->parent; a >= 0; a = T->node[a].parent) T->node[a].pending--;
        }
        if (no > 0) {
            qsort(outs, (size_t)no, sizeof *outs, out_cmp);
            score_outputs(f, seqs, outs, no);
        }
    }
    if (rc == 0) {
        /* what stays: the kept path, at rows [0, P) in position order */
        int live = kv_compact(f, T, tmp), ok = 1, P = 0;
        for (int x = 0; x < T->n; x++)
            if (T->node[x].kv >= 0) {
                ok &= T->node[x].kv == T->node[x].d0;
                P = imax(P, T->node[x].d1);
            }
        int *kept = ok && live == P && P > 0 ? cj_xmalloc((size_t)P * sizeof(int)) : NULL;
        for (int x = 0; kept && x < T->n; x++)
            if (T->node[x].kv >= 0)
                memcpy(kept + T->node[x].d0, T->node[x].toks + T->node[x].d0,
                       (size_t)(T->node[x].d1 - T->node[x].d0) * sizeof(int));
        free(f->ret_tok); /* nodes may point into it: replaced only now */
        f->ret_tok = kept;
        f->ret_n = kept ? P : 0;
    } else {
        f->ret_n = 0;
    }
    free(tmp);
    free(outs);
    free(units);
    return rc;
}

static int check_tokens(const fwd *f, const int *tokens, int n, const char *what, cj_err *e) {
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= f->m->hp.vocab_size)
            return cj_fail(e, "forward: %s token %d is id %d, outside the vocabulary (0..%d)", what, i, tokens[i],
                           f->m->hp.vocab_size - 1);
    return 0;
}

int fwd_score(fwd *f, fwd_seq *seqs, int n, cj_err *e) {
    for (int s = 0; s < n; s++) {
        const fwd_seq *sq = &seqs[s];
        if (sq->n_tokens < 1 || sq->score_from < 1 || sq->score_from > sq->n_tokens)
            return cj_fail(e, "forward: sequence %d has n_tokens %d and score_from %d (need 1 <= score_from <= n_tokens)",
                           s, sq->n_tokens, sq->score_from);
        if (sq->score_from < sq->n_tokens && !sq->logprobs)
            return cj_fail(e, "forward: sequence %d has no logprobs array", s);
        if (check_tokens(f, sq->tokens, sq->n_tokens, "sequence", e)) return -1;
    }
    f->n_past = 0; /* decoding state: the cache is about to be overwritten */
    int ret_n = f->share ? f->ret_n : 0;
    tokseq *v = cj_xmalloc((size_t)(n + 1) * sizeof *v);
    /* A sequence's last token is input to no prediction: it is left out,
     * so that the choices of a question that differ in their last token
     * only (one-token answers) share every row. */
    for (int s = 0; s < n; s++) {
        v[s] = (tokseq){seqs[s].tokens, imax(1, seqs[s].n_tokens - 1)};
        seqs[s].computed = 0;
    }
    v[n] = (tokseq){f->ret_tok, ret_n};
    trie T = {0};
    T.leaf = cj_xmalloc((size_t)(n + 1) * sizeof(int));
    trie_build(&T, v, n + (ret_n > 0), f->share);
    trie_outputs(&T, seqs, n);
    int keep_max = 0;
    if (f->share) keep_max = f->kv_budget_rows > 0 ? f->kv_budget_rows / 2 : f->max_batch;
    trie_plan(&T, n, ret_n, keep_max);
    int rc = run_trie(f, seqs, &T, e);
    trie_free(&T);
    free(v);
    return rc;
}

void fwd_set_prefix_sharing(fwd *f, int on) {
    f->share = on != 0;
    f->ret_n = 0;
}

void fwd_set_kernels(fwd *f, gemm_kernels k) {
    if (gemm_get_kernels(f->gm) == k) return;
    gemm_free(f->gm);
    f->gm = gemm_new(f->threads, k);
}

gemm_kernels fwd_kernels(const fwd *f) { return gemm_get_kernels(f->gm); }

void fwd_set_kv_budget(fwd *f, size_t bytes) {
    size_t rows = bytes / kv_row_bytes(f);
    f->budget = bytes;
    f->kv_budget_rows = bytes == 0 ? 0 : (int)(rows > INT32_MAX / 4 ? INT32_MAX / 4 : imax((int)rows, 1));
    f->ret_n = 0;
}

int fwd_batch_tokens(const fwd *f) { return f->max_batch; }

fwd_timing fwd_get_timing(const fwd *f) { return f->tm; }

/* --- decoding ---------------------------------------------------------------- */

void fwd_reset(fwd *f) {
    f->n_past = 0;
    f->ret_n = 0; /* decoding overwrites the cache */
}

int fwd_n_past(const fwd *f) { return f->n_past; }

int fwd_push(fwd *f, const int *tokens, int n, float *logits, cj_err *e) {
    if (n < 1) return cj_fail(e, "forward: fwd_push of %d tokens", n);
    if (n > INT32_MAX - f->n_past) return cj_fail(e, "forward: decoding past %d positions", INT32_MAX);
    if (check_tokens(f, tokens, n, "pushed", e)) return -1;
    f->ret_n = 0; /* decoding overwrites the cache */
    int rc = 0;
    for (int c0 = 0; c0 < n && !rc; c0 += f->max_batch) {
        int m = imin(f->max_batch, n - c0);
        for (int r = 0; r < m; r++) plan_row(f, r, tokens[c0 + r], f->n_past + r, 0, 0, 0);
        rc = run_rows(f, m, f->n_past, e);
        if (!rc) f->n_past += m;
        if (!rc && logits && c0 + m == n) {
            int last = m - 1;
            logits_rows(f, &last, 1);
            memcpy(logits, f->logits, (size_t)f->m->hp.vocab_size * sizeof(float));
        }
    }
    return rc;
}

/* --- lifetime ---------------------------------------------------------------- */

int fwd_new(const model *m, int threads, int max_batch_tokens, fwd **out, cj_err *e) {
    *out = NULL;
    const model_hparams *hp = &m->hp;
    if (model_check_hparams(hp, "forward", e)) return -1;
    if (threads < 0) return cj_fail(e, "forward: threads = %d (0 means all cores)", threads);
    if (max_batch_tokens < 0 || max_batch_tokens > MAX_BATCH_TOKENS)
        return cj_fail(e, "forward: batch of %d tokens is out of range (0..%d)", max_batch_tokens, MAX_BATCH_TOKENS);
    fwd *f = cj_xcalloc(1, sizeof *f);
    f->m = m;
    if (threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 && nc < 1024 ? (int)nc : 1;
    }
    f->threads = threads;
    f->max_batch = max_batch_tokens ? max_batch_tokens : DEFAULT_BATCH_TOKENS;
    f->q_dim = hp->n_heads * hp->head_dim;
    f->kv_dim = hp->n_kv_heads * hp->head_dim;
    f->out_cap = imax(1, imin(f->max_batch, LOGIT_BUDGET / hp->vocab_size));
    f->gm = gemm_new(threads, GEMM_OWN);

    /* Sizes below fit: hparams are bounded by model_check_hparams and the
     * batch by MAX_BATCH_TOKENS, so rows * width stays far below SIZE_MAX. */
    int wide = imax(hp->dim, f->q_dim);
    f->x = alloc_rows(f->max_batch, hp->dim);
    f->xb = alloc_rows(f->max_batch, wide);
    f->q = alloc_rows(f->max_batch, f->q_dim);
    f->k = alloc_rows(f->max_batch, f->kv_dim);
    f->v = alloc_rows(f->max_batch, f->kv_dim);
    f->hb = alloc_rows(f->max_batch, imax(hp->ffn_dim, hp->dim));
    f->hb2 = alloc_rows(f->max_batch, hp->ffn_dim);
    f->tok = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->pos = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->chain = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->nchain = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->rng_cap = 64;
    f->rng = cj_xcalloc((size_t)f->rng_cap * 2, sizeof(int));
    f->kvlo = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->share = 1;
    f->rope_bf16 = m->format && !strcmp(m->format, "safetensors") && m->dtype && !strcmp(m->dtype, "BF16");
    f->hsel = alloc_rows(f->out_cap, hp->dim);
    f->logits = alloc_rows(f->out_cap, hp->vocab_size);
    f->kc = cj_xcalloc((size_t)hp->n_layers, sizeof(float *));
    f->vc = cj_xcalloc((size_t)hp->n_layers, sizeof(float *));
    if (ensure_rope(f, f->max_batch, e)) {
        fwd_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void fwd_free(fwd *f) {
    if (!f) return;
    free(f->x);
    free(f->xb);
    free(f->q);
    free(f->k);
    free(f->v);
    free(f->hb);
    free(f->hb2);
    for (int t = 0; t < MAX_ATT_THREADS; t++) free(f->att[t]);
    free(f->tok);
    free(f->pos);
    free(f->chain);
    free(f->nchain);
    free(f->rng);
    free(f->ret_tok);
    free(f->kvlo);
    gemm_free(f->gm);
    free(f->hsel);
    free(f->logits);
    for (int l = 0; f->kc && l < f->m->hp.n_layers; l++) {
        kv_unmap(f->kc[l], (size_t)f->kv_cap * f->kv_dim);
        kv_unmap(f->vc[l], (size_t)f->kv_cap * f->kv_dim);
    }
    free(f->kc);
    free(f->vc);
    free(f->rope_cos);
    free(f->rope_sin);
    free(f);
}
