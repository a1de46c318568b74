/* run_metrics — a run's metrics and latency summaries, recomputed from its
 * stored rows (run.h: run_compute_metrics, run_compute_latency). */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../metrics/calib.h"
#include "../metrics/score.h"
#include "../metrics/stats.h"
#include "../metrics/truthfulqa_gen.h"

/* --- metrics --------------------------------------------------------------------- */

/* One (task, metric) result, kept for the group aggregation. */
typedef struct {
    const char *task, *metric;
    double value, se;
    int n;
} mres;

/* Results of one metric computation pass: stored as they come, and kept
 * for the group aggregation. */
typedef struct {
    store *s;
    int64_t run_id;
    mres *v;
    int n, cap;
    uint64_t seed;
    int iters;          /* bootstrap resamples */
    double threshold;   /* confident_error_rate */
    cj_err *e;
} mctx;

static int put_res(mctx *m, const char *task, const char *kind, const char *metric, double v, double se, int n) {
    if (store_put_metric(m->s, m->run_id, task, kind, metric, v, se, n, m->e)) return -1;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->v = cj_xrealloc(m->v, sizeof *m->v * (size_t)m->cap);
    }
    m->v[m->n++] = (mres){task, metric, v, se, n};
    return 0;
}

/* Metric names of the reliability bins, as reports/report_sections.c reads them. */
#define BIN_NAMES(i) {"ece_bin_" #i "_n", "ece_bin_" #i "_conf", "ece_bin_" #i "_acc"}
static const char *const ECE_BINS[CALIB_NBINS][3] = {BIN_NAMES(0), BIN_NAMES(1), BIN_NAMES(2), BIN_NAMES(3),
                                                      BIN_NAMES(4), BIN_NAMES(5), BIN_NAMES(6), BIN_NAMES(7),
                                                      BIN_NAMES(8), BIN_NAMES(9)};

/* Per-doc means that a group aggregates as a size-weighted mean. */
static int is_mean_metric(const char *m) {
    return score_is_mc_metric(m) || score_is_gen_metric(m) || !strcmp(m, "confident_error_rate") ||
           !strcmp(m, "brier") || !strcmp(m, "abstain_rate") || !strcmp(m, "hallucination_rate");
}

typedef struct {
    task *t;
    int rolling;
    double threshold;
    /* current doc */
    char *doc;
    int target;
    score_choice *ch;
    int *labels;
    int nch, cap, all_labels;
    long words; /* rolling docs: words of the text */
    /* per metric values, one per doc (multiple choice) */
    double **vals;
    score_rolling *rd;
    calib_doc *cd; /* per doc; valid while calib is 1 */
    int *gold, *pred; /* per doc, for the corpus metrics (macro F1) */
    int calib;     /* every doc so far has a gold index and a probability for each choice */
    int ndocs, dcap;
    cj_err *e;
    int failed;
} macc;

static int flush_doc(macc *a) {
    if (!a->doc) return 0;
    if (a->ndocs == a->dcap) {
        a->dcap = a->dcap ? a->dcap * 2 : 64;
        a->rd = cj_xrealloc(a->rd, sizeof *a->rd * (size_t)a->dcap);
        a->cd = cj_xrealloc(a->cd, sizeof *a->cd * (size_t)a->dcap);
        a->gold = cj_xrealloc(a->gold, sizeof *a->gold * (size_t)a->dcap);
        a->pred = cj_xrealloc(a->pred, sizeof *a->pred * (size_t)a->dcap);
        for (int m = 0; m < task_n_metrics(a->t); m++)
            a->vals[m] = cj_xrealloc(a->vals[m], sizeof **a->vals * (size_t)a->dcap);
    }
    if (a->rolling) {
        a->rd[a->ndocs] = (score_rolling){a->ch[0].logprob, a->ch[0].n_tokens, a->words, a->ch[0].n_bytes};
    } else {
        score_mc s;
        score_mc_doc(a->ch, a->nch, a->target, a->all_labels ? a->labels : NULL, &s);
        a->gold[a->ndocs] = a->target;
        a->pred[a->ndocs] = s.pred;
        for (int m = 0; m < task_n_metrics(a->t); m++) {
            double v;
            const char *metric = task_metric(a->t, m);
            if (score_is_mc_corpus_metric(metric)) {
                if (a->target < 0)
                    return cj_fail(a->e, "task %s doc %s: no gold index for %s", task_name(a->t), a->doc, metric);
                continue;
            }
            if (score_mc_metric(&s, metric, &v) || isnan(v))
                return cj_fail(a->e, "task %s doc %s: no value for %s (missing gold or labels)", task_name(a->t),
                               a->doc, metric);
            a->vals[m][a->ndocs] = v;
        }
        /* Calibration needs one gold choice (not mc2's several true ones)
         * and the softmax of the choices' log-likelihoods. */
        int n_true = 0;
        for (int i = 0; a->all_labels && i < a->nch; i++) n_true += a->labels[i] == 1;
        if (a->all_labels && n_true != 1) a->calib = 0;
        if (a->calib) {
            double *ll = cj_xmalloc(sizeof *ll * (size_t)a->nch), *p = cj_xmalloc(sizeof *p * (size_t)a->nch);
            cj_err ignored;
            for (int i = 0; i < a->nch; i++) ll[i] = a->ch[i].logprob;
            a->calib = a->target >= 0 && a->nch >= 2 && !calib_softmax(ll, a->nch, p, &ignored) &&
                       !calib_doc_score(p, a->nch, a->target, a->threshold, &a->cd[a->ndocs], &ignored);
            free(ll);
            free(p);
        }
    }
    a->ndocs++;
    free(a->doc);
    a->doc = NULL;
    a->nch = 0;
    return 0;
}

static int choice_cb(const store_choice_row *row, void *ctx) {
    macc *a = ctx;
    if (!a->doc || strcmp(a->doc, row->doc_id)) {
        if (flush_doc(a)) return a->failed = 1;
        a->doc = cj_xstrdup(row->doc_id);
        a->target = row->target;
        a->all_labels = 1;
    }
    if (row->choice_idx != a->nch) {
        cj_fail(a->e, "task %s doc %s: choices are not numbered 0..n-1", task_name(a->t), row->doc_id);
        return a->failed = 1;
    }
    if (a->nch == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->ch = cj_xrealloc(a->ch, sizeof *a->ch * (size_t)a->cap);
        a->labels = cj_xrealloc(a->labels, sizeof *a->labels * (size_t)a->cap);
    }
    a->ch[a->nch] = (score_choice){row->logprob, row->n_tokens, row->n_chars, row->n_bytes, row->is_greedy};
    a->labels[a->nch] = row->label;
    a->words = row->n_words;
    if (row->label < 0) a->all_labels = 0;
    a->nch++;
    return 0;
}

typedef struct {
    const score_rolling *docs;
    const char *metric;
} boot_ctx;

static double boot_rolling(const int *idx, int n, void *ctx) {
    const boot_ctx *b = ctx;
    double v = NAN;
    score_rolling_metric(b->docs, idx, n, b->metric, &v);
    return v;
}

static double boot_ece(const int *idx, int n, void *ctx) { return calib_ece(ctx, idx, n); }

static double boot_f1(const int *idx, int n, void *ctx) {
    const macc *a = ctx;
    return score_f1_macro(a->gold, a->pred, idx, n);
}

static int min_iters(int iters) { return iters < RUN_CALIB_BOOTSTRAP ? iters : RUN_CALIB_BOOTSTRAP; }

/* confident_error_rate, brier, ece and the reliability bins of a task. */
static int calib_metrics(mctx *m, const char *name, const calib_doc *cd, int n) {
    double *ce = cj_xmalloc(sizeof *ce * (size_t)n), *br = cj_xmalloc(sizeof *br * (size_t)n);
    for (int i = 0; i < n; i++) {
        ce[i] = cd[i].confident_error;
        br[i] = cd[i].brier;
    }
    calib_summary sum;
    calib_summarize(cd, NULL, n, &sum);
    double ece_se = stats_bootstrap_stderr(boot_ece, (void *)cd, n, min_iters(m->iters), m->seed);
    int rc = put_res(m, name, "task", "confident_error_rate", sum.confident_error_rate, stats_stderr(ce, n), n) ||
             put_res(m, name, "task", "brier", sum.brier, stats_stderr(br, n), n) ||
             put_res(m, name, "task", "ece", sum.ece, ece_se, n);
    for (int b = 0; b < CALIB_NBINS && !rc; b++) {
        const calib_bin *x = &sum.bins[b];
        rc = put_res(m, name, "task", ECE_BINS[b][0], x->count, NAN, x->count) ||
             put_res(m, name, "task", ECE_BINS[b][1], x->conf_mean, NAN, x->count) ||
             put_res(m, name, "task", ECE_BINS[b][2], x->acc, NAN, x->count);
    }
    free(ce);
    free(br);
    return rc;
}

static int task_metrics(mctx *m, task *t) {
    int nm = task_n_metrics(t);
    macc a = {.t = t, .rolling = task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING, .threshold = m->threshold,
              .calib = task_output_type(t) == TASK_MULTIPLE_CHOICE, .e = m->e};
    a.vals = cj_xcalloc((size_t)(nm ? nm : 1), sizeof *a.vals);
    int rc = store_choices_each(m->s, m->run_id, task_name(t), choice_cb, &a, m->e);
    if (!rc && a.failed) rc = -1;
    if (!rc) rc = flush_doc(&a);
    for (int k = 0; k < nm && !rc && a.ndocs > 0; k++) {
        const char *metric = task_metric(t, k);
        double v, se;
        if (a.rolling) {
            if (score_rolling_metric(a.rd, NULL, a.ndocs, metric, &v)) {
                rc = cj_fail(m->e, "task %s: unknown metric %s", task_name(t), metric);
                break;
            }
            boot_ctx b = {a.rd, metric};
            se = stats_bootstrap_stderr(boot_rolling, &b, a.ndocs, m->iters, m->seed);
        } else if (score_is_mc_corpus_metric(metric)) {
            v = score_f1_macro(a.gold, a.pred, NULL, a.ndocs);
            se = stats_bootstrap_stderr(boot_f1, &a, a.ndocs, min_iters(m->iters), m->seed);
        } else {
            v = stats_mean(a.vals[k], a.ndocs);
            se = stats_stderr(a.vals[k], a.ndocs);
        }
        rc = put_res(m, task_name(t), "task", metric, v, se, a.ndocs);
    }
    if (!rc && a.calib && a.ndocs > 0) rc = calib_metrics(m, task_name(t), a.cd, a.ndocs);
    free(a.doc);
    free(a.ch);
    free(a.labels);
    for (int k = 0; k < nm; k++) free(a.vals[k]);
    free(a.vals);
    free(a.rd);
    free(a.cd);
    free(a.gold);
    free(a.pred);
    return rc;
}

/* A generation task's stored per-doc scores, gathered for the means. */
typedef struct {
    task *t;
    double **vals; /* [metric][doc], NAN where a doc has none */
    int *abstained, *correct;
    int n, cap;
    cj_err *e;
    int failed;
} gacc;

static int gen_cb(const store_generation *g, void *ctx) {
    gacc *a = ctx;
    int nm = task_n_metrics(a->t);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        for (int k = 0; k < nm; k++) a->vals[k] = cj_xrealloc(a->vals[k], sizeof **a->vals * (size_t)a->cap);
        a->abstained = cj_xrealloc(a->abstained, sizeof *a->abstained * (size_t)a->cap);
        a->correct = cj_xrealloc(a->correct, sizeof *a->correct * (size_t)a->cap);
    }
    json_error_t je;
    json_t *sc = g->scores ? json_loads(g->scores, 0, &je) : NULL;
    if (g->scores && !json_is_object(sc)) {
        json_decref(sc);
        cj_fail(a->e, "task %s doc %s: stored scores are not a JSON object", task_name(a->t), g->doc_id);
        return a->failed = 1;
    }
    for (int k = 0; k < nm; k++) {
        json_t *v = sc ? json_object_get(sc, task_metric(a->t, k)) : NULL;
        a->vals[k][a->n] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    json_decref(sc);
    a->abstained[a->n] = g->abstained;
    a->correct[a->n] = g->correct;
    a->n++;
    return 0;
}

typedef struct {
    const int *abstained, *correct;
} hall_ctx;

static double boot_hall(const int *idx, int n, void *ctx) {
    const hall_ctx *h = ctx;
    calib_abstention r;
    calib_abstention_rates(h->abstained, h->correct, idx, n, &r);
    return r.hallucination_rate;
}

/* Means of the per-doc scores (over the docs that have one), then
 * abstain_rate and hallucination_rate when the task marks abstentions. */
static int gen_metrics(mctx *m, task *t) {
    int nm = task_n_metrics(t), rc = 0;
    gacc a = {.t = t, .e = m->e};
    a.vals = cj_xcalloc((size_t)(nm ? nm : 1), sizeof *a.vals);
    rc = store_generations_each(m->s, m->run_id, task_name(t), gen_cb, &a, m->e);
    if (!rc && a.failed) rc = -1;
    double *x = cj_xmalloc(sizeof *x * (size_t)(a.n ? a.n : 1));
    for (int k = 0; k < nm && !rc && a.n > 0; k++) {
        int n = 0;
        for (int i = 0; i < a.n; i++)
            if (!isnan(a.vals[k][i])) x[n++] = a.vals[k][i];
        rc = put_res(m, task_name(t), "task", task_metric(t, k), n ? stats_mean(x, n) : NAN,
                     n ? stats_stderr(x, n) : NAN, n);
    }
    const task_gen_opts *g = task_gen(t);
    if (!rc && a.n > 0 && g->n_abstention) {
        /* docs with an abstention flag; for the hallucination rate also a
         * correctness verdict unless they abstained */
        int *ab = cj_xmalloc(sizeof *ab * (size_t)a.n), *co = cj_xmalloc(sizeof *co * (size_t)a.n), n = 0, nh = 0;
        for (int i = 0; i < a.n; i++)
            if (a.abstained[i] >= 0) x[n++] = a.abstained[i];
        for (int i = 0; i < a.n; i++)
            if (a.abstained[i] == 1 || (a.abstained[i] == 0 && a.correct[i] >= 0)) {
                ab[nh] = a.abstained[i];
                co[nh++] = a.correct[i] > 0;
            }
        rc = put_res(m, task_name(t), "task", "abstain_rate", n ? stats_mean(x, n) : NAN, n ? stats_stderr(x, n) : NAN,
                     n);
        if (!rc && g->correct_metric) {
            calib_abstention r;
            calib_abstention_rates(ab, co, NULL, nh, &r);
            hall_ctx h = {ab, co};
            double se = stats_bootstrap_stderr(boot_hall, &h, nh, min_iters(m->iters), m->seed);
            rc = put_res(m, task_name(t), "task", "hallucination_rate", r.hallucination_rate, se,
                         nh - r.n_abstained);
        }
        free(ab);
        free(co);
    }
    free(x);
    for (int k = 0; k < nm; k++) free(a.vals[k]);
    free(a.vals);
    free(a.abstained);
    free(a.correct);
    return rc;
}

/* Leaf task names under group g (recursively), deduplicated. */
static void group_leaves(const task_registry *reg, const task_group *g, const char ***out, int *n, int depth) {
    if (depth > 32) return; /* a cycle in the definitions; task_registry_load should refuse those */
    for (int i = 0; i < g->n_members; i++) {
        const char *m = g->members[i];
        const task_group *sub = task_find_group(reg, m);
        if (sub) {
            group_leaves(reg, sub, out, n, depth + 1);
            continue;
        }
        int dup = 0;
        for (int k = 0; k < *n && !dup; k++) dup = !strcmp((*out)[k], m);
        if (dup) continue;
        *out = cj_xrealloc((void *)*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = m;
    }
}

static const mres *find_res(const mres *r, int n, const char *task, const char *metric) {
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].task, task) && !strcmp(r[i].metric, metric)) return &r[i];
    return NULL;
}

/* A group's ECE and bins from its leaves' bins: the bins pool exactly (a
 * bin's count, summed confidence and summed correctness add up), so the
 * group's ECE is that of all its docs together. No stderr. */
static int group_ece(mctx *m, const char *group, const char *const *leaves, int nl) {
    double cnt[CALIB_NBINS] = {0}, conf[CALIB_NBINS] = {0}, acc[CALIB_NBINS] = {0}, N = 0;
    for (int i = 0; i < nl; i++) {
        if (!find_res(m->v, m->n, leaves[i], "ece")) return 0; /* a leaf without calibration */
        for (int b = 0; b < CALIB_NBINS; b++) {
            const mres *n = find_res(m->v, m->n, leaves[i], ECE_BINS[b][0]);
            const mres *c = find_res(m->v, m->n, leaves[i], ECE_BINS[b][1]);
            const mres *a = find_res(m->v, m->n, leaves[i], ECE_BINS[b][2]);
            if (!n || !c || !a) return 0;
            if (!(n->value > 0)) continue;
            cnt[b] += n->value;
            conf[b] += n->value * c->value;
            acc[b] += n->value * a->value;
            N += n->value;
        }
    }
    if (N <= 0) return 0;
    double ece = 0;
    int rc = 0;
    for (int b = 0; b < CALIB_NBINS && !rc; b++) {
        double c = cnt[b] > 0 ? conf[b] / cnt[b] : NAN, a = cnt[b] > 0 ? acc[b] / cnt[b] : NAN;
        if (cnt[b] > 0) ece += cnt[b] / N * fabs(a - c);
        rc = put_res(m, group, "group", ECE_BINS[b][0], cnt[b], NAN, (int)cnt[b]) ||
             put_res(m, group, "group", ECE_BINS[b][1], c, NAN, (int)cnt[b]) ||
             put_res(m, group, "group", ECE_BINS[b][2], a, NAN, (int)cnt[b]);
    }
    return rc || put_res(m, group, "group", "ece", ece, NAN, (int)N);
}

/* A group's value for each per-doc-mean metric that all its leaves in this
 * run report: size-weighted mean over the leaves, pooled stderr (lm-eval
 * aggregates over the leaf tasks, not over intermediate groups); its ECE
 * from the pooled bins. */
static int group_metrics(mctx *m, task_registry *reg, const task_group *g) {
    const mres *r = m->v;
    int nr = m->n;
    const char **leaves = NULL;
    int nl = 0, rc = 0;
    group_leaves(reg, g, &leaves, &nl, 0);
    /* keep the leaves this run scored */
    int k = 0;
    for (int i = 0; i < nl; i++) {
        int scored = 0;
        for (int j = 0; j < nr && !scored; j++) scored = !strcmp(r[j].task, leaves[i]);
        if (scored) leaves[k++] = leaves[i];
    }
    nl = k;
    double *v = cj_xmalloc(sizeof *v * (size_t)(nl ? nl : 1)), *se = cj_xmalloc(sizeof *se * (size_t)(nl ? nl : 1));
    int *sz = cj_xmalloc(sizeof *sz * (size_t)(nl ? nl : 1));
    /* m->v grows as group rows are added: walk the leaf rows that exist now */
    for (int j = 0; j < nr && nl && !rc; j++) {
        if (strcmp(m->v[j].task, leaves[0]) || !is_mean_metric(m->v[j].metric)) continue;
        const char *metric = m->v[j].metric;
        int all = 1;
        for (int i = 0; i < nl && all; i++) {
            const mres *x = find_res(m->v, nr, leaves[i], metric);
            if (!x) all = 0;
            else {
                v[i] = x->value;
                se[i] = x->se;
                sz[i] = x->n;
            }
        }
        if (!all) continue;
        double gv, gse;
        int N;
        stats_group(v, se, sz, nl, &gv, &gse, &N);
        rc = put_res(m, g->name, "group", metric, gv, gse, N);
    }
    if (!rc && nl) rc = group_ece(m, g->name, leaves, nl);
    free(v);
    free(se);
    free(sz);
    free((void *)leaves);
    return rc;
}

int run_compute_metrics(store *s, int64_t run_id, task_registry *reg, task *const *tasks, int n_tasks,
                        const task_group *const *groups, int n_groups, uint64_t seed, int bootstrap_iters,
                        double confidence_threshold, cj_err *e) {
    mctx m = {s, run_id, NULL, 0, 0, seed, bootstrap_iters, confidence_threshold, e};
    int rc = 0;
    if (store_begin(s, e)) return -1;
    for (int i = 0; i < n_tasks && !rc; i++)
        rc = task_output_type(tasks[i]) == TASK_GENERATE_UNTIL ? gen_metrics(&m, tasks[i]) : task_metrics(&m, tasks[i]);
    for (int i = 0; i < n_groups && !rc; i++) rc = group_metrics(&m, reg, groups[i]);
    free(m.v);
    if (rc) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, e);
}

/* --- latency -------------------------------------------------------------------------- */

int64_t run_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss <= 0) return -1;
    return (int64_t)ru.ru_maxrss * 1024; /* Linux reports kilobytes */
}

typedef struct {
    double *wall, *ttft;
    int n, nt, cap;
    store_latency_summary sum;
} lacc;

static int lat_cb(const store_latency *l, void *ctx) {
    lacc *a = ctx;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->wall = cj_xrealloc(a->wall, sizeof *a->wall * (size_t)a->cap);
        a->ttft = cj_xrealloc(a->ttft, sizeof *a->ttft * (size_t)a->cap);
    }
    store_latency_summary *s = &a->sum;
    if (!isnan(l->wall_s)) {
        a->wall[a->n++] = l->wall_s;
        s->wall_s += l->wall_s;
    }
    s->docs++;
    /* rates over the rows whose split is known, so that tokens/s x seconds
     * gives back the summed tokens */
    if (!isnan(l->prefill_s)) {
        s->prefill_tokens += l->prefill_tokens;
        s->prefill_s += l->prefill_s;
    }
    if (!isnan(l->decode_s)) {
        s->decode_tokens += l->decode_tokens;
        s->decode_s += l->decode_s;
    }
    if (!isnan(l->ttft_s)) a->ttft[a->nt++] = l->ttft_s;
    return 0;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted x[0..n), linear between closest ranks (numpy's default). */
static double quantile(const double *x, int n, double q) {
    if (n == 0) return NAN;
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return x[n - 1];
    return x[i] + (pos - i) * (x[i + 1] - x[i]);
}

static int summarize_latency(store *s, int64_t run_id, const char *task, int64_t peak_rss, cj_err *e) {
    lacc a = {0};
    a.sum.task = task ? task : STORE_ALL_TASKS;
    int rc = store_latency_each(s, run_id, task, lat_cb, &a, e);
    if (!rc && a.sum.docs > 0) {
        store_latency_summary *l = &a.sum;
        qsort(a.wall, (size_t)a.n, sizeof *a.wall, cmp_dbl);
        qsort(a.ttft, (size_t)a.nt, sizeof *a.ttft, cmp_dbl);
        l->prefill_tok_s = l->prefill_s > 0 ? l->prefill_tokens / l->prefill_s : NAN;
        l->decode_tok_s = l->decode_s > 0 ? l->decode_tokens / l->decode_s : NAN;
        l->ttft_mean_s = a.nt ? stats_mean(a.ttft, a.nt) : NAN;
        l->ttft_p95_s = quantile(a.ttft, a.nt, 0.95);
        l->p50_s = quantile(a.wall, a.n, 0.50);
        l->p95_s = quantile(a.wall, a.n, 0.95);
        l->p99_s = quantile(a.wall, a.n, 0.99);
        l->docs_per_s = l->wall_s > 0 ? l->docs / l->wall_s : NAN;
        l->peak_rss_bytes = peak_rss;
        rc = store_put_latency_summary(s, run_id, l, e);
    }
    free(a.wall);
    free(a.ttft);
    return rc;
}

static int old_peak_cb(const store_latency_summary *l, void *ctx) {
    if (!strcmp(l->task, STORE_ALL_TASKS) && l->peak_rss_bytes > *(int64_t *)ctx) *(int64_t *)ctx = l->peak_rss_bytes;
    return 0;
}

int run_compute_latency(store *s, int64_t run_id, task *const *tasks, int n_tasks, cj_err *e) {
    int64_t peak = run_peak_rss_bytes();
    if (store_begin(s, e)) return -1;
    int rc = store_latency_summaries_each(s, run_id, old_peak_cb, &peak, e);
    for (int i = 0; i < n_tasks && !rc; i++) rc = summarize_latency(s, run_id, task_name(tasks[i]), -1, e);
    if (!rc) rc = summarize_latency(s, run_id, NULL, peak, e);
    if (rc) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, e);
}
