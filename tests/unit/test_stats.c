#include <math.h>
#include <stdint.h>

#include "../../metrics/stats.h"
#include "../check.h"

static void test_mean_stderr_hand_worked(void) {
    /* mean 0.75; squared deviations sum to 0.75; sqrt(0.75 / 3) / sqrt(4) = 0.25 */
    double x[] = {1, 0, 1, 1};
    CHECK_NEAR(stats_mean(x, 4), 0.75, 1e-15);
    CHECK_NEAR(stats_stderr(x, 4), 0.25, 1e-15);
    /* {0, 0, 1}: sqrt((2/3) / 2) / sqrt(3) = 1/3 */
    double y[] = {0, 0, 1};
    CHECK_NEAR(stats_stderr(y, 3), 1.0 / 3, 1e-15);
    double one = 0.5;
    CHECK(stats_stderr(&one, 1) == 0);
    CHECK(isnan(stats_mean(x, 0)));
    CHECK(isnan(stats_stderr(x, 0)));
}

static void test_group_pooled(void) {
    /* Subtasks {1,0,1,1} (0.75 +- 0.25, n 4) and {0,0,1} (1/3 +- 1/3, n 3):
     * value (3 + 1) / 7; stderr sqrt((3 * 0.0625 * 4 + 2 * (1/9) * 3) / (7 - 2) / 7)
     * = sqrt(17/420). */
    double v[] = {0.75, 1.0 / 3}, se[] = {0.25, 1.0 / 3};
    int n[] = {4, 3};
    double gv, gse;
    int N;
    stats_group(v, se, n, 2, &gv, &gse, &N);
    CHECK(N == 7);
    CHECK_NEAR(gv, 4.0 / 7, 1e-15);
    CHECK_NEAR(gse, sqrt(17.0 / 420), 1e-15);
    /* The pooled stderr is that of the concatenated samples' pooled variance:
     * sample variances 0.25 and 1/3. */
    CHECK_NEAR(gse * gse * 7, (3 * 0.25 + 2 * (1.0 / 3)) / 5, 1e-14);
}

static void test_group_edge_cases(void) {
    double v[] = {1, 0}, se[] = {0, 0};
    int n[] = {1, 1};
    double gv, gse;
    int N;
    stats_group(v, se, n, 2, &gv, &gse, &N); /* N - k = 0 */
    CHECK_NEAR(gv, 0.5, 1e-15);
    CHECK(isnan(gse));
    double se2[] = {0.1, NAN};
    int n2[] = {10, 10};
    stats_group(v, se2, n2, 2, &gv, &gse, &N); /* a subtask without stderr */
    CHECK(isnan(gse));
    int n3[] = {0, 0};
    stats_group(v, se, n3, 2, &gv, &gse, &N);
    CHECK(N == 0 && isnan(gv));
}

static double mean_of(const int *idx, int n, void *ctx) {
    const double *x = ctx;
    double s = 0;
    for (int i = 0; i < n; i++) s += x[idx[i]];
    return s / n;
}

static void test_bootstrap(void) {
    /* 100 Bernoulli values, half ones: the bootstrap stderr of the mean is
     * the population sd / sqrt(n) = 0.5 / 10 = 0.05 (no Bessel correction). */
    double x[100];
    for (int i = 0; i < 100; i++) x[i] = i % 2;
    double a = stats_bootstrap_stderr(mean_of, x, 100, 20000, 1);
    double b = stats_bootstrap_stderr(mean_of, x, 100, 20000, 1);
    double c = stats_bootstrap_stderr(mean_of, x, 100, 20000, 2);
    CHECK_NEAR(a, 0.05, 0.002);
    CHECK(a == b);
    CHECK(a != c);
    CHECK_NEAR(c, 0.05, 0.002);
    CHECK(isnan(stats_bootstrap_stderr(mean_of, x, 0, 100, 1)));
}

static void test_rng(void) {
    cj_rng a, b;
    cj_rng_seed(&a, 42);
    cj_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(cj_rng_next(&a) == cj_rng_next(&b));
    cj_rng_seed(&b, 43);
    CHECK(cj_rng_next(&a) != cj_rng_next(&b));
    /* cj_rng_below stays in range and hits every value of a small range evenly. */
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = cj_rng_below(&a, 7);
        CHECK(v < 7);
        if (v < 7) counts[v]++;
    }
    for (int i = 0; i < 7; i++) CHECKF(counts[i] > 9500 && counts[i] < 10500, "value %d drawn %d times", i, counts[i]);
    CHECK(cj_rng_below(&a, 1) == 0);
}

int main(void) {
    RUN(test_mean_stderr_hand_worked);
    RUN(test_group_pooled);
    RUN(test_group_edge_cases);
    RUN(test_bootstrap);
    RUN(test_rng);
    return check_summary_();
}
