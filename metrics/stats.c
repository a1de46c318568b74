/* stats — see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

#include "../common/sb.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cj_rng_seed(cj_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cj_rng_next(cj_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t cj_rng_below(cj_rng *r, uint64_t n) {
    /* Reject the top partial copy of [0, n) so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = cj_rng_next(r);
    while (x >= limit);
    return x % n;
}

double stats_mean(const double *x, int n) {
    if (n <= 0) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

double stats_stderr(const double *x, int n) {
    if (n <= 0) return NAN;
    if (n == 1) return 0; /* lm-eval's sample_stddev of one value */
    double m = stats_mean(x, n), ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1)) / sqrt((double)n);
}

void stats_group(const double *values, const double *stderrs, const int *sizes, int k, double *value,
                 double *stderr_out, int *n_total) {
    double wsum = 0, pooled = 0;
    long long N = 0;
    int used = 0, se_ok = 1;
    for (int i = 0; i < k; i++) {
        if (sizes[i] <= 0) continue;
        used++;
        N += sizes[i];
        wsum += values[i] * sizes[i];
        if (isnan(stderrs[i])) se_ok = 0;
        else pooled += (double)(sizes[i] - 1) * stderrs[i] * stderrs[i] * sizes[i];
    }
    *n_total = (int)N;
    *value = N > 0 ? wsum / (double)N : NAN;
    *stderr_out = (se_ok && N - used > 0) ? sqrt(pooled / (double)(N - used) / (double)N) : NAN;
}

double stats_bootstrap_stderr(stats_metric_fn fn, void *ctx, int n, int iters, uint64_t seed) {
    if (n <= 0 || iters < 2) return NAN;
    cj_rng r;
    cj_rng_seed(&r, seed);
    int *idx = cj_xmalloc(sizeof *idx * (size_t)n);
    /* Welford's running variance: no array of iters values needed. */
    double mean = 0, m2 = 0;
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < n; i++) idx[i] = (int)cj_rng_below(&r, (uint64_t)n);
        double v = fn(idx, n, ctx);
        double d = v - mean;
        mean += d / (it + 1);
        m2 += d * (v - mean);
    }
    free(idx);
    return sqrt(m2 / (iters - 1));
}
