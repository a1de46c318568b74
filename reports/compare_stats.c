/* compare_stats — the rows of a comparison: which metrics a task is compared
 * on, each row's paired test and bootstrap interval, Holm's correction and
 * the verdicts and gate, and the latency rows (compare_impl.h). Separate from
 * compare.c, which decides what is paired; this file decides what the pairs
 * say. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rdb.h"
#include "../metrics/pstats.h"
#include "compare_impl.h"

/* ---- the metrics and their rows ----------------------------------------- */

typedef struct {
    const char *name;
    int binary;
    int higher_better;
} metric_info;

/* Every metric compare can recompute per doc, indexed by the M_* names of
 * compare_impl.h. Order is the fallback order for a task with no primary
 * metric: the first one with values wins. */
static const metric_info METRICS[] = {
    {"acc", 1, 1}, {"acc_norm", 1, 1}, {"acc_bytes", 1, 1}, {"exact_match", 1, 1}, {"mc2", 0, 1}, {"brier", 0, 0},
};

static int metric_index(const char *name) {
    for (int i = 0; i < N_METRICS; i++)
        if (!strcmp(METRICS[i].name, name)) return i;
    return -1;
}

static uint64_t fnv1a(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* One row from paired values; the test, interval and means. */
static int fill_row(compare_row *row, const double *base, const double *cand, size_t n, const compare_opts *o,
                    cj_err *e) {
    row->n = (long)n;
    double sa = 0, sb_ = 0;
    long b = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        sa += base[i];
        sb_ += cand[i];
        if (base[i] > cand[i]) b++;
        if (cand[i] > base[i]) c++;
    }
    row->base = sa / (double)n;
    row->cand = sb_ / (double)n;
    row->diff = row->cand - row->base;
    row->b = b;
    row->c = c;
    ps_boot bo;
    uint64_t seed = fnv1a(row->metric, fnv1a("/", fnv1a(row->task, 0xcbf29ce484222325ULL ^ o->seed)));
    if (ps_paired_bootstrap(base, cand, n, o->resamples, 1 - o->alpha, seed, &bo, e))
        return cj_wrap(e, "%s %s", row->task, row->metric);
    row->lo = bo.lo;
    row->hi = bo.hi;
    row->p = row->binary ? ps_mcnemar_exact(b, c) : bo.p;
    return 0;
}

int compare_add_row(compare_result *r, const char *name, int is_group, int m, compare_task *const *tasks, int k,
                    const compare_opts *o, cj_err *e) {
    size_t cap = 0;
    for (int t = 0; t < k; t++) cap += tasks[t]->n_pairs;
    double *base = cj_xmalloc((cap ? cap : 1) * sizeof *base), *cand = cj_xmalloc((cap ? cap : 1) * sizeof *cand);
    size_t n = 0;
    long unpaired = 0;
    for (int t = 0; t < k; t++) {
        const compare_task *ct = tasks[t];
        unpaired += (long)ct->n_unpaired;
        for (size_t i = 0; i < ct->n_pairs; i++) {
            double x = ct->a.d[ct->ia[i]].v[m], y = ct->b.d[ct->ib[i]].v[m];
            if (isnan(x) || isnan(y)) continue;
            base[n] = x;
            cand[n] = y;
            n++;
        }
    }
    int rc = 0;
    if (n == 0) {
        compare_note(r, "%s: no paired per-doc values of %s", name, METRICS[m].name);
    } else {
        r->rows = cj_xrealloc(r->rows, (size_t)(r->n_rows + 1) * sizeof *r->rows);
        compare_row *row = &r->rows[r->n_rows++];
        memset(row, 0, sizeof *row);
        row->task = cj_xstrdup(name);
        row->metric = cj_xstrdup(METRICS[m].name);
        row->is_group = is_group;
        row->binary = METRICS[m].binary;
        row->higher_better = METRICS[m].higher_better;
        row->scale = 100;
        row->n_unpaired = unpaired;
        rc = fill_row(row, base, cand, n, o, e);
    }
    free(base);
    free(cand);
    return rc;
}

/* 1 if some paired doc has a value of metric m in both runs. */
static int has_values(const compare_task *t, int m) {
    for (size_t i = 0; i < t->n_pairs; i++)
        if (!isnan(t->a.d[t->ia[i]].v[m]) && !isnan(t->b.d[t->ib[i]].v[m])) return 1;
    return 0;
}

int compare_choose_metrics(compare_task *t, const compare_opts *o, compare_result *r, cj_err *e) {
    if (o->metrics) {
        char *list = cj_xstrdup(o->metrics), *save = NULL;
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            while (*p == ' ') p++;
            int m = metric_index(p);
            if (m < 0) {
                cj_fail(e,
                        "--metric: '%s' is not a per-doc metric compare can pair (acc, acc_norm, acc_bytes, "
                        "exact_match, mc2, brier)",
                        p);
                free(list);
                return -1;
            }
            t->metrics[m] = 1;
        }
        free(list);
        return 0;
    }
    const char *pm = o->primary_metric ? o->primary_metric(t->name, o->ctx) : NULL;
    int m = pm ? metric_index(pm) : -1;
    if (m >= 0 && has_values(t, m)) {
        t->metrics[m] = 1;
        return 0;
    }
    for (int k = 0; k < N_METRICS; k++)
        if (has_values(t, k)) {
            if (pm)
                compare_note(r, "%s: its metric %s has no per-doc values to pair; compared on %s", t->name, pm,
                             METRICS[k].name);
            t->metrics[k] = 1;
            return 0;
        }
    if (t->n_pairs) compare_note(r, "%s: no per-doc metric to pair (corpus-level metrics are not tested)", t->name);
    return 0;
}

void compare_rows_finish(compare_result *r, const compare_opts *o, cj_err *e) {
    double *p = cj_xmalloc((size_t)(r->n_rows ? r->n_rows : 1) * sizeof *p);
    for (int i = 0; i < r->n_rows; i++) p[i] = r->rows[i].p;
    /* p-values come from our own tests and are always in [0, 1] */
    if (ps_holm(p, (size_t)r->n_rows, p, e)) abort();
    for (int i = 0; i < r->n_rows; i++) {
        compare_row *w = &r->rows[i];
        w->p_holm = p[i];
        double gain = w->diff * w->scale * (w->higher_better ? 1 : -1);
        if (w->p_holm < o->alpha && gain != 0) w->verdict = gain > 0 ? CMP_BETTER : CMP_WORSE;
        w->gated = w->verdict == CMP_WORSE && -gain > o->max_drop;
        if (w->gated) r->gate_failed = 1;
    }
    free(p);
}

/* ---- latency ------------------------------------------------------------ */

typedef struct {
    char *task;
    double wall, tokens;
    double *w; /* per-doc wall seconds */
    size_t n, cap;
} lat_acc;

typedef struct {
    lat_acc *t;
    int n;
} lat_set;

static lat_acc *lat_get(lat_set *s, const char *task) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].task, task)) return &s->t[i];
    s->t = cj_xrealloc(s->t, (size_t)(s->n + 1) * sizeof *s->t);
    lat_acc *a = &s->t[s->n++];
    memset(a, 0, sizeof *a);
    a->task = cj_xstrdup(task);
    return a;
}

static void lat_add(lat_acc *a, double wall, double tokens) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->w = cj_xrealloc(a->w, a->cap * sizeof *a->w);
    }
    a->w[a->n++] = wall;
    a->wall += wall;
    a->tokens += tokens;
}

static void lat_free(lat_set *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].task);
        free(s->t[i].w);
    }
    free(s->t);
}

/* Latency rows of the selected tasks, plus their total under "(all)". */
static int lat_load(sqlite3 *db, int64_t run, char *const *tasks, int n_tasks, lat_set *s, cj_err *e) {
    sqlite3_stmt *st;
    memset(s, 0, sizeof *s);
    if (sqlite3_prepare_v2(db,
                           "SELECT task, wall_s, COALESCE(prefill_tokens, 0) + COALESCE(decode_tokens, 0) "
                           "FROM latency WHERE run_id = ?1 AND wall_s IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading latency");
    sqlite3_bind_int64(st, 1, run);
    lat_acc *all = lat_get(s, "(all)");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        double w = sqlite3_column_double(st, 1), tok = sqlite3_column_double(st, 2);
        if (!t || !compare_in_list(tasks, n_tasks, t) || !(w >= 0) || !isfinite(w)) continue;
        lat_add(lat_get(s, t), w, tok);
        all = &s->t[0]; /* lat_get may have moved the array */
        lat_add(all, w, tok);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading latency");
    return 0;
}

static void lat_stats(lat_acc *a, double *docs_s, double *tok_s, double *p95) {
    *docs_s = a->wall > 0 ? (double)a->n / a->wall : NAN;
    *tok_s = a->wall > 0 ? a->tokens / a->wall : NAN;
    ps_sort(a->w, a->n);
    *p95 = ps_quantile_sorted(a->w, a->n, 0.95);
}

int compare_latency_rows(sqlite3 *db, compare_result *r, char *const *tasks, int n_tasks, const compare_opts *o,
                         cj_err *e) {
    if (!rdb_has_table(db, "latency")) return 0;
    lat_set la, lb;
    if (lat_load(db, r->base.id, tasks, n_tasks, &la, e)) return -1;
    if (lat_load(db, r->cand.id, tasks, n_tasks, &lb, e)) {
        lat_free(&la);
        return -1;
    }
    /* index 0 is the "(all)" total */
    if (la.t[0].n && !lb.t[0].n)
        compare_note(r, "the candidate has no latency rows (its results came from the request cache?)");
    if (!la.t[0].n && lb.t[0].n)
        compare_note(r, "the base has no latency rows (its results came from the request cache?)");
    for (int i = 0; i < la.n; i++) {
        lat_acc *x = &la.t[i], *y = NULL;
        for (int j = 0; j < lb.n; j++)
            if (!strcmp(lb.t[j].task, x->task)) y = &lb.t[j];
        if (!y || !x->n || !y->n) continue;
        r->lat = cj_xrealloc(r->lat, (size_t)(r->n_lat + 1) * sizeof *r->lat);
        compare_latency *l = &r->lat[r->n_lat++];
        memset(l, 0, sizeof *l);
        l->task = cj_xstrdup(x->task);
        l->n_base = (long)x->n;
        l->n_cand = (long)y->n;
        lat_stats(x, &l->base_docs_s, &l->base_tokens_s, &l->base_p95);
        lat_stats(y, &l->cand_docs_s, &l->cand_tokens_s, &l->cand_p95);
        l->slowdown = l->base_docs_s > 0 ? 1 - l->cand_docs_s / l->base_docs_s : 0;
        double p95_growth = l->base_p95 > 0 ? l->cand_p95 / l->base_p95 - 1 : 0;
        l->flagged = l->slowdown > o->max_slowdown || p95_growth > o->max_slowdown;
        if (l->flagged) r->latency_flagged = 1;
        /* only the total gates: a task of a few docs is too noisy to fail a build on */
        if (l->flagged && o->gate_latency && !strcmp(l->task, "(all)")) r->gate_failed = 1;
    }
    lat_free(&la);
    lat_free(&lb);
    if (r->n_lat && strcmp(r->base.host, r->cand.host))
        compare_note(r, "latency was measured on different hosts (%s, %s): the speeds are not comparable",
                     r->base.host[0] ? r->base.host : "?", r->cand.host[0] ? r->cand.host : "?");
    return 0;
}

