/* stats — means, standard errors and the seeded PRNG behind every random
 * choice the harness makes (doc sampling, bootstrap).
 *
 * Definitions follow lm-evaluation-harness (EVAL-DEFINITIONS.md):
 *   stderr of a mean   sqrt(sum((x - mean)^2) / (n - 1)) / sqrt(n); 0 when n == 1
 *   group value        size-weighted mean of the subtasks' values
 *   group stderr       sqrt(sum_i((n_i - 1) * se_i^2 * n_i) / (N - k) / N)
 *                      (lm-eval's pooled_sample_stderr), N = sum n_i, k = subtasks
 *   bootstrap stderr   sample standard deviation of the metric over `iters`
 *                      resamples with replacement (for metrics with no closed form)
 * Undefined results (n == 0, N - k <= 0) are NAN; callers store them as NULL.
 * Nothing here allocates except stats_bootstrap_stderr (freed before it returns). */
#ifndef CJ_STATS_H
#define CJ_STATS_H

#include <stdint.h>

/* xoshiro256** seeded through splitmix64: fast, and the same seed gives the
 * same stream on every platform. */
typedef struct {
    uint64_t s[4];
} cj_rng;

void cj_rng_seed(cj_rng *r, uint64_t seed);
uint64_t cj_rng_next(cj_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t cj_rng_below(cj_rng *r, uint64_t n);

double stats_mean(const double *x, int n);
double stats_stderr(const double *x, int n);

/* Size-weighted mean and pooled stderr of k subtasks with values[i],
 * stderrs[i] and sizes[i]. Subtasks with size 0 are ignored. Writes NAN
 * where a result is undefined; *n_total receives N. */
void stats_group(const double *values, const double *stderrs, const int *sizes, int k, double *value,
                 double *stderr_out, int *n_total);

/* A metric over a resample: idx[0..n) are indices into the caller's data
 * (with repetitions). */
typedef double (*stats_metric_fn)(const int *idx, int n, void *ctx);

/* Bootstrap stderr of fn over n items: iters resamples drawn from a PRNG
 * seeded with seed. NAN if n == 0 or iters < 2. */
double stats_bootstrap_stderr(stats_metric_fn fn, void *ctx, int n, int iters, uint64_t seed);

/* lm-eval's default number of bootstrap resamples. */
#define STATS_BOOTSTRAP_ITERS 100000

#endif
