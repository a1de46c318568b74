/* attention — attention over the KV cache, and the vector exp it shares
 * with SwiGLU (fwd_impl.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fwd_impl.h"

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
void fwd_swiglu(float *restrict g, const float *restrict u, size_t n) {
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


/* How far ahead the kernels prefetch: keys ATT_PF_K floats on (two tiles
 * of one head), values ATT_PF_V rows on. A decoding row's own range is read
 * once per step from memory, and the hardware prefetchers alone left the
 * kernels waiting on it. */
#define ATT_PF_K 512
#define ATT_PF_V 16
#if ATT_SIMD
/* Scores of the ng queries q[g] with the W keys of one tile (kt: the
 * tile's head_dim x KT floats, fwd_impl.h) starting at lane l0, into acc[g]:
 * each lane's score is fma(q[i], k[i], acc) in order of i. W is 8 or 16. */
static inline __attribute__((always_inline)) void tile_scores(int hd, const float *const *q, int ng,
                                                              const float *restrict kt, int l0, int W,
                                                              __m256 acc[QMAX][2]) {
    UNROLL_G for (int g = 0; g < ng; g++) acc[g][0] = acc[g][1] = _mm256_setzero_ps();
    kt += l0;
    if (W == 16) {
        for (int i = 0; i < hd; i++, kt += KT) {
            _mm_prefetch((const char *)(kt + ATT_PF_K), _MM_HINT_T0);
            __m256 k0 = _mm256_loadu_ps(kt), k1 = _mm256_loadu_ps(kt + 8);
            UNROLL_G for (int g = 0; g < ng; g++) {
                __m256 qi = _mm256_broadcast_ss(q[g] + i);
                acc[g][0] = _mm256_fmadd_ps(qi, k0, acc[g][0]);
                acc[g][1] = _mm256_fmadd_ps(qi, k1, acc[g][1]);
            }
        }
    } else {
        for (int i = 0; i < hd; i++, kt += KT) {
            __m256 k0 = _mm256_loadu_ps(kt);
            UNROLL_G for (int g = 0; g < ng; g++) acc[g][0] = _mm256_fmadd_ps(_mm256_broadcast_ss(q[g] + i), k0, acc[g][0]);
        }
    }
}

/* Scaled dot products of the ng queries q[g] with the keys at cache rows
 * [lo, hi) of one head (kt: its first tile), into att[g] + aoff. The keys
 * are read a tile at a time, whole 8- or 16-lane pieces of it, and the lanes
 * outside [lo, hi) are dropped: every score is fma(q[i], k[i], acc) in order
 * of i whatever the piece it was computed in, so the same bits. Up to 6
 * queries take 16 lanes at once (12 accumulators); more take 8. */
static inline __attribute__((always_inline)) void scores_g(const fwd *f, const float *const *q, int ng,
                                                           const float *restrict kt, int lo, int hi, float scale,
                                                           float *const *att, int aoff) {
    int hd = f->m->hp.head_dim, W = ng <= 6 ? 16 : 8;
    size_t ts = (size_t)hd * KT; /* floats from a tile to the next */
    __m256 sc = _mm256_set1_ps(scale);
    for (int p = lo - lo % W; p < hi; p += W) {
        __m256 acc[QMAX][2];
        tile_scores(hd, q, ng, kt + (size_t)(p / KT) * ts, p % KT, W, acc);
        int a = imax(lo, p), b = imin(hi, p + W); /* the lanes [a - p, b - p) are wanted */
        UNROLL_G for (int g = 0; g < ng; g++) {
            float *dst = att[g] + aoff + (a - lo);
            if (b - a == W) {
                _mm256_storeu_ps(dst, _mm256_mul_ps(acc[g][0], sc));
                if (W == 16) _mm256_storeu_ps(dst + 8, _mm256_mul_ps(acc[g][1], sc));
            } else {
                float tmp[16];
                _mm256_storeu_ps(tmp, _mm256_mul_ps(acc[g][0], sc));
                if (W == 16) _mm256_storeu_ps(tmp + 8, _mm256_mul_ps(acc[g][1], sc));
                memcpy(dst, tmp + (a - p), (size_t)(b - a) * sizeof(float));
            }
        }
    }
}

/* o[g] += sum over cache rows [lo, hi) of att[g][aoff + j - lo] * v_j,
 * in order of j, each component an fma per key (o in registers 16
 * components at a time). */
static inline __attribute__((always_inline)) void mix_g(const fwd *f, float *const *o, int ng,
                                                        const float *restrict vc, int lo, int hi,
                                                        float *const *att, int aoff) {
    int hd = f->m->hp.head_dim, i0 = 0;
    size_t ld = (size_t)hd;
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
            _mm_prefetch((const char *)(v + ATT_PF_V * ld), _MM_HINT_T0);
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
    size_t ts = (size_t)hd * KT;
    for (int g = 0; g < ng; g++) {
        float *a = att[g] + aoff;
        for (int j = 0; j < n; j++) {
            const float *k = kt + (size_t)((lo + j) / KT) * ts + (lo + j) % KT;
            float acc = 0;
            for (int i = 0; i < hd; i++) acc = fmaf(q[g][i], k[(size_t)i * KT], acc);
            a[j] = acc * scale;
        }
    }
}

static inline void mix_g(const fwd *f, float *const *o, int ng, const float *restrict vc, int lo, int hi,
                         float *const *att, int aoff) {
    int hd = f->m->hp.head_dim;
    for (int g = 0; g < ng; g++)
        for (int j = lo; j < hi; j++) {
            const float *v = vc + (size_t)j * hd;
            float w = att[g][aoff + j - lo];
            for (int i = 0; i < hd; i++) o[g][i] = fmaf(w, v[i], o[g][i]);
        }
}
#endif

/* Keys row r leaves out under layer l's sliding window: a row at position p
 * keeps the keys at positions > p - W (transformers' sliding_window_overlay,
 * llama.cpp's LLAMA_SWA_TYPE_STANDARD), i.e. its last W keys. */
static inline int row_skip(const fwd *f, int l, int r) {
    int w = model_layer_window(&f->m->hp, l);
    return w > 0 ? imax(0, f->pos[r] + 1 - w) : 0;
}

/* Moves *lo (cache rows [*lo, hi)) past up to *skip of its keys, taking
 * them off *skip. */
static inline void trim_front(int *lo, int hi, int *skip) {
    int d = imin(*skip, hi - *lo);
    *lo += d;
    *skip -= d;
}

/* Attention of rows r .. r + nrow - 1 (nrow 1 or 2) for query heads
 * h0 .. h0 + ng - 1 of KV head kh, each row without its first `skip` keys
 * (the same for both rows). Two rows share their chain of ranges:
 * the chain's keys and values, loaded once, serve both. If they are two
 * rows of one node (same own range but the second row's last key: `node`)
 * the own range is shared too; else each row's own range goes alone (two
 * sequences decoded together). Every score and output is the same
 * instruction sequence as for one row alone. */
static inline __attribute__((always_inline)) void attend_heads(const fwd *f, int l, int r, int nrow, int node, int skip,
                                                               int kh, int h0, int ng, float *out, float *att) {
    const model_hparams *hp = &f->m->hp;
    int hd = hp->head_dim, nq = ng * nrow;
    float scale = hp->attn_scale > 0 ? hp->attn_scale : 1.0f / sqrtf((float)hd);
    const float *kt = f->kc[l] + (size_t)kh * f->kv_cap * hd, *vc = f->vc[l] + (size_t)kh * f->kv_cap * hd;
    const int *rg = f->rng + 2 * (size_t)f->chain[r];
    int nr = f->nchain[r];
    const float *q[QMAX];
    float *a[QMAX], *o[QMAX];
    for (int k = 0; k < nq; k++) {
        size_t row = (size_t)(r + k / ng), head = (size_t)(h0 + k % ng);
        q[k] = f->q + row * f->q_dim + head * hd;
        a[k] = att + (size_t)k * f->att_stride;
        o[k] = out + row * f->q_dim + head * hd;
    }
    int nk = 0, left = skip; /* keys of the chain; keys still to skip */
    for (int c = 0; c < nr; c++) {
        int c0 = rg[2 * c], c1 = rg[2 * c + 1];
        trim_front(&c0, c1, &left);
        scores_g(f, q, nq, kt, c0, c1, scale, a, nk);
        nk += c1 - c0;
    }
    int lo[2], hi[2];
    for (int i = 0; i < nrow; i++) { /* a row keeps at least its own key: left < its own range */
        lo[i] = f->kvlo[r + i] + left;
        hi[i] = f->kvrow[r + i] + 1;
    }
    if (node) { /* the own range together, then the second row's own last key */
        scores_g(f, q, nq, kt, lo[0], hi[0], scale, a, nk);
        scores_g(f, q + ng, ng, kt, hi[0], hi[1], scale, a + ng, nk + hi[0] - lo[0]);
    } else {
        for (int i = 0; i < nrow; i++) scores_g(f, q + i * ng, ng, kt, lo[i], hi[i], scale, a + i * ng, nk);
    }
    for (int k = 0; k < nq; k++) {
        if (hp->attn_softcap > 0) block_softcap(a[k], (size_t)(nk + hi[k / ng] - lo[k / ng]), hp->attn_softcap);
        softmax8(a[k], nk + hi[k / ng] - lo[k / ng]);
        memset(o[k], 0, (size_t)hd * sizeof(float));
    }
    int mk = 0;
    left = skip;
    for (int c = 0; c < nr; c++) {
        int c0 = rg[2 * c], c1 = rg[2 * c + 1];
        trim_front(&c0, c1, &left);
        mix_g(f, o, nq, vc, c0, c1, a, mk);
        mk += c1 - c0;
    }
    if (node) {
        mix_g(f, o, nq, vc, lo[0], hi[0], a, nk);
        mix_g(f, o + ng, ng, vc, hi[0], hi[1], a + ng, nk + hi[0] - lo[0]);
    } else {
        for (int i = 0; i < nrow; i++) mix_g(f, o + i * ng, ng, vc, lo[i], hi[i], a + i * ng, nk);
    }
}

/* Causal GQA attention of rows [r0, r1), reading keys/values of layer l
 * from the cache: row r attends to its shared ranges (rng[chain[r]] ..,
 * root first) and then to its own rows [kvlo[r], kvrow[r]]; writes the
 * [q_dim] outputs into out. att: scratch for QMAX rows of scores. Rows that
 * share their chain and leave out as many keys under the sliding window go
 * in pairs (past the window, two rows of one node never do: each row's
 * keys are then trimmed alone, as they would be in any other batch). */
static void attention_rows(const fwd *f, int l, int r0, int r1, int kh0, int kh1, float *out, float *att) {
    const model_hparams *hp = &f->m->hp;
    int group = hp->n_heads / hp->n_kv_heads;
    /* KV heads outermost: a layer's keys and values of all heads outgrow
     * L2 at long contexts (3 MB for the SmolLM shape at 2,048 positions);
     * one head's stay there while every row reads them. */
    for (int kh = kh0; kh < kh1; kh++)
        for (int r = r0; r < r1;) {
            int skip = row_skip(f, l, r);
            int pair = r + 1 < r1 && f->chain[r + 1] == f->chain[r] && f->nchain[r + 1] == f->nchain[r] &&
                       row_skip(f, l, r + 1) == skip;
            int node = pair && f->kvlo[r + 1] == f->kvlo[r] && f->kvrow[r + 1] == f->kvrow[r] + 1;
            for (int g0 = 0; g0 < group; g0 += GMAX) {
                int h0 = kh * group + g0;
                switch (pair * GMAX + imin(GMAX, group - g0)) { /* constant counts: the loops unroll */
                case 1: attend_heads(f, l, r, 1, 0, skip, kh, h0, 1, out, att); break;
                case 2: attend_heads(f, l, r, 1, 0, skip, kh, h0, 2, out, att); break;
                case 3: attend_heads(f, l, r, 1, 0, skip, kh, h0, 3, out, att); break;
                case 4: attend_heads(f, l, r, 1, 0, skip, kh, h0, 4, out, att); break;
                case 5: attend_heads(f, l, r, 2, node, skip, kh, h0, 1, out, att); break;
                case 6: attend_heads(f, l, r, 2, node, skip, kh, h0, 2, out, att); break;
                case 7: attend_heads(f, l, r, 2, node, skip, kh, h0, 3, out, att); break;
                default: attend_heads(f, l, r, 2, node, skip, kh, h0, 4, out, att); break;
                }
            }
            r += 1 + pair;
        }
}

typedef struct {
    const fwd *f;
    int l, r0, r1, kh0, kh1;
    float *out, *att;
} att_job;

static void *attention_worker(void *arg) {
    att_job *j = arg;
    attention_rows(j->f, j->l, j->r0, j->r1, j->kh0, j->kh1, j->out, j->att);
    return NULL;
}

/* Attention of rows [0, n). Rows and KV heads are independent, so with
 * several threads each takes a contiguous range of rows of about equal
 * work (a row attends to pos + 1 keys, fewer under a sliding window) or, when there are fewer rows than
 * threads (decoding one sequence), a range of KV heads; a row's result is
 * the same whichever thread computes it. Small calls stay on the calling
 * thread. */
void fwd_attention(fwd *f, int l, int n, float *out) {
    int nt = imin(f->threads, MAX_ATT_THREADS), nkv = f->m->hp.n_kv_heads;
    double work = 0;
    for (int r = 0; r < n; r++) work += (double)f->pos[r] + 1 - row_skip(f, l, r);
    work *= (double)f->q_dim;
    if (nt < 2 || work < ATT_PARALLEL_MIN || (n < nt && nkv < 2)) {
        attention_rows(f, l, 0, n, 0, nkv, out, f->att[0]);
        return;
    }
    att_job jobs[MAX_ATT_THREADS];
    if (n < nt) {
        nt = imin(nt, nkv);
        for (int t = 0; t < nt; t++) jobs[t] = (att_job){f, l, 0, n, nkv * t / nt, nkv * (t + 1) / nt, out, f->att[t]};
        pool_fan_out(attention_worker, jobs, sizeof *jobs, nt);
        return;
    }
    double per = work / nt, acc = 0;
    int r = 0;
    for (int t = 0; t < nt; t++) {
        int r0 = r;
        if (t == nt - 1) {
            r = n;
        } else {
            while (r < n && acc < per * (t + 1)) {
                acc += ((double)f->pos[r] + 1 - row_skip(f, l, r)) * f->q_dim;
                r++;
            }
        }
        jobs[t] = (att_job){f, l, r0, r, 0, nkv, out, f->att[t]};
    }
    pool_fan_out(attention_worker, jobs, sizeof *jobs, nt);
}
