/* pstats — paired statistics. See pstats.h for the contract. */
#include "pstats.h"

#include <math.h>
#include <stdlib.h>

#include "../common/sb.h"
#include "stats.h"

/* log of the Binomial(n, p) probability mass at i; p strictly inside (0, 1). */
static double binom_logpmf(long i, long n, double lp, double lq) {
    return lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + (double)i * lp +
           (double)(n - i) * lq;
}

/* sum over i in [lo, hi] of the pmf, by log-sum-exp so that large n neither
 * overflows the binomial coefficient nor underflows every term. */
static double binom_sum(long lo, long hi, long n, double p) {
    if (lo > hi) return 0;
    if (p <= 0) return lo == 0 ? 1 : 0;
    if (p >= 1) return hi == n ? 1 : 0;
    double lp = log(p), lq = log1p(-p);
    double mx = -INFINITY;
    for (long i = lo; i <= hi; i++) {
        double t = binom_logpmf(i, n, lp, lq);
        if (t > mx) mx = t;
    }
    double s = 0;
    for (long i = lo; i <= hi; i++) s += exp(binom_logpmf(i, n, lp, lq) - mx);
    double r = exp(mx) * s;
    return r > 1 ? 1 : r;
}

double ps_binom_cdf(long k, long n, double p) {
    if (n < 0 || k < 0) return 0;
    if (k >= n) return 1;
    return binom_sum(0, k, n, p);
}

double ps_binom_sf(long k, long n, double p) {
    if (n < 0 || k > n) return 0;
    if (k <= 0) return 1;
    return binom_sum(k, n, n, p);
}

double ps_mcnemar_exact(long b, long c) {
    if (b < 0 || c < 0) return 1;
    long m = b < c ? b : c;
    if (b == c) return 1;
    double p = 2 * ps_binom_cdf(m, b + c, 0.5);
    return p > 1 ? 1 : p;
}

typedef struct {
    double p;
    size_t i;
} pidx;

static int pidx_cmp(const void *a, const void *b) {
    const pidx *x = a, *y = b;
    if (x->p < y->p) return -1;
    if (x->p > y->p) return 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int ps_holm(const double *p, size_t n, double *adj, cj_err *e) {
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) return cj_fail(e, "holm: p-value %zu is %g, not in [0, 1]", i, p[i]);
    if (n == 0) return 0;
    pidx *v = cj_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (pidx){p[i], i};
    qsort(v, n, sizeof *v, pidx_cmp);
    /* step-down: the j-th smallest p is multiplied by (n - j), and the
     * running maximum keeps the adjusted values in the order of the raw ones */
    double run = 0;
    for (size_t j = 0; j < n; j++) {
        double a = (double)(n - j) * v[j].p;
        if (a > 1) a = 1;
        if (a > run) run = a;
        adj[v[j].i] = run;
    }
    free(v);
    return 0;
}


int ps_paired_bootstrap(const double *base, const double *cand, size_t n, long resamples, double confidence,
                        uint64_t seed, ps_boot *out, cj_err *e) {
    if (n == 0) return cj_fail(e, "bootstrap: no pairs");
    if (resamples < 1) return cj_fail(e, "bootstrap: resamples is %ld, must be >= 1", resamples);
    if (!(confidence > 0 && confidence < 1)) return cj_fail(e, "bootstrap: confidence %g not in (0, 1)", confidence);
    double *d = cj_xmalloc(n * sizeof *d);
    double obs = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = cand[i] - base[i];
        if (!isfinite(d[i])) {
            free(d);
            return cj_fail(e, "bootstrap: pair %zu is not finite (base %g, candidate %g)", i, base[i], cand[i]);
        }
        obs += d[i];
    }
    obs /= (double)n;
    double *m = cj_xmalloc((size_t)resamples * sizeof *m);
    cj_rng r;
    cj_rng_seed(&r, seed);
    long extreme = 0;
    double tol = 1e-12 * (fabs(obs) > 1 ? fabs(obs) : 1);
    for (long b = 0; b < resamples; b++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += d[cj_rng_below(&r, n)];
        m[b] = s / (double)n;
        /* shifted to the null: how often a resample strays from the observed
         * mean by at least as much as the observed mean strays from 0 */
        if (fabs(m[b] - obs) >= fabs(obs) - tol) extreme++;
    }
    ps_sort(m, (size_t)resamples);
    double a = (1 - confidence) / 2;
    out->diff = obs;
    out->lo = ps_quantile_sorted(m, (size_t)resamples, a);
    out->hi = ps_quantile_sorted(m, (size_t)resamples, 1 - a);
    out->p = (double)(extreme + 1) / (double)(resamples + 1);
    if (out->p > 1) out->p = 1;
    free(m);
    free(d);
    return 0;
}

double ps_quantile_sorted(const double *s, size_t n, double q) {
    if (n == 0) return NAN;
    if (q <= 0) return s[0];
    if (q >= 1) return s[n - 1];
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void ps_sort(double *x, size_t n) { qsort(x, n, sizeof *x, dbl_cmp); }
