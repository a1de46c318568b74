/* report_sections — the sections drawn from the runs and metrics tables:
 * runs, protocol, results, score against checkpoint step, calibration and
 * hallucination, with the rows and charts they share (report_impl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

/* Bars per chart: more categories than this are split over several charts. */
#define CATS_PER_CHART 20
/* Lines per step chart: groups first, then tasks. */
#define MAX_STEP_SERIES 10

static const report_metric *find_metric(const report_run *r, const char *task, const char *metric) {
    for (int i = 0; i < r->n_m; i++)
        if (!strcmp(r->m[i].task, task) && !strcmp(r->m[i].metric, metric)) return &r->m[i];
    return NULL;
}

/* ---- names and metrics seen across runs --------------------------------- */

typedef struct {
    char **v;
    int n;
} strlist;

static int sl_find(const strlist *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return i;
    return -1;
}

static void sl_add(strlist *l, const char *s) {
    if (sl_find(l, s) >= 0) return;
    l->v = cj_xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
    l->v[l->n++] = cj_xstrdup(s);
}

static void sl_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int is_bin_metric(const char *m) { return !strncmp(m, "ece_bin_", 8); }

/* Metrics on a 0..1 scale that charts show in percent. */
static int is_proportion(const char *m) {
    static const char *const P[] = {"acc", "acc_norm", "acc_bytes", "exact_match", "mc1", "mc2", "f1",
                                    "bleu_acc", "rouge1_acc", "rouge2_acc", "rougeL_acc", "abstain_rate",
                                    "hallucination_rate", "confident_error_rate", "ece", "brier"};
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (!strcmp(P[i], m)) return 1;
    return 0;
}

static int is_calibration(const char *m) {
    return !strcmp(m, "ece") || !strcmp(m, "brier") || !strcmp(m, "confident_error_rate");
}

static int is_hallucination(const char *task, const char *m) {
    return !strncmp(task, "truthfulqa", 10) || !strcmp(m, "abstain_rate") || !strcmp(m, "hallucination_rate");
}

/* The metric a task is charted by: its primary one if known and present,
 * else the first present of a fixed preference. */
static const char *main_metric(const report_run *runs, int n_runs, const char *task, const report_opts *o) {
    static const char *const PREF[] = {"acc", "acc_norm", "mc2", "exact_match", "f1"};
    const char *pm = o->primary_metric ? o->primary_metric(task, o->ctx) : NULL;
    for (int k = 0; k < n_runs; k++)
        if (pm && is_proportion(pm) && find_metric(&runs[k], task, pm)) return pm;
    for (size_t i = 0; i < sizeof PREF / sizeof PREF[0]; i++)
        for (int k = 0; k < n_runs; k++)
            if (find_metric(&runs[k], task, PREF[i])) return PREF[i];
    return NULL;
}

/* ---- the sections ------------------------------------------------------- */

void report_protocol_footer(report_ctx *c) {
    sb s;
    sb_init(&s);
    sb_puts(&s, "Protocol: ");
    for (int k = 0; k < c->n_runs; k++) {
        const report_run *r = &c->runs[k];
        sb_printf(&s, "%srun %lld: shots ", k ? "; " : "", (long long)r->id);
        if (r->shots >= 0) sb_printf(&s, "%d", r->shots);
        else sb_puts(&s, "task default");
        if (r->limit > 0) sb_printf(&s, ", limit %d", r->limit);
        else sb_puts(&s, ", all docs");
        if (r->has_seed) sb_printf(&s, ", seed %lld", (long long)r->seed);
        sb_printf(&s, ", model sha256 %.12s", r->model_sha256[0] ? r->model_sha256 : "?");
    }
    sb_puts(&s, ". Task versions and definition hashes: see Protocol.");
    sb_puts(&c->d.md, "<sub>");
    report_md_esc(&c->d.md, s.s);
    sb_puts(&c->d.md, "</sub>\n\n");
    sb_puts(&c->d.html, "<p class=\"protocol\">");
    report_html_esc(&c->d.html, s.s);
    sb_puts(&c->d.html, "</p>\n");
    sb_free(&s);
}

void report_section_runs(report_ctx *c) {
    static const char *const H[] = {"run", "model", "model sha256", "tags", "shots", "limit", "seed", "status",
                                    "started", "host"};
    report_table t;
    report_h2(&c->d, "Runs");
    report_table_begin(&t, &c->d, 10, H, "llllrrrlll");
    for (int k = 0; k < c->n_runs; k++) {
        const report_run *r = &c->runs[k];
        const char *base = strrchr(r->model_path, '/');
        report_table_cell(&t, "%lld", (long long)r->id);
        report_table_cell(&t, "%s", base ? base + 1 : r->model_path);
        report_table_cell(&t, "%s", r->model_sha256);
        report_table_cell(&t, "%s", r->tags);
        if (r->shots >= 0) report_table_cell(&t, "%d", r->shots);
        else report_table_cell(&t, "default");
        if (r->limit > 0) report_table_cell(&t, "%d", r->limit);
        else report_table_cell(&t, "all");
        if (r->has_seed) report_table_cell(&t, "%lld", (long long)r->seed);
        else report_table_cell(&t, "-");
        report_table_cell(&t, "%s", r->status);
        report_table_cell(&t, "%s", r->started_at);
        report_table_cell(&t, "%s", r->host);
    }
    report_table_end(&t);
    const report_run *r0 = &c->runs[0];
    report_p(&c->d, "chaejeom %s%s%s.", r0->harness_version[0] ? r0->harness_version : "?",
             r0->git_commit[0] ? ", commit " : "", r0->git_commit);
}

static const char *run_hash(const report_run *r, const char *task) {
    json_t *h = r->task_hashes ? json_object_get(r->task_hashes, task) : NULL;
    return json_is_string(h) ? json_string_value(h) : NULL;
}

/* Tasks and their definition hashes; one row when every run agrees. */
void report_section_protocol(report_ctx *c) {
    static const char *const H[] = {"task", "version", "definition sha256", "runs"};
    strlist tasks = {0};
    for (int k = 0; k < c->n_runs; k++) {
        const char *key;
        json_t *v;
        if (json_is_object(c->runs[k].task_hashes))
            json_object_foreach(c->runs[k].task_hashes, key, v) sl_add(&tasks, key);
    }
    report_h2(&c->d, "Protocol");
    if (!tasks.n) {
        report_p(&c->d, "No task definition hashes are recorded for these runs.");
        return;
    }
    report_table t;
    report_table_begin(&t, &c->d, 4, H, "llll");
    for (int i = 0; i < tasks.n; i++) {
        const char *first = NULL;
        int same = 1;
        for (int k = 0; k < c->n_runs; k++) {
            const char *s = run_hash(&c->runs[k], tasks.v[i]);
            if (s && !first) first = s;
            else if (s && strcmp(first, s)) same = 0;
        }
        for (int k = 0; k < c->n_runs; k++) {
            const char *s = run_hash(&c->runs[k], tasks.v[i]);
            if (!s) continue;
            const char *ver = c->o->task_version ? c->o->task_version(tasks.v[i], s, c->o->ctx) : NULL;
            report_table_cell(&t, "%s", tasks.v[i]);
            report_table_cell(&t, "%s", ver ? ver : "-");
            report_table_cell(&t, "%s", s);
            if (same) {
                report_table_cell(&t, "all");
                break;
            }
            report_table_cell(&t, "%lld", (long long)c->runs[k].id);
        }
    }
    report_table_end(&t);
    report_p(&c->d, "A version is shown when the task definition at hand still has the recorded hash. "
                    "Shots, limit, seed and model sha256 of each run are in the Runs table.");
    sl_free(&tasks);
}

/* (task, metric) pairs any run has, in the first run's order. */
typedef struct {
    strlist task, metric;
} rows;

static void rows_free(rows *r) {
    sl_free(&r->task);
    sl_free(&r->metric);
}

static void rows_add(rows *r, const char *task, const char *metric) {
    for (int j = 0; j < r->task.n; j++)
        if (!strcmp(r->task.v[j], task) && !strcmp(r->metric.v[j], metric)) return;
    r->task.v = cj_xrealloc(r->task.v, (size_t)(r->task.n + 1) * sizeof *r->task.v);
    r->metric.v = cj_xrealloc(r->metric.v, (size_t)(r->metric.n + 1) * sizeof *r->metric.v);
    r->task.v[r->task.n++] = cj_xstrdup(task);
    r->metric.v[r->metric.n++] = cj_xstrdup(metric);
}

static void collect_rows(report_ctx *c, rows *out, int (*keep)(const char *task, const char *metric)) {
    memset(out, 0, sizeof *out);
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++)
            if (keep(c->runs[k].m[i].task, c->runs[k].m[i].metric))
                rows_add(out, c->runs[k].m[i].task, c->runs[k].m[i].metric);
}

static int keep_result(const char *task, const char *m) {
    (void)task;
    return !is_bin_metric(m);
}

static int keep_calibration(const char *task, const char *m) {
    (void)task;
    return is_calibration(m);
}

static int keep_hallucination(const char *task, const char *m) {
    return is_hallucination(task, m) && !is_bin_metric(m);
}

/* One row per (task, metric), one "value ± 95%" column per run. */
static void metric_table(report_ctx *c, const rows *r) {
    static const char *const H[] = {"task", "metric", "n"};
    const char **heads = report_heads_with_runs(H, 3, c->runs, c->n_runs);
    char *align = report_align_str("llr", c->n_runs, 'r');
    report_table t;
    report_table_begin(&t, &c->d, 3 + c->n_runs, heads, align);
    for (int i = 0; i < r->task.n; i++) {
        long n = -1;
        for (int k = 0; k < c->n_runs && n < 0; k++) {
            const report_metric *m = find_metric(&c->runs[k], r->task.v[i], r->metric.v[i]);
            if (m) n = m->n;
        }
        report_table_cell(&t, "%s", r->task.v[i]);
        report_table_cell(&t, "%s", r->metric.v[i]);
        report_table_cell(&t, "%ld", n < 0 ? 0 : n);
        for (int k = 0; k < c->n_runs; k++) {
            const report_metric *m = find_metric(&c->runs[k], r->task.v[i], r->metric.v[i]);
            if (!m || !isfinite(m->value)) report_table_cell(&t, "-");
            else if (isfinite(m->se)) report_table_cell(&t, "%.4f ± %.4f", m->value, 1.96 * m->se);
            else report_table_cell(&t, "%.4f", m->value);
        }
    }
    report_table_end(&t);
    free(heads);
    free(align);
}

static const char **run_labels(const report_ctx *c) {
    const char **s = cj_xmalloc((size_t)c->n_runs * sizeof *s);
    for (int k = 0; k < c->n_runs; k++) s[k] = c->runs[k].label;
    return s;
}

/* Bars of r's rows in percent, runs side by side, 95% bars; split into
 * charts of CATS_PER_CHART categories (stem, stem_2, ...). */
static int chart_rows(report_ctx *c, const rows *r, const char *stem, const char *title, cj_err *e) {
    const char **series = run_labels(c);
    int rc = 0;
    for (int start = 0, part = 1; start < r->task.n && !rc; start += CATS_PER_CHART, part++) {
        int nc = r->task.n - start < CATS_PER_CHART ? r->task.n - start : CATS_PER_CHART;
        size_t cells = (size_t)nc * (size_t)c->n_runs;
        double *y = cj_xmalloc(cells * sizeof *y), *err = cj_xmalloc(cells * sizeof *err);
        char **labels = cj_xmalloc((size_t)nc * sizeof *labels);
        for (int j = 0; j < nc; j++) {
            const char *task = r->task.v[start + j], *met = r->metric.v[start + j];
            sb l;
            sb_init(&l);
            sb_printf(&l, "%s %s", task, met);
            labels[j] = sb_take(&l);
            for (int k = 0; k < c->n_runs; k++) {
                const report_metric *m = find_metric(&c->runs[k], task, met);
                y[(size_t)k * (size_t)nc + (size_t)j] = m && isfinite(m->value) ? 100 * m->value : NAN;
                err[(size_t)k * (size_t)nc + (size_t)j] = m && isfinite(m->se) ? 100 * 1.96 * m->se : 0;
            }
        }
        char st[64], ti[160];
        if (part == 1) snprintf(st, sizeof st, "%s", stem);
        else snprintf(st, sizeof st, "%s_%d", stem, part);
        if (r->task.n > CATS_PER_CHART) snprintf(ti, sizeof ti, "%s (part %d)", title, part);
        else snprintf(ti, sizeof ti, "%s", title);
        plot_bars_spec s = {ti, "", "percent", nc, (const char *const *)labels, c->n_runs, series, y, err, 0, NAN};
        cj_err pe;
        rc = report_chart_done(c, plot_bars(&c->plot, st, &s, &pe), st, ti, &pe, e);
        for (int j = 0; j < nc; j++) free(labels[j]);
        free(labels);
        free(y);
        free(err);
    }
    free(series);
    return rc;
}

/* Each task's main metric (the charted one), in the Results order. */
static void main_rows(report_ctx *c, rows *out, int groups_only) {
    memset(out, 0, sizeof *out);
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++) {
            const report_metric *m = &c->runs[k].m[i];
            if (groups_only && strcmp(m->kind, "group")) continue;
            const char *mm = main_metric(c->runs, c->n_runs, m->task, c->o);
            if (mm && !strcmp(mm, m->metric)) rows_add(out, m->task, mm);
        }
}

int report_section_results(report_ctx *c, cj_err *e) {
    rows r;
    collect_rows(c, &r, keep_result);
    report_h2(&c->d, "Results");
    if (!r.task.n) {
        report_p(&c->d, "No metrics are stored for these runs.");
        rows_free(&r);
        return 0;
    }
    report_p(&c->d, "Each value is followed by its 95%% interval (1.96 standard errors); n is the number of docs.");
    metric_table(c, &r);
    report_protocol_footer(c);
    rows_free(&r);
    if (!c->can_plot) return 0;
    rows mr;
    main_rows(c, &mr, 0);
    int rc = mr.task.n ? chart_rows(c, &mr, "scores", "Scores with 95% intervals", e) : 0;
    rows_free(&mr);
    return rc;
}

typedef struct {
    double step;
    int run;
} step_ix;

static int step_cmp(const void *a, const void *b) {
    const step_ix *x = a, *y = b;
    if (x->step != y->step) return (x->step > y->step) - (x->step < y->step);
    return x->run - y->run;
}

/* The table of g's rows (percent) against the runs ix[0..n), in step order. */
static void steps_table(report_ctx *c, const step_ix *ix, int n, const rows *g) {
    const char **heads = cj_xmalloc((size_t)(2 + n) * sizeof *heads);
    char **stepnames = cj_xmalloc((size_t)n * sizeof *stepnames);
    heads[0] = "task";
    heads[1] = "metric";
    for (int i = 0; i < n; i++) {
        sb s;
        sb_init(&s);
        sb_printf(&s, "step %g (run %lld)", ix[i].step, (long long)c->runs[ix[i].run].id);
        stepnames[i] = sb_take(&s);
        heads[2 + i] = stepnames[i];
    }
    char *align = report_align_str("ll", n, 'r');
    report_table t;
    report_table_begin(&t, &c->d, 2 + n, heads, align);
    for (int j = 0; j < g->task.n; j++) {
        report_table_cell(&t, "%s", g->task.v[j]);
        report_table_cell(&t, "%s", g->metric.v[j]);
        for (int i = 0; i < n; i++) {
            const report_metric *m = find_metric(&c->runs[ix[i].run], g->task.v[j], g->metric.v[j]);
            if (m && isfinite(m->value)) report_table_cell(&t, "%.2f", 100 * m->value);
            else report_table_cell(&t, "-");
        }
    }
    report_table_end(&t);
    for (int i = 0; i < n; i++) free(stepnames[i]);
    free(stepnames);
    free(heads);
    free(align);
}

/* A line per row of g (the first MAX_STEP_SERIES), score against step. */
static int steps_chart(report_ctx *c, const step_ix *ix, int n, const rows *g, cj_err *e) {
    int ns = g->task.n < MAX_STEP_SERIES ? g->task.n : MAX_STEP_SERIES;
    if (!c->can_plot || ns <= 0) return 0;
    if (g->task.n > ns) report_p(&c->d, "The chart shows the first %d of %d rows (groups first).", ns, g->task.n);
    char **names = cj_xmalloc((size_t)ns * sizeof *names);
    double **xs = cj_xmalloc((size_t)ns * sizeof *xs), **ys = cj_xmalloc((size_t)ns * sizeof *ys);
    int *np = cj_xmalloc((size_t)ns * sizeof *np);
    for (int j = 0; j < ns; j++) {
        sb s;
        sb_init(&s);
        sb_printf(&s, "%s %s", g->task.v[j], g->metric.v[j]);
        names[j] = sb_take(&s);
        xs[j] = cj_xmalloc((size_t)n * sizeof **xs);
        ys[j] = cj_xmalloc((size_t)n * sizeof **ys);
        np[j] = 0;
        for (int i = 0; i < n; i++) {
            const report_metric *m = find_metric(&c->runs[ix[i].run], g->task.v[j], g->metric.v[j]);
            if (!m || !isfinite(m->value)) continue;
            xs[j][np[j]] = ix[i].step;
            ys[j][np[j]++] = 100 * m->value;
        }
    }
    plot_lines_spec s = {"Score against checkpoint step", "step", "score (%)", ns, (const char *const *)names, np,
                         (const double *const *)xs, (const double *const *)ys, 0, 0, 0, 1, NAN, NAN};
    cj_err pe;
    int rc = report_chart_done(c, plot_lines(&c->plot, "steps", &s, &pe), "steps", "Score against checkpoint step",
                               &pe, e);
    for (int j = 0; j < ns; j++) {
        free(names[j]);
        free(xs[j]);
        free(ys[j]);
    }
    free(names);
    free(xs);
    free(ys);
    free(np);
    return rc;
}

/* Main metric against the step tag, one line per task or group. */
int report_section_steps(report_ctx *c, cj_err *e) {
    step_ix *ix = cj_xmalloc((size_t)c->n_runs * sizeof *ix);
    int n = 0;
    for (int k = 0; k < c->n_runs; k++)
        if (isfinite(c->runs[k].step)) ix[n++] = (step_ix){c->runs[k].step, k};
    if (n < 2) {
        free(ix);
        return 0;
    }
    qsort(ix, (size_t)n, sizeof *ix, step_cmp);
    /* groups first (they summarise), then tasks */
    rows all, g;
    main_rows(c, &g, 1);
    main_rows(c, &all, 0);
    for (int i = 0; i < all.task.n; i++) rows_add(&g, all.task.v[i], all.metric.v[i]);
    rows_free(&all);
    report_h2(&c->d, "Score against checkpoint step");
    report_p(&c->d, "Runs tagged step=N, in step order; each task or group by its main metric, in percent.");
    steps_table(c, ix, n, &g);
    report_protocol_footer(c);
    int rc = steps_chart(c, ix, n, &g, e);
    free(ix);
    rows_free(&g);
    return rc;
}

/* Reliability bins of one run pooled over tasks by doc count. */
typedef struct {
    double acc_n[64], conf_n[64], n[64];
    int has_conf[64];
    int k; /* bins seen: max index + 1 */
} bins;

static void pool_bins(const report_run *r, bins *b) {
    memset(b, 0, sizeof *b);
    /* first the per-bin counts, so that _acc / _conf rows can be weighted */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r->n_m; i++) {
            const report_metric *m = &r->m[i];
            if (!is_bin_metric(m->metric) || !isfinite(m->value)) continue;
            char *end;
            long bi = strtol(m->metric + 8, &end, 10);
            if (end == m->metric + 8 || bi < 0 || bi >= 64) continue;
            double w = m->n > 0 ? (double)m->n : 0;
            if (pass == 0 && (!*end || !strcmp(end, "_acc") || !strcmp(end, "_n"))) {
                if (!strcmp(end, "_n")) w = m->value > 0 ? m->value : 0;
                if (bi + 1 > b->k) b->k = (int)bi + 1;
                if (!*end || !strcmp(end, "_n")) b->n[bi] += w;
                if (!*end) b->acc_n[bi] += w * m->value;
            } else if (pass == 1 && (!strcmp(end, "_acc") || !strcmp(end, "_conf"))) {
                /* the weight of a task's bin is its _n row when there is one */
                char key[160];
                snprintf(key, sizeof key, "ece_bin_%ld_n", bi);
                const report_metric *nm = find_metric(r, m->task, key);
                double wt = nm && nm->value > 0 ? nm->value : w;
                if (!strcmp(end, "_acc")) b->acc_n[bi] += wt * m->value;
                else {
                    b->conf_n[bi] += wt * m->value;
                    b->has_conf[bi] = 1;
                }
            }
        }
}

/* The reliability diagram: each run's bins, pooled over its tasks. */
static int reliability_chart(report_ctx *c, cj_err *e) {
    char **names = cj_xmalloc((size_t)c->n_runs * sizeof *names);
    double **xs = cj_xmalloc((size_t)c->n_runs * sizeof *xs), **ys = cj_xmalloc((size_t)c->n_runs * sizeof *ys);
    int *np = cj_xmalloc((size_t)c->n_runs * sizeof *np);
    for (int k = 0; k < c->n_runs; k++) {
        bins b;
        pool_bins(&c->runs[k], &b);
        names[k] = c->runs[k].label;
        xs[k] = cj_xmalloc(64 * sizeof **xs);
        ys[k] = cj_xmalloc(64 * sizeof **ys);
        np[k] = 0;
        for (int i = 0; i < b.k; i++) {
            if (!(b.n[i] > 0)) continue;
            /* without a stored confidence, the bin's centre; bins are the
             * scorer's 10 unless a higher index says there are more */
            int nb = b.k > 10 ? b.k : 10;
            xs[k][np[k]] = b.has_conf[i] ? b.conf_n[i] / b.n[i] : (i + 0.5) / nb;
            ys[k][np[k]++] = b.acc_n[i] / b.n[i];
        }
    }
    plot_lines_spec s = {"Reliability diagram", "confidence", "accuracy", c->n_runs, (const char *const *)names, np,
                         (const double *const *)xs, (const double *const *)ys, 0, 0, 1, 1, 0, 1};
    cj_err pe;
    int rc = report_chart_done(c, plot_lines(&c->plot, "reliability", &s, &pe), "reliability",
                               "Reliability diagram (all tasks pooled by doc count)", &pe, e);
    for (int k = 0; k < c->n_runs; k++) {
        free(xs[k]);
        free(ys[k]);
    }
    free(names);
    free(xs);
    free(ys);
    free(np);
    return rc;
}

int report_section_calibration(report_ctx *c, cj_err *e) {
    rows r;
    collect_rows(c, &r, keep_calibration);
    int any_bins = 0;
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m && !any_bins; i++) any_bins = is_bin_metric(c->runs[k].m[i].metric);
    if (!r.task.n && !any_bins) {
        rows_free(&r);
        return 0;
    }
    report_h2(&c->d, "Calibration");
    report_p(&c->d, "ece: expected calibration error (10 equal-width confidence bins); brier: mean squared error of "
                    "the choice probabilities; confident_error_rate: wrong answers given with high confidence. Lower "
                    "is better for all three.");
    int rc = 0;
    if (r.task.n) {
        metric_table(c, &r);
        report_protocol_footer(c);
        if (c->can_plot) rc = chart_rows(c, &r, "calibration", "Calibration (lower is better)", e);
    }
    rows_free(&r);
    if (rc || !any_bins || !c->can_plot) return rc;
    return reliability_chart(c, e);
}

int report_section_hallucination(report_ctx *c, cj_err *e) {
    rows r;
    collect_rows(c, &r, keep_hallucination);
    if (!r.task.n) {
        rows_free(&r);
        return 0;
    }
    report_h2(&c->d, "Hallucination");
    report_p(&c->d, "TruthfulQA (mc1, mc2: the probability given to true answers; generation scored against true and "
                    "false references), and the abstention and hallucination rates of generative tasks.");
    metric_table(c, &r);
    report_protocol_footer(c);
    int rc = 0;
    if (c->can_plot) {
        rows p = {0};
        for (int i = 0; i < r.task.n; i++)
            if (is_proportion(r.metric.v[i])) rows_add(&p, r.task.v[i], r.metric.v[i]);
        if (p.task.n) rc = chart_rows(c, &p, "hallucination", "Hallucination metrics side by side", e);
        rows_free(&p);
    }
    rows_free(&r);
    return rc;
}
