/* pstats — paired statistics for comparing two runs scored on the same docs.
 *
 * Everything here is pure computation on caller-owned arrays: no allocation
 * survives a call, nothing is global, and the random parts are driven by an
 * explicit seed so that the same inputs and seed give the same numbers on
 * every machine (the harness's cj_rng, stats.h).
 *
 * The tests:
 *   - exact McNemar for 0/1 metrics: of the discordant pairs (b = base right
 *     and candidate wrong, c = the reverse), the two-sided p-value of a
 *     Binomial(b + c, 1/2) count as extreme as min(b, c);
 *   - paired bootstrap for continuous metrics: resample docs with
 *     replacement, keeping each doc's (base, candidate) pair together;
 *     percentile interval of the mean difference, and a two-sided p-value
 *     from the bootstrap distribution shifted to the null (mean 0);
 *   - Holm's step-down correction across a family of tests. */
#ifndef CJ_PSTATS_H
#define CJ_PSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* P(X <= k) and P(X >= k) for X ~ Binomial(n, p), 0 <= p <= 1. Computed in
 * log space, so n may be large (millions) without overflow. k outside
 * [0, n] gives 0 or 1 as the definition says. */
double ps_binom_cdf(long k, long n, double p);
double ps_binom_sf(long k, long n, double p);

/* Two-sided exact McNemar p-value from the discordant counts b and c:
 * min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2). 1 when b == c. */
double ps_mcnemar_exact(long b, long c);

/* Holm-adjusted p-values: adj[i] for p[i] (the family is all n values;
 * adj may alias p). adj is monotone in p and never below p or above 1.
 * Returns -1 (with e filled) only when a p-value is not in [0, 1]. */
int ps_holm(const double *p, size_t n, double *adj, cj_err *e);

/* Result of a paired bootstrap of mean(cand - base). */
typedef struct {
    double diff; /* observed mean difference, cand - base */
    double lo;   /* percentile interval at the requested confidence */
    double hi;
    double p;    /* two-sided p-value of "no difference", >= 1 / (resamples + 1) */
} ps_boot;

/* Paired bootstrap over n >= 1 pairs with `resamples` >= 1 resamples,
 * confidence in (0, 1) (e.g. 0.95). Deterministic for a given seed.
 * Returns -1 with e filled on bad arguments or non-finite values. */
int ps_paired_bootstrap(const double *base, const double *cand, size_t n, long resamples, double confidence,
                        uint64_t seed, ps_boot *out, cj_err *e);

/* Quantile q in [0, 1] of an ascending-sorted array by linear interpolation
 * between order statistics (the "type 7" definition of R and numpy). */
double ps_quantile_sorted(const double *sorted, size_t n, double q);

/* Sorts x ascending in place. */
void ps_sort(double *x, size_t n);

#endif
