/* score — per-doc scores from per-choice log-likelihoods, and the corpus
 * metrics of rolling (perplexity) tasks. Definitions: EVAL-DEFINITIONS.md,
 * which follows lm-evaluation-harness.
 *
 * Multiple choice (one doc, n choices, gold index g):
 *   acc          1 if argmax_i ll[i] == g (ties go to the lowest index)
 *                (Winogrande's partial scoring is the same rule: each
 *                choice is a context, the one scoring the shared
 *                continuation highest wins)
 *   acc_norm     same with ll[i] / n_chars[i] (Unicode code points of the
 *                choice text, delimiter excluded)
 *   acc_bytes    same with ll[i] / n_bytes[i] (UTF-8 bytes)
 *   exact_match  is_greedy of the gold choice
 *   mc2          p = exp(ll - max ll); sum(p[label == 1]) / sum(p)
 * Rolling (corpus-level, lm-eval's weighted_perplexity / bits_per_byte):
 *   word_perplexity   exp(-sum ll / sum words)
 *   byte_perplexity   exp(-sum ll / sum bytes)
 *   bits_per_byte     -sum ll / sum bytes / ln 2
 *   token_perplexity  exp(-sum ll / sum tokens)
 * A choice with zero chars (bytes) is divided by 1, not 0. Pure functions;
 * nothing allocates (except score_gen_doc's answers). */
#ifndef CJ_SCORE_H
#define CJ_SCORE_H

#include "../common/err.h"
#include "../tasks/task.h"

/* One scored choice (one runner_ll_result plus the choice text's lengths). */
typedef struct {
    double logprob; /* sum of ln p over the continuation's tokens */
    int n_tokens;
    int n_chars; /* code points of the choice text */
    int n_bytes; /* UTF-8 bytes of the choice text */
    int is_greedy;
} score_choice;

typedef struct {
    int pred;       /* argmax ll */
    int pred_norm;  /* argmax ll / n_chars */
    int pred_bytes; /* argmax ll / n_bytes */
    double acc, acc_norm, acc_bytes, exact_match;
    double mc2; /* NAN unless labels were given */
} score_mc;

/* n >= 1. gold may be -1 (then acc* and exact_match are NAN); labels may be
 * NULL (then mc2 is NAN). */
void score_mc_doc(const score_choice *c, int n, int gold, const int *labels, score_mc *out);

/* The value of a multiple-choice metric by name from a scored doc; returns
 * -1 for a name that is not a per-doc multiple-choice metric. */
int score_mc_metric(const score_mc *s, const char *metric, double *value);

/* One rolling doc. */
typedef struct {
    double logprob;
    long n_tokens, n_words, n_bytes;
} score_rolling;

/* Corpus value of a rolling metric over docs[idx[0..n)] (idx may be NULL
 * for docs[0..n)); -1 for an unknown name. */
int score_rolling_metric(const score_rolling *docs, const int *idx, int n, const char *metric, double *value);

/* Corpus-level multiple-choice metric (not a mean of per-doc values):
 *   f1           macro F1 of the predicted index (argmax ll) against the
 *                gold index, as sklearn's f1_score(average="macro"): the
 *                labels are every index seen as gold or predicted; per
 *                label, F1 = 2PR / (P + R) = 2 tp / (2 tp + fp + fn), 0
 *                when that denominator is 0; the mean over labels.
 * Over docs idx[0..n) of gold[] / pred[] (idx may be NULL for 0..n-1);
 * indices are >= 0. NAN when n == 0. Allocates nothing for at most
 * SCORE_F1_MAX_LABELS labels; more labels count as one "other" label. */
#define SCORE_F1_MAX_LABELS 64
double score_f1_macro(const int *gold, const int *pred, const int *idx, int n);

/* 1 for a corpus-level multiple-choice metric (f1, above): score_mc_metric
 * does not give it per doc. */
int score_is_mc_corpus_metric(const char *metric);

/* 1 if metric is a multiple-choice / rolling metric this module computes
 * (per doc or corpus-level). */
int score_is_mc_metric(const char *metric);
int score_is_rolling_metric(const char *metric);

/* Generation (generate_until), one doc. Each of the task's filters
 * (task_filter; none: the whole generation) gives one answer, and each
 * answer its own scores:
 *   answer       the generation after the filter: lm-eval's regex filter
 *                (textmetrics tm_regex_extract) then take_first
 *   exact_match  the answer equals the gold text after the task's
 *                normalisations (lm-eval's / HF evaluate's exact_match)
 *   f1           SQuAD token F1 of the answer against the gold text
 *   bleu_*, rouge*_*  lm-eval's truthfulqa_gen scores of the answer against
 *                the correct and incorrect references (truthfulqa_gen.h);
 *                the references are used as given
 * and for the doc:
 *   abstained    the generation (before extraction, so that an extracted
 *                letter does not hide "I don't know") matches one of the
 *                task's abstention patterns
 *   correct      the task's correct_metric is 1 (for hallucination_rate)
 * Values that a doc lacks the inputs for are NAN (flags -1). */
typedef struct {
    const char *gold;                 /* NULL: no exact_match / f1 */
    const char *const *refs_correct;  /* NULL: no truthfulqa scores */
    int n_refs_correct;
    const char *const *refs_incorrect;
    int n_refs_incorrect;
} score_gen_refs;

typedef struct {
    char *answer; /* malloc'd; score_gen_clear frees */
    double exact_match, f1;
    int has_tqa;
    double tqa[12]; /* in the order of tqa_gen_metric_names */
} score_gen_answer;

typedef struct {
    score_gen_answer *answers; /* [n_answers]: one per filter, in the task's order (one without filters) */
    int n_answers;
    const task_filter *filters; /* the task's, whose names score_gen_metric resolves; NULL without filters */
    int abstained; /* -1: the task has no abstention patterns */
    int correct;   /* -1: no correct_metric, or its value is NAN */
} score_gen;

/* opts is the task's task_gen_opts (tasks/task.h); score_gen points at its
 * filters. Errors: a pattern that fails to match (PCRE2 limits), or
 * truthfulqa references without an incorrect answer. */
int score_gen_doc(const char *text, const score_gen_refs *refs, const task_gen_opts *opts, score_gen *out, cj_err *e);
void score_gen_clear(score_gen *s);

/* The value of a per-doc generation metric by name: exact_match, f1, the
 * truthfulqa_gen names, of the first answer, or "METRIC,FILTER" of the
 * named filter's answer; -1 for another name. */
int score_gen_metric(const score_gen *s, const char *metric, double *value);
/* 1 for a generation metric name, with or without ",FILTER". */
int score_is_gen_metric(const char *metric);

/* Unicode code points in a UTF-8 string (bytes that are not continuation
 * bytes, as Python's len() counts a decoded str). */
int score_utf8_chars(const char *s);

/* Words as lm-eval counts them: len(re.split(r"\s+", text)), i.e. one more
 * than the number of maximal runs of Python whitespace (a leading or
 * trailing run counts, as it yields an empty piece). */
long score_count_words(const char *s);

#endif
