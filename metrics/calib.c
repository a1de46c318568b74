/* calib — confident errors, Brier score, ECE and abstention. Definitions:
 * calib.h. */
#include "calib.h"

#include <math.h>
#include <string.h>

#include "textmetrics.h"

int calib_softmax(const double *ll, int n, double *p, cj_err *e) {
    if (n < 1) return cj_fail(e, "softmax: no choices");
    double max = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isnan(ll[i]) || ll[i] == INFINITY) return cj_fail(e, "softmax: ll[%d] = %g", i, ll[i]);
        if (ll[i] > max) max = ll[i];
    }
    if (max == -INFINITY) return cj_fail(e, "softmax: every log-likelihood is -inf");
    double sum = 0;
    for (int i = 0; i < n; i++) sum += p[i] = exp(ll[i] - max);
    for (int i = 0; i < n; i++) p[i] /= sum;
    return 0;
}

int calib_doc_score(const double *p, int n, int gold, double threshold, calib_doc *out, cj_err *e) {
    if (n < 2) return cj_fail(e, "calibration needs at least 2 choices, got %d", n);
    if (gold < 0 || gold >= n) return cj_fail(e, "gold index %d outside 0..%d", gold, n - 1);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(p[i]) || p[i] < 0 || p[i] > 1) return cj_fail(e, "probability p[%d] = %g", i, p[i]);
        sum += p[i];
    }
    if (fabs(sum - 1) > 1e-6) return cj_fail(e, "probabilities sum to %.9g, not 1", sum);
    int pred = 0;
    double brier = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] > p[pred]) pred = i;
        double d = p[i] - (i == gold);
        brier += d * d;
    }
    out->conf = p[pred];
    out->pred = pred;
    out->correct = pred == gold;
    out->brier = brier;
    out->confident_error = !out->correct && out->conf >= threshold;
    return 0;
}

/* Bin edge k/10, computed the way a threshold literal like 0.9 is. */
static double edge(int k) { return k / (double)CALIB_NBINS; }

static int bin_of(double conf) {
    int b = (int)floor(conf * CALIB_NBINS);
    if (b < 0) b = 0;
    if (b > CALIB_NBINS - 1) b = CALIB_NBINS - 1;
    /* conf * 10 can round across an edge; the edges themselves decide */
    while (b < CALIB_NBINS - 1 && conf >= edge(b + 1)) b++;
    while (b > 0 && conf < edge(b)) b--;
    return b;
}

void calib_summarize(const calib_doc *docs, const int *idx, int n, calib_summary *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    double conf_sum[CALIB_NBINS] = {0}, sum_conf = 0, sum_brier = 0;
    int correct[CALIB_NBINS] = {0}, n_correct = 0, n_conf_err = 0;
    for (int k = 0; k < n; k++) {
        const calib_doc *d = &docs[idx ? idx[k] : k];
        int b = bin_of(d->conf);
        out->bins[b].count++;
        conf_sum[b] += d->conf;
        correct[b] += d->correct;
        n_correct += d->correct;
        n_conf_err += d->confident_error;
        sum_conf += d->conf;
        sum_brier += d->brier;
    }
    double ece = 0;
    for (int b = 0; b < CALIB_NBINS; b++) {
        calib_bin *bin = &out->bins[b];
        bin->lo = edge(b);
        bin->hi = edge(b + 1);
        if (bin->count) {
            bin->conf_mean = conf_sum[b] / bin->count;
            bin->acc = (double)correct[b] / bin->count;
            ece += (double)bin->count / n * fabs(bin->acc - bin->conf_mean);
        } else {
            bin->conf_mean = bin->acc = NAN;
        }
    }
    if (n) {
        out->confident_error_rate = (double)n_conf_err / n;
        out->brier = sum_brier / n;
        out->ece = ece;
        out->acc = (double)n_correct / n;
        out->conf_mean = sum_conf / n;
    } else {
        out->confident_error_rate = out->brier = out->ece = out->acc = out->conf_mean = NAN;
    }
}

double calib_ece(const calib_doc *docs, const int *idx, int n) {
    calib_summary s;
    calib_summarize(docs, idx, n, &s);
    return s.ece;
}

int calib_abstained(const char *answer, const char *const *patterns, int n_patterns, int *abstained,
                    cj_err *e) {
    *abstained = 0;
    for (int k = 0; k < n_patterns && !*abstained; k++)
        if (tm_regex_search(answer, patterns[k], 1, abstained, e)) return cj_wrap(e, "abstention pattern %d", k);
    return 0;
}

void calib_abstention_rates(const int *abstained, const int *correct, const int *idx, int n,
                            calib_abstention *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    for (int k = 0; k < n; k++) {
        int i = idx ? idx[k] : k;
        if (abstained[i])
            out->n_abstained++;
        else if (!correct[i])
            out->n_answered_wrong++;
    }
    int answered = n - out->n_abstained;
    out->abstain_rate = n ? (double)out->n_abstained / n : NAN;
    out->hallucination_rate = answered ? (double)out->n_answered_wrong / answered : NAN;
}
