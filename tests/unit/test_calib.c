/* Tests of calib: confident errors, Brier score, ECE with its bins, and the
 * abstention rates, on constructed probability sets worked by hand. */
#include <math.h>

#include "../../metrics/calib.h"
#include "../check.h"

static void test_softmax(void) {
    cj_err e;
    double ll[3] = {log(0.5), log(0.25), log(0.25)}, p[3];
    CHECK(calib_softmax(ll, 3, p, &e) == 0);
    CHECK_NEAR(p[0], 0.5, 1e-15);
    CHECK_NEAR(p[2], 0.25, 1e-15);
    /* large negative log-likelihoods: only differences matter,
     * p0 = 1 / (1 + e^-1) */
    double big[2] = {-1000, -1001};
    CHECK(calib_softmax(big, 2, p, &e) == 0);
    CHECK_NEAR(p[0], 1 / (1 + exp(-1.0)), 1e-15);
    double inf[2] = {-INFINITY, -3};
    CHECK(calib_softmax(inf, 2, p, &e) == 0);
    CHECK(p[0] == 0 && p[1] == 1);
    double all_inf[2] = {-INFINITY, -INFINITY}, nan2[2] = {NAN, 0};
    CHECK(calib_softmax(all_inf, 2, p, &e) == -1);
    CHECK(calib_softmax(nan2, 2, p, &e) == -1);
}

static void test_doc_scores(void) {
    cj_err e;
    calib_doc d;
    /* right with conf 0.7: brier (0.7-1)^2 + 0.2^2 + 0.1^2 = 0.14 */
    double p1[3] = {0.7, 0.2, 0.1};
    CHECK(calib_doc_score(p1, 3, 0, 0.9, &d, &e) == 0);
    CHECK(d.pred == 0 && d.correct == 1 && d.confident_error == 0);
    CHECK_NEAR(d.conf, 0.7, 0);
    CHECK_NEAR(d.brier, 0.14, 1e-15);
    /* wrong with conf 0.95: a confident error; brier 0.95^2 + 0.95^2 */
    double p2[2] = {0.05, 0.95};
    CHECK(calib_doc_score(p2, 2, 0, 0.9, &d, &e) == 0);
    CHECK(d.pred == 1 && d.correct == 0 && d.confident_error == 1);
    CHECK_NEAR(d.brier, 1.805, 1e-15);
    /* the threshold is inclusive: conf 0.9 >= 0.9; not >= 0.95 */
    double p3[2] = {0.1, 0.9};
    CHECK(calib_doc_score(p3, 2, 0, 0.9, &d, &e) == 0 && d.confident_error == 1);
    CHECK(calib_doc_score(p3, 2, 0, 0.95, &d, &e) == 0 && d.confident_error == 0);
    /* a tie goes to the lowest index, as acc does */
    double p4[2] = {0.5, 0.5};
    CHECK(calib_doc_score(p4, 2, 1, 0.9, &d, &e) == 0 && d.pred == 0 && d.correct == 0);

    double bad_sum[2] = {0.5, 0.4}, neg[2] = {-0.1, 1.1}, nan2[2] = {NAN, 1};
    CHECK(calib_doc_score(bad_sum, 2, 0, 0.9, &d, &e) == -1);
    CHECK(calib_doc_score(neg, 2, 0, 0.9, &d, &e) == -1);
    CHECK(calib_doc_score(nan2, 2, 0, 0.9, &d, &e) == -1);
    CHECK(calib_doc_score(p1, 3, 3, 0.9, &d, &e) == -1);
    CHECK(calib_doc_score(p1, 3, -1, 0.9, &d, &e) == -1);
    CHECK(calib_doc_score(p1, 1, 0, 0.9, &d, &e) == -1);
}

/* Two-choice doc with p = {c, 1 - c}, c > 0.5 (pred 0), right or wrong. */
static calib_doc two(double c, int right) {
    double p[2] = {c, 1 - c};
    calib_doc d;
    cj_err e;
    CHECK(calib_doc_score(p, 2, right ? 0 : 1, CALIB_DEFAULT_THRESHOLD, &d, &e) == 0);
    return d;
}

static void test_summary_hand_worked(void) {
    /* conf: right/wrong             bin
     *  0.95 R, 0.95 R, 0.95 W       9: n 3, conf 0.95,  acc 2/3, gap 0.283333
     *  0.85 R                       8: n 1, conf 0.85,  acc 1,   gap 0.15
     *  0.75 W                       7: n 1, conf 0.75,  acc 0,   gap 0.75
     *  0.65 R, 0.60 W               6: n 2, conf 0.625, acc 0.5, gap 0.125
     *  0.55 R                       5: n 1, conf 0.55,  acc 1,   gap 0.45
     * ECE = (3*0.283333 + 0.15 + 0.75 + 2*0.125 + 0.45) / 8 = 2.45 / 8
     * confident errors (>= 0.9 and wrong): 1 of 8
     * brier: right 2(1-c)^2, wrong 2c^2:
     *  .005 + .005 + 1.805 + .045 + 1.125 + .245 + .72 + .405 = 4.355 -> / 8
     * acc 5/8, mean conf 6.25/8 */
    calib_doc d[8] = {two(0.95, 1), two(0.95, 1), two(0.95, 0), two(0.85, 1),
                      two(0.75, 0), two(0.65, 1), two(0.60, 0), two(0.55, 1)};
    calib_summary s;
    calib_summarize(d, NULL, 8, &s);
    CHECK(s.n == 8);
    CHECK_NEAR(s.ece, 2.45 / 8, 1e-12);
    CHECK_NEAR(s.confident_error_rate, 0.125, 0);
    CHECK_NEAR(s.brier, 4.355 / 8, 1e-12);
    CHECK_NEAR(s.acc, 0.625, 0);
    CHECK_NEAR(s.conf_mean, 0.78125, 1e-12);
    CHECK(s.bins[9].count == 3 && s.bins[8].count == 1 && s.bins[7].count == 1);
    CHECK(s.bins[6].count == 2 && s.bins[5].count == 1 && s.bins[4].count == 0);
    CHECK_NEAR(s.bins[9].conf_mean, 0.95, 1e-12);
    CHECK_NEAR(s.bins[9].acc, 2.0 / 3, 1e-15);
    CHECK_NEAR(s.bins[6].conf_mean, 0.625, 1e-12);
    CHECK(isnan(s.bins[0].acc) && isnan(s.bins[4].conf_mean));
    CHECK_NEAR(s.bins[9].lo, 0.9, 0);
    CHECK_NEAR(s.bins[9].hi, 1.0, 0);
    CHECK_NEAR(s.bins[0].lo, 0.0, 0);
    CHECK_NEAR(calib_ece(d, NULL, 8), 2.45 / 8, 1e-12);

    /* a subset (as a bootstrap resample picks it): doc 2 twice and doc 3:
     * bin 9: conf .95 acc 0, n 2; bin 8: conf .85 acc 1, n 1
     * ECE = (2 * 0.95 + 0.15) / 3 */
    int idx[3] = {2, 2, 3};
    calib_summarize(d, idx, 3, &s);
    CHECK_NEAR(s.ece, (2 * 0.95 + 0.15) / 3, 1e-12);
    CHECK_NEAR(s.confident_error_rate, 2.0 / 3, 1e-15);
    CHECK_NEAR(calib_ece(d, idx, 3), s.ece, 0);
}

static void test_perfectly_calibrated(void) {
    /* four docs at conf 0.75, three right: the bin's accuracy equals its
     * confidence, ECE 0; no doc reaches 0.9, no confident error */
    calib_doc d[4] = {two(0.75, 1), two(0.75, 1), two(0.75, 1), two(0.75, 0)};
    calib_summary s;
    calib_summarize(d, NULL, 4, &s);
    CHECK_NEAR(s.ece, 0, 1e-15);
    CHECK(s.confident_error_rate == 0);
    /* brier: 3 * 2 * 0.25^2 + 2 * 0.75^2 = 0.375 + 1.125 -> / 4 */
    CHECK_NEAR(s.brier, 1.5 / 4, 1e-15);
}

static void test_bin_edges(void) {
    /* bins are [b/10, (b+1)/10), the last one closed: 0.9 and 1.0 land in
     * bin 9 (the same docs the 0.9 threshold counts), 0.3 in bin 3 even
     * though 0.3 * 10 rounds to 3.0000000000000004, 0.7 likewise */
    double conf[] = {0.9, 1.0, 0.3, 0.7, 0.1, 0.5, 0.8999999999};
    int want[] = {9, 9, 3, 7, 1, 5, 8};
    for (int k = 0; k < 7; k++) {
        calib_doc d = {conf[k], 0, 1, 0, 0};
        calib_summary s;
        calib_summarize(&d, NULL, 1, &s);
        CHECKF(s.bins[want[k]].count == 1, "conf %.17g not in bin %d", conf[k], want[k]);
    }
    calib_summary s;
    calib_summarize(NULL, NULL, 0, &s);
    CHECK(s.n == 0 && isnan(s.ece) && isnan(s.brier) && isnan(s.confident_error_rate));
}

static void test_abstention(void) {
    cj_err e;
    const char *pats[] = {"I have no comment", "모르겠습니다", "^\\s*no idea"};
    const char *answers[] = {"I have no comment.", "잘 모르겠습니다.", "Paris",
                             "London",             "  NO IDEA at all", "Berlin"};
    int correct[] = {0, 0, 1, 0, 0, 0}, abst[6];
    for (int k = 0; k < 6; k++) CHECK(calib_abstained(answers[k], pats, 3, &abst[k], &e) == 0);
    CHECK(abst[0] == 1 && abst[1] == 1 && abst[2] == 0 && abst[3] == 0 && abst[4] == 1 && abst[5] == 0);
    /* 3 of 6 abstained; of the 3 that answered, 2 are wrong */
    calib_abstention a;
    calib_abstention_rates(abst, correct, NULL, 6, &a);
    CHECK(a.n == 6 && a.n_abstained == 3 && a.n_answered_wrong == 2);
    CHECK_NEAR(a.abstain_rate, 0.5, 0);
    CHECK_NEAR(a.hallucination_rate, 2.0 / 3, 1e-15);
    /* only docs that abstained: nothing answered, rate undefined */
    int idx[2] = {0, 1};
    calib_abstention_rates(abst, correct, idx, 2, &a);
    CHECK(a.abstain_rate == 1 && isnan(a.hallucination_rate));
    /* no patterns: nothing abstains */
    int x = -1;
    CHECK(calib_abstained("I have no comment.", NULL, 0, &x, &e) == 0 && x == 0);
    const char *bad[] = {"(oops"};
    CHECK(calib_abstained("x", bad, 1, &x, &e) == -1);
}

int main(void) {
    RUN(test_softmax);
    RUN(test_doc_scores);
    RUN(test_summary_hand_worked);
    RUN(test_perfectly_calibrated);
    RUN(test_bin_edges);
    RUN(test_abstention);
    return check_summary_();
}
