/* calib — calibration and hallucination metrics: how often a model is
 * confidently wrong, how well its confidence matches its accuracy, and how
 * often it abstains or makes an answer up.
 *
 * Multiple choice, per doc (p = the normalised choice probabilities, e.g.
 * calib_softmax of the choices' log-likelihoods; gold index g):
 *   conf              max_i p_i; pred = argmax (ties go to the lowest index,
 *                     as acc does), correct = (pred == g)
 *   confident_error   1 if !correct and conf >= threshold (default 0.9)
 *   brier             sum_i (p_i - [i == g])^2, in 0..2 (multi-class Brier
 *                     score, lm-eval's brier_score per doc)
 * Over a set of docs:
 *   confident_error_rate  mean of confident_error
 *   brier                 mean of brier (lower is better; 0 is perfect)
 *   ece                   sum_b (n_b / N) * |acc_b - conf_b| over 10
 *                         equal-width bins of conf: bin b holds
 *                         b/10 <= conf < (b+1)/10, the last bin includes 1.0
 *                         (so bin 9 is exactly the docs at conf >= 0.9)
 *   bins                  per bin: count, mean conf, accuracy; what a
 *                         reliability diagram plots
 * Generation, per doc: abstained = the answer matches one of the task's
 * abstention patterns (PCRE2, caseless, anywhere in the text); correct as
 * the task's metric decides. Over a set:
 *   abstain_rate        abstained / N
 *   hallucination_rate  wrong answers among those that did not abstain
 *                       (NAN when every doc abstained)
 * Undefined values (N == 0, an empty bin) are NAN; callers store NULL.
 * Nothing here allocates; idx selects docs (NULL = all n) so that the same
 * functions serve bootstrap resamples. */
#ifndef CJ_CALIB_H
#define CJ_CALIB_H

#include "../common/err.h"

#define CALIB_NBINS 10
#define CALIB_DEFAULT_THRESHOLD 0.9

typedef struct {
    double conf;         /* max_i p_i */
    int pred;            /* argmax_i p_i */
    int correct;         /* pred == gold */
    double brier;        /* sum_i (p_i - y_i)^2 */
    int confident_error; /* !correct && conf >= threshold */
} calib_doc;

typedef struct {
    double lo, hi;    /* conf range [lo, hi); the last bin is [0.9, 1.0] */
    int count;        /* docs in the bin */
    double conf_mean; /* mean conf of those docs; NAN if empty */
    double acc;       /* fraction correct; NAN if empty */
} calib_bin;

typedef struct {
    int n;
    double confident_error_rate;
    double brier;
    double ece;
    double acc;       /* fraction correct */
    double conf_mean; /* mean conf: acc - conf_mean < 0 means overconfident */
    calib_bin bins[CALIB_NBINS];
} calib_summary;

/* p[i] = exp(ll[i] - max ll) / sum, for n >= 1 log-likelihoods. -1 if an
 * ll is NaN or +inf, or every ll is -inf. */
int calib_softmax(const double *ll, int n, double *p, cj_err *e);

/* Scores one doc. -1 if n < 2, gold is outside [0, n), a p_i is not a
 * finite number in [0, 1], or the p_i do not sum to 1 within 1e-6. */
int calib_doc_score(const double *p, int n, int gold, double threshold, calib_doc *out, cj_err *e);

/* Summary over docs[idx[0..n)] (idx NULL: docs[0..n)). */
void calib_summarize(const calib_doc *docs, const int *idx, int n, calib_summary *out);

/* ECE alone, for a bootstrap stderr. */
double calib_ece(const calib_doc *docs, const int *idx, int n);

/* Sets *abstained to 1 if answer matches any of patterns[0..n_patterns). */
int calib_abstained(const char *answer, const char *const *patterns, int n_patterns, int *abstained,
                    cj_err *e);

typedef struct {
    int n, n_abstained, n_answered_wrong;
    double abstain_rate;
    double hallucination_rate;
} calib_abstention;

/* From per-doc flags abstained[i], correct[i] (0 or 1) of docs idx[0..n)
 * (idx NULL: docs 0..n-1). */
void calib_abstention_rates(const int *abstained, const int *correct, const int *idx, int n,
                            calib_abstention *out);

#endif
