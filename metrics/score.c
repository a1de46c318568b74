/* score — see score.h. */
#include "score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "calib.h"
#include "textmetrics.h"
#include "truthfulqa_gen.h"

/* argmax of ll[i] / divisor[i]; by: 0 plain, 1 code points, 2 bytes.
 * Strict > keeps the lowest index on ties; a NaN never wins. */
static int argmax_scaled(const score_choice *c, int n, int by) {
    int best = -1;
    double bv = 0;
    for (int i = 0; i < n; i++) {
        int d = by == 1 ? c[i].n_chars : by == 2 ? c[i].n_bytes : 1;
        double v = c[i].logprob / (d > 0 ? d : 1);
        if (isnan(v)) continue;
        if (best < 0 || v > bv) {
            best = i;
            bv = v;
        }
    }
    return best < 0 ? 0 : best;
}

void score_mc_doc(const score_choice *c, int n, int gold, const int *labels, score_mc *out) {
    out->pred = argmax_scaled(c, n, 0);
    out->pred_norm = argmax_scaled(c, n, 1);
    out->pred_bytes = argmax_scaled(c, n, 2);
    if (gold >= 0 && gold < n) {
        out->acc = out->pred == gold;
        out->acc_norm = out->pred_norm == gold;
        out->acc_bytes = out->pred_bytes == gold;
        out->exact_match = c[gold].is_greedy ? 1 : 0;
    } else {
        out->acc = out->acc_norm = out->acc_bytes = out->exact_match = NAN;
    }
    out->mc2 = NAN;
    if (labels) {
        double mx = -INFINITY;
        for (int i = 0; i < n; i++)
            if (c[i].logprob > mx) mx = c[i].logprob;
        double num = 0, den = 0;
        for (int i = 0; i < n; i++) {
            double p = exp(c[i].logprob - mx);
            den += p;
            if (labels[i]) num += p;
        }
        out->mc2 = den > 0 ? num / den : NAN;
    }
}

int score_mc_metric(const score_mc *s, const char *metric, double *value) {
    if (!strcmp(metric, "acc")) *value = s->acc;
    else if (!strcmp(metric, "acc_norm")) *value = s->acc_norm;
    else if (!strcmp(metric, "acc_bytes")) *value = s->acc_bytes;
    else if (!strcmp(metric, "exact_match")) *value = s->exact_match;
    else if (!strcmp(metric, "mc2")) *value = s->mc2;
    else return -1;
    return 0;
}

int score_is_mc_corpus_metric(const char *metric) { return !strcmp(metric, "f1"); }

int score_is_mc_metric(const char *metric) {
    score_mc s = {0};
    double v;
    return score_mc_metric(&s, metric, &v) == 0 || score_is_mc_corpus_metric(metric);
}

double score_f1_macro(const int *gold, const int *pred, const int *idx, int n) {
    enum { L = SCORE_F1_MAX_LABELS };
    long tp[L] = {0}, fp[L] = {0}, fn[L] = {0};
    int seen[L] = {0};
    if (n <= 0) return NAN;
    for (int k = 0; k < n; k++) {
        int i = idx ? idx[k] : k;
        int g = gold[i] < L - 1 ? gold[i] : L - 1, p = pred[i] < L - 1 ? pred[i] : L - 1;
        seen[g] = seen[p] = 1;
        if (g == p) tp[g]++;
        else {
            fp[p]++;
            fn[g]++;
        }
    }
    double sum = 0;
    int labels = 0;
    for (int l = 0; l < L; l++) {
        if (!seen[l]) continue;
        labels++;
        /* sklearn (>= 1.3) divides the counts directly, 2 tp / (true +
         * predicted), so that the last bits agree with it; 2PR / (P + R) is
         * the same number */
        long den = 2 * tp[l] + fp[l] + fn[l];
        sum += den ? (double)(2 * tp[l]) / (double)den : 0;
    }
    return sum / labels;
}

int score_rolling_metric(const score_rolling *docs, const int *idx, int n, const char *metric, double *value) {
    double ll = 0, tokens = 0, words = 0, bytes = 0;
    for (int k = 0; k < n; k++) {
        const score_rolling *d = &docs[idx ? idx[k] : k];
        ll += d->logprob;
        tokens += (double)d->n_tokens;
        words += (double)d->n_words;
        bytes += (double)d->n_bytes;
    }
    if (!strcmp(metric, "word_perplexity")) *value = exp(-ll / words);
    else if (!strcmp(metric, "byte_perplexity")) *value = exp(-ll / bytes);
    else if (!strcmp(metric, "bits_per_byte")) *value = -ll / bytes / log(2.0);
    else if (!strcmp(metric, "token_perplexity")) *value = exp(-ll / tokens);
    else return -1;
    return 0;
}

int score_is_rolling_metric(const char *metric) {
    score_rolling d = {0};
    double v;
    return score_rolling_metric(&d, NULL, 0, metric, &v) == 0;
}

int score_utf8_chars(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* Length in bytes of the Python-whitespace character at p, or 0. */
static int py_space_len(const unsigned char *p) {
    if (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0D) || (p[0] >= 0x1C && p[0] <= 0x1F)) return 1;
    if (p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80) return 3; /* U+1680 */
    if (p[0] == 0xE2 && p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
        return 3; /* U+2000..200A, 2028, 2029, 202F */
    if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F) return 3; /* U+205F */
    if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

long score_count_words(const char *s) {
    long runs = 0;
    int in_space = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* Multi-byte checks read at most 2 bytes past p[0]; a NUL stops the
         * comparison chain before it runs off the string. */
        int k = py_space_len(p);
        if (k) {
            if (!in_space) runs++;
            in_space = 1;
            p += k;
        } else {
            in_space = 0;
            p++;
        }
    }
    return runs + 1;
}

/* --- generation ---------------------------------------------------------------- */

/* One answer's scores against the references. */
static int score_answer(score_gen_answer *a, const score_gen_refs *refs, const task_gen_opts *o, cj_err *e) {
    if (refs->gold) {
        tm_em_opts em = {o->ignore_case, o->ignore_punctuation, o->ignore_numbers, o->regexes_to_ignore,
                         o->n_regexes_to_ignore};
        if (tm_exact_match(a->answer, refs->gold, &em, &a->exact_match, e)) return -1;
        a->f1 = tm_token_f1(a->answer, refs->gold);
    }
    if (refs->refs_correct) {
        tqa_gen_scores t;
        if (tqa_gen_score(a->answer, refs->refs_correct, refs->n_refs_correct, refs->refs_incorrect,
                          refs->n_refs_incorrect, &t, e))
            return -1;
        a->has_tqa = 1;
        for (int i = 0; tqa_gen_metric_names[i]; i++) tqa_gen_metric(&t, tqa_gen_metric_names[i], &a->tqa[i]);
    }
    return 0;
}

int score_gen_doc(const char *text, const score_gen_refs *refs, const task_gen_opts *o, score_gen *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    out->abstained = out->correct = -1;
    out->filters = o->n_filters ? o->filters : NULL;
    out->n_answers = o->n_filters ? o->n_filters : 1;
    out->answers = cj_xcalloc((size_t)out->n_answers, sizeof *out->answers);
    for (int k = 0; k < out->n_answers; k++) {
        score_gen_answer *a = &out->answers[k];
        a->exact_match = a->f1 = NAN;
        for (int i = 0; i < 12; i++) a->tqa[i] = NAN;
        const task_filter *f = out->filters ? &out->filters[k] : NULL;
        if (f && tm_regex_extract(text, f->regex, f->group_select, f->fallback, &a->answer, e)) {
            cj_wrap(e, "filter %s", f->name ? f->name : "");
            goto fail;
        }
        if (!f) a->answer = cj_xstrdup(text);
        if (score_answer(a, refs, o, e)) goto fail;
    }
    if (o->n_abstention) {
        int a;
        if (calib_abstained(text, o->abstention, o->n_abstention, &a, e)) goto fail;
        out->abstained = a;
    }
    double c;
    if (o->correct_metric && !score_gen_metric(out, o->correct_metric, &c) && !isnan(c)) out->correct = c >= 0.5;
    return 0;
fail:
    score_gen_clear(out);
    return -1;
}

void score_gen_clear(score_gen *s) {
    for (int k = 0; k < s->n_answers; k++) free(s->answers[k].answer);
    free(s->answers);
    s->answers = NULL;
    s->n_answers = 0;
}

/* A per-answer metric by its name without the filter; -1 for another name. */
static int answer_metric(const score_gen_answer *a, const char *m, size_t len, double *value) {
    if (len == 11 && !strncmp(m, "exact_match", len)) *value = a->exact_match;
    else if (len == 2 && !strncmp(m, "f1", len)) *value = a->f1;
    else {
        for (int i = 0; tqa_gen_metric_names[i]; i++)
            if (strlen(tqa_gen_metric_names[i]) == len && !strncmp(m, tqa_gen_metric_names[i], len)) {
                *value = a->tqa[i];
                return 0;
            }
        return -1;
    }
    return 0;
}

int score_gen_metric(const score_gen *s, const char *metric, double *value) {
    const char *comma = strchr(metric, ',');
    size_t len = comma ? (size_t)(comma - metric) : strlen(metric);
    int k = comma ? -1 : 0;
    for (int i = 0; comma && s->filters && i < s->n_answers && k < 0; i++)
        if (s->filters[i].name && !strcmp(s->filters[i].name, comma + 1)) k = i;
    if (k < 0 || k >= s->n_answers) return -1;
    return answer_metric(&s->answers[k], metric, len, value);
}

int score_is_gen_metric(const char *metric) {
    score_gen_answer a = {0};
    double v;
    return answer_metric(&a, metric, strcspn(metric, ","), &v) == 0;
}
