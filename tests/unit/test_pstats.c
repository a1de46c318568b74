/* Unit tests of harness/pstats: exact binomial tails and McNemar p-values
 * against hand-worked cases, Holm's correction on the textbook example, and
 * the paired bootstrap's coverage and determinism on constructed data. */
#include <math.h>
#include <stdint.h>

#include "../../metrics/pstats.h"
#include "../../metrics/stats.h"
#include "../check.h"

/* Binomial tails, worked by hand from the pmf:
 *   Bin(10, 1/2): P(X <= 2) = (1 + 10 + 45) / 1024 = 56/1024 = 0.0546875, and
 *                 P(X >= 8) the same by symmetry;
 *   Bin(20, 0.3): P(X <= 3) = 0.107086804503731 (sum of C(20,i) .3^i .7^(20-i)),
 *                 P(X >= 12) = 0.005138161535122;
 *   Bin(10^6, 1/2): P(X <= n/2) = 1/2 + pmf(n/2)/2, pmf(n/2) ~ 1/sqrt(pi n / 2)
 *                 = 7.97884e-4 (Stirling), so 0.500398942 — checks that large n
 *                 neither overflows nor underflows. */
static void test_binom_tails(void) {
    CHECK_NEAR(ps_binom_cdf(2, 10, 0.5), 56.0 / 1024, 1e-12);
    CHECK_NEAR(ps_binom_sf(8, 10, 0.5), 56.0 / 1024, 1e-12);
    CHECK_NEAR(ps_binom_cdf(3, 20, 0.3), 0.107086804503731, 1e-12);
    CHECK_NEAR(ps_binom_sf(12, 20, 0.3), 0.005138161535122, 1e-12);
    CHECK_NEAR(ps_binom_cdf(500000, 1000000, 0.5), 0.500398942, 1e-8);
    CHECK_NEAR(ps_binom_cdf(-1, 10, 0.5), 0, 0);
    CHECK_NEAR(ps_binom_cdf(10, 10, 0.5), 1, 0);
    CHECK_NEAR(ps_binom_sf(0, 10, 0.5), 1, 0);
    CHECK_NEAR(ps_binom_sf(11, 10, 0.5), 0, 0);
    CHECK_NEAR(ps_binom_cdf(0, 5, 0.0), 1, 0);
    CHECK_NEAR(ps_binom_sf(5, 5, 1.0), 1, 0);
    /* far tail: P(X <= 0), Bin(2000, 1/2) = 2^-2000 underflows to 0 in double
     * but must not come out as NaN */
    CHECK(ps_binom_cdf(0, 2000, 0.5) >= 0);
    CHECK(!isnan(ps_binom_cdf(0, 2000, 0.5)));
}

/* Exact McNemar, two-sided, p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2):
 *   b=1, c=6:  n=7,  P(X <= 1) = (1 + 7)/128 = 0.0625          -> p = 0.125
 *   b=0, c=5:  n=5,  P(X <= 0) = 1/32                          -> p = 0.0625
 *   b=2, c=10: n=12, P(X <= 2) = (1 + 12 + 66)/4096 = 79/4096  -> p = 0.03857421875
 *   b=c:       the statistic sits at the centre                -> p = 1
 *   b=0, c=0:  no discordant pair, no evidence                 -> p = 1 */
static void test_mcnemar(void) {
    CHECK_NEAR(ps_mcnemar_exact(1, 6), 0.125, 1e-12);
    CHECK_NEAR(ps_mcnemar_exact(6, 1), 0.125, 1e-12);
    CHECK_NEAR(ps_mcnemar_exact(0, 5), 0.0625, 1e-12);
    CHECK_NEAR(ps_mcnemar_exact(2, 10), 79.0 / 2048, 1e-12);
    CHECK_NEAR(ps_mcnemar_exact(4, 4), 1, 0);
    CHECK_NEAR(ps_mcnemar_exact(0, 0), 1, 0);
    /* b=3, c=4: 2 P(X <= 3 | n=7) = 2 * 64/128 = 1, capped at 1 */
    CHECK_NEAR(ps_mcnemar_exact(3, 4), 1, 1e-12);
    /* large and lopsided: tiny but positive */
    double p = ps_mcnemar_exact(100, 300);
    CHECK(p > 0 && p < 1e-20);
}

/* Holm on the textbook example (four hypotheses, alpha 0.05):
 * p = 0.01, 0.04, 0.03, 0.005. Sorted 0.005*4 = 0.02, 0.01*3 = 0.03,
 * 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06. H1 and H4 are rejected,
 * H2 and H3 are not. */
static void test_holm(void) {
    double p[4] = {0.01, 0.04, 0.03, 0.005}, adj[4];
    cj_err e;
    CHECK(ps_holm(p, 4, adj, &e) == 0);
    CHECK_NEAR(adj[0], 0.03, 1e-12);
    CHECK_NEAR(adj[1], 0.06, 1e-12);
    CHECK_NEAR(adj[2], 0.06, 1e-12);
    CHECK_NEAR(adj[3], 0.02, 1e-12);
    /* in place, capped at 1, ties keep equal values */
    double q[3] = {0.5, 0.5, 0.9};
    CHECK(ps_holm(q, 3, q, &e) == 0);
    CHECK_NEAR(q[0], 1, 0);
    CHECK_NEAR(q[1], 1, 0);
    CHECK_NEAR(q[2], 1, 0);
    /* a family of one is unchanged */
    double one = 0.042;
    CHECK(ps_holm(&one, 1, &one, &e) == 0);
    CHECK_NEAR(one, 0.042, 0);
    double bad = 1.5;
    CHECK(ps_holm(&bad, 1, &bad, &e) == -1);
    CHECK(strstr(e.msg, "1.5") != NULL);
}

static double gauss(cj_rng *r) {
    double u = ((double)(cj_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(cj_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Constructed data with a known population mean difference delta:
 * base ~ N(0.5, 0.2), cand = base + delta + N(0, 0.1) (paired: shared base). */
static void make_pairs(cj_rng *r, double *base, double *cand, size_t n, double delta) {
    for (size_t i = 0; i < n; i++) {
        base[i] = 0.5 + 0.2 * gauss(r);
        cand[i] = base[i] + delta + 0.1 * gauss(r);
    }
}

/* 200 independent data sets of 100 pairs, 1000 resamples each: the 95%
 * interval must contain the true difference in about 95% of them. With 200
 * trials the binomial sd of the rate is 1.5 points, and the percentile
 * bootstrap runs a little narrow at n = 100, so we accept [0.88, 0.99].
 * Under the null (delta = 0), p < 0.05 must be rare: at most 12%. */
static void test_bootstrap_coverage(void) {
    enum { TRIALS = 200, N = 100, B = 1000 };
    double base[N], cand[N];
    cj_rng r;
    cj_rng_seed(&r, 20240501);
    int covered = 0, rejected_null = 0;
    cj_err e;
    for (int t = 0; t < TRIALS; t++) {
        ps_boot bo;
        make_pairs(&r, base, cand, N, 0.03);
        CHECK(ps_paired_bootstrap(base, cand, N, B, 0.95, (uint64_t)t, &bo, &e) == 0);
        if (bo.lo <= 0.03 && 0.03 <= bo.hi) covered++;
        CHECK(bo.lo <= bo.diff && bo.diff <= bo.hi);
        make_pairs(&r, base, cand, N, 0.0);
        CHECK(ps_paired_bootstrap(base, cand, N, B, 0.95, (uint64_t)t + 7, &bo, &e) == 0);
        if (bo.p < 0.05) rejected_null++;
    }
    double cov = (double)covered / TRIALS, rej = (double)rejected_null / TRIALS;
    printf("  bootstrap coverage %.3f (nominal 0.95), null rejection %.3f (nominal 0.05)\n", cov, rej);
    CHECKF(cov >= 0.88 && cov <= 0.99, "coverage %.3f", cov);
    CHECKF(rej <= 0.12, "null rejection rate %.3f", rej);
}

/* A large, certain difference gives the smallest possible p; equal arrays
 * give p = 1 and a zero-width interval at 0. */
static void test_bootstrap_extremes(void) {
    double a[50], b[50];
    for (int i = 0; i < 50; i++) {
        a[i] = i % 7 * 0.1;
        b[i] = a[i] + 0.2;
    }
    ps_boot bo;
    cj_err e;
    CHECK(ps_paired_bootstrap(a, b, 50, 999, 0.95, 1, &bo, &e) == 0);
    CHECK_NEAR(bo.diff, 0.2, 1e-12);
    CHECK_NEAR(bo.p, 1.0 / 1000, 1e-15);
    CHECK_NEAR(bo.lo, 0.2, 1e-12);
    CHECK(ps_paired_bootstrap(a, a, 50, 999, 0.95, 1, &bo, &e) == 0);
    CHECK_NEAR(bo.p, 1, 0);
    CHECK_NEAR(bo.lo, 0, 0);
    CHECK_NEAR(bo.hi, 0, 0);
    CHECK(ps_paired_bootstrap(a, b, 0, 999, 0.95, 1, &bo, &e) == -1);
    CHECK(ps_paired_bootstrap(a, b, 50, 0, 0.95, 1, &bo, &e) == -1);
    CHECK(ps_paired_bootstrap(a, b, 50, 10, 1.0, 1, &bo, &e) == -1);
    b[3] = NAN;
    CHECK(ps_paired_bootstrap(a, b, 50, 10, 0.95, 1, &bo, &e) == -1);
    CHECK(strstr(e.msg, "pair 3") != NULL);
}

/* Same seed, same numbers (bit for bit); another seed, other numbers. */
static void test_bootstrap_determinism(void) {
    double base[80], cand[80];
    cj_rng r;
    cj_rng_seed(&r, 99);
    make_pairs(&r, base, cand, 80, 0.01);
    ps_boot x, y, z;
    cj_err e;
    CHECK(ps_paired_bootstrap(base, cand, 80, 2000, 0.95, 42, &x, &e) == 0);
    CHECK(ps_paired_bootstrap(base, cand, 80, 2000, 0.95, 42, &y, &e) == 0);
    CHECK(ps_paired_bootstrap(base, cand, 80, 2000, 0.95, 43, &z, &e) == 0);
    CHECK(x.lo == y.lo && x.hi == y.hi && x.p == y.p && x.diff == y.diff);
    CHECK(x.lo != z.lo || x.hi != z.hi);
}

/* Bootstrap and McNemar agree on 0/1 data with a clear difference; the
 * interval matches the paired Wald interval of a difference of proportions,
 * (c - b)/n +- 1.96 sqrt(b + c - (c - b)^2/n) / n, worked here by hand:
 * base right on odd docs, candidate on 4 docs of 5, n = 400 -> b = 40
 * (odd multiples of 5), c = 160 (even non-multiples of 5), diff = 0.3,
 * half-width 1.96 sqrt(200 - 120^2/400) / 400 = 1.96 sqrt(164) / 400 = 0.0628. */
static void test_bootstrap_vs_mcnemar(void) {
    enum { N = 400 };
    double base[N], cand[N];
    long b = 0, c = 0;
    for (int i = 0; i < N; i++) {
        base[i] = i % 2;
        cand[i] = (i % 5) != 0;
        if (base[i] > cand[i]) b++;
        if (cand[i] > base[i]) c++;
    }
    CHECK(b == 40 && c == 160);
    ps_boot bo;
    cj_err e;
    CHECK(ps_paired_bootstrap(base, cand, N, 2000, 0.95, 5, &bo, &e) == 0);
    CHECK_NEAR(bo.diff, 0.3, 1e-12);
    CHECK_NEAR(bo.lo, 0.3 - 0.0628, 0.01);
    CHECK_NEAR(bo.hi, 0.3 + 0.0628, 0.01);
    CHECK(ps_mcnemar_exact(b, c) < 1e-6);
    CHECK(bo.p < 0.001);
}

static void test_quantile(void) {
    double x[4] = {1, 2, 3, 4};
    CHECK_NEAR(ps_quantile_sorted(x, 4, 0.5), 2.5, 1e-12);
    /* type 7: h = 0.95 * 3 = 2.85 -> 3 + 0.85 * (4 - 3) */
    CHECK_NEAR(ps_quantile_sorted(x, 4, 0.95), 3.85, 1e-12);
    CHECK_NEAR(ps_quantile_sorted(x, 4, 0), 1, 0);
    CHECK_NEAR(ps_quantile_sorted(x, 4, 1), 4, 0);
    CHECK_NEAR(ps_quantile_sorted(x, 1, 0.95), 1, 0);
    CHECK(isnan(ps_quantile_sorted(x, 0, 0.5)));
    double y[5] = {3, 1, 2, 5, 4};
    ps_sort(y, 5);
    for (int i = 0; i < 5; i++) CHECK(y[i] == i + 1);
}

int main(void) {
    RUN(test_binom_tails);
    RUN(test_mcnemar);
    RUN(test_holm);
    RUN(test_bootstrap_coverage);
    RUN(test_bootstrap_extremes);
    RUN(test_bootstrap_determinism);
    RUN(test_bootstrap_vs_mcnemar);
    RUN(test_quantile);
    return check_summary_();
}
