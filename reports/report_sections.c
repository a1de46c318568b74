/* report_sections — the sections drawn from the metrics table after the
 * first screen: score against checkpoint step, calibration (its table and
 * one reliability diagram per group or task in no group) and hallucination,
 * and the metric table they share with the details (report_impl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

/* Lines per step chart: groups first, then tasks. */
#define MAX_STEP_SERIES 10
/* Reliability panels per row. */
#define PANEL_COLS 3

static int is_hallucination(const char *task, const char *m) {
    return !strncmp(task, "truthfulqa", 10) || !strcmp(m, "abstain_rate") || !strcmp(m, "hallucination_rate");
}

void report_metric_table(report_ctx *c, const report_pairs *p) {
    static const char *const H[] = {"task", "metric", "n"};
    const char **heads = report_heads_with_runs(H, 3, c->runs, c->n_runs);
    char *align = report_align_str("llr", c->n_runs, 'r');
    report_table t;
    report_table_begin(&t, &c->d, 3 + c->n_runs, heads, align);
    for (int i = 0; i < p->n; i++) {
        const char *task = p->task[i], *metric = p->metric[i];
        long cnt = -1;
        for (int k = 0; k < c->n_runs && cnt < 0; k++) {
            const report_metric *m = report_find_metric(&c->runs[k], task, metric);
            if (m) cnt = m->n;
        }
        report_table_cell(&t, "%s", task);
        report_table_cell(&t, "%s", metric);
        report_table_cell(&t, "%ld", cnt < 0 ? 0 : cnt);
        for (int k = 0; k < c->n_runs; k++) {
            char buf[64];
            report_table_cell(&t, "%s",
                              report_fmt_value(buf, sizeof buf, report_find_metric(&c->runs[k], task, metric),
                                               metric));
        }
    }
    report_table_end(&t);
    free(heads);
    free(align);
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
static void steps_table(report_ctx *c, const step_ix *ix, int n, const report_pairs *g) {
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
    for (int j = 0; j < g->n; j++) {
        report_table_cell(&t, "%s", g->task[j]);
        report_table_cell(&t, "%s", g->metric[j]);
        for (int i = 0; i < n; i++) {
            const report_metric *m = report_find_metric(&c->runs[ix[i].run], g->task[j], g->metric[j]);
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
static int steps_chart(report_ctx *c, const step_ix *ix, int n, const report_pairs *g, cj_err *e) {
    int ns = g->n < MAX_STEP_SERIES ? g->n : MAX_STEP_SERIES;
    if (!c->can_plot || ns <= 0) return 0;
    if (g->n > ns) report_p(&c->d, "The chart shows the first %d of %d rows (groups first).", ns, g->n);
    char **names = cj_xmalloc((size_t)ns * sizeof *names);
    double **xs = cj_xmalloc((size_t)ns * sizeof *xs), **ys = cj_xmalloc((size_t)ns * sizeof *ys);
    int *np = cj_xmalloc((size_t)ns * sizeof *np);
    for (int j = 0; j < ns; j++) {
        sb s;
        sb_init(&s);
        sb_printf(&s, "%s %s", g->task[j], g->metric[j]);
        names[j] = sb_take(&s);
        xs[j] = cj_xmalloc((size_t)n * sizeof **xs);
        ys[j] = cj_xmalloc((size_t)n * sizeof **ys);
        np[j] = 0;
        for (int i = 0; i < n; i++) {
            const report_metric *m = report_find_metric(&c->runs[ix[i].run], g->task[j], g->metric[j]);
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
    /* the summary's rows: groups first (they summarise), then tasks */
    report_pairs g = {0};
    for (int i = 0; i < c->n_items; i++)
        if (report_is_proportion(c->items[i].metric)) report_pairs_add(&g, c->items[i].name, c->items[i].metric);
    report_h2(&c->d, "Score against checkpoint step");
    report_p(&c->d, "Runs tagged step=N, in step order; each group or task of the summary by its headline metric, in "
                    "percent.");
    steps_table(c, ix, n, &g);
    report_protocol_footer(c);
    int rc = steps_chart(c, ix, n, &g, e);
    free(ix);
    report_pairs_free(&g);
    return rc;
}

/* Reliability bins of one task or group in one run. */
typedef struct {
    double acc_n[64], conf_n[64], n[64];
    int has_conf[64];
    int k; /* bins seen: max index + 1 */
} bins;

static void task_bins(const report_run *r, const char *task, bins *b) {
    memset(b, 0, sizeof *b);
    /* first the per-bin counts, so that _acc / _conf rows can be weighted */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r->n_m; i++) {
            const report_metric *m = &r->m[i];
            if (strcmp(m->task, task) || !report_is_bin_metric(m->metric) || !isfinite(m->value)) continue;
            char *end;
            long bi = strtol(m->metric + 8, &end, 10);
            if (end == m->metric + 8 || bi < 0 || bi >= 64) continue;
            double w = m->n > 0 ? (double)m->n : 0;
            if (pass == 0 && (!*end || !strcmp(end, "_n"))) {
                if (!strcmp(end, "_n")) w = m->value > 0 ? m->value : 0;
                if (bi + 1 > b->k) b->k = (int)bi + 1;
                b->n[bi] += w;
                if (!*end) b->acc_n[bi] += w * m->value;
            } else if (pass == 1 && (!strcmp(end, "_acc") || !strcmp(end, "_conf"))) {
                if (!strcmp(end, "_acc")) b->acc_n[bi] += b->n[bi] * m->value;
                else {
                    b->conf_n[bi] += b->n[bi] * m->value;
                    b->has_conf[bi] = 1;
                }
            }
        }
}

static int has_bins(const report_ctx *c, const char *task) {
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++)
            if (!strcmp(c->runs[k].m[i].task, task) && report_is_bin_metric(c->runs[k].m[i].metric)) return 1;
    return 0;
}

/* One panel: each run's bins of task as a line; the points live in xs, ys
 * (n_runs arrays of 64, the caller's). */
static void reliability_panel(report_ctx *c, const char *task, plot_lines_spec *s, const char **names, double **xs,
                              double **ys, int *np) {
    for (int k = 0; k < c->n_runs; k++) {
        bins b;
        task_bins(&c->runs[k], task, &b);
        names[k] = c->runs[k].label;
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
    *s = (plot_lines_spec){task, "confidence", "accuracy", c->n_runs, names, np, (const double *const *)xs,
                           (const double *const *)ys, 0, 0, 1, 1, 0, 1};
}

/* The reliability diagrams: one panel per top-level summary row with bins. */
static int reliability_chart(report_ctx *c, cj_err *e) {
    int np = 0;
    plot_lines_spec *panels = cj_xcalloc((size_t)c->n_items, sizeof *panels);
    size_t per = (size_t)c->n_runs, all = (size_t)c->n_items * per;
    const char **names = cj_xmalloc(all * sizeof *names);
    double **xs = cj_xmalloc(all * sizeof *xs), **ys = cj_xmalloc(all * sizeof *ys);
    int *npts = cj_xmalloc(all * sizeof *npts);
    for (size_t i = 0; i < all; i++) {
        xs[i] = cj_xmalloc(64 * sizeof **xs);
        ys[i] = cj_xmalloc(64 * sizeof **ys);
    }
    for (int i = 0; i < c->n_items; i++) {
        if (c->items[i].depth || !has_bins(c, c->items[i].name)) continue;
        size_t at = (size_t)np * per;
        reliability_panel(c, c->items[i].name, &panels[np++], names + at, xs + at, ys + at, npts + at);
    }
    int rc = 0;
    if (np) {
        cj_err pe;
        rc = report_chart_done(c, plot_panels(&c->plot, "reliability", panels, np, PANEL_COLS, &pe), "reliability",
                               "Reliability diagrams, one per group or task in no group", &pe, e);
    }
    for (size_t i = 0; i < all; i++) {
        free(xs[i]);
        free(ys[i]);
    }
    free(panels);
    free(names);
    free(xs);
    free(ys);
    free(npts);
    return rc;
}

/* A row per top-level summary row and run, a column per calibration metric:
 * as many columns whatever the number of runs, so the table fits the page. */
static void calibration_table(report_ctx *c, const report_names *ms) {
    int nc = 3 + ms->n;
    const char **heads = cj_xmalloc((size_t)nc * sizeof *heads);
    char **own = cj_xmalloc((size_t)ms->n * sizeof *own);
    heads[0] = "group or task";
    heads[1] = "run";
    heads[2] = "n";
    for (int j = 0; j < ms->n; j++) {
        sb s;
        sb_init(&s);
        sb_printf(&s, "%s%s", ms->v[j], report_is_proportion(ms->v[j]) ? " (%)" : "");
        heads[3 + j] = own[j] = sb_take(&s);
    }
    char *align = report_align_str("llr", ms->n, 'r');
    report_table t;
    report_table_begin(&t, &c->d, nc, heads, align);
    for (int i = 0; i < c->n_items; i++) {
        const report_item *it = &c->items[i];
        for (int k = 0, shown = 0; k < c->n_runs && !it->depth; k++) {
            const report_metric *first = NULL;
            for (int j = 0; j < ms->n && !first; j++) first = report_find_metric(&c->runs[k], it->name, ms->v[j]);
            if (!first) continue;
            report_table_cell(&t, "%s", shown++ ? "" : it->name);
            report_table_cell(&t, "%s", c->runs[k].name);
            report_table_cell(&t, "%ld", first->n);
            for (int j = 0; j < ms->n; j++) {
                char buf[64];
                report_table_cell(&t, "%s",
                                  report_fmt_value(buf, sizeof buf, report_find_metric(&c->runs[k], it->name, ms->v[j]),
                                                   ms->v[j]));
            }
        }
    }
    report_table_end(&t);
    for (int j = 0; j < ms->n; j++) free(own[j]);
    free(own);
    free(heads);
    free(align);
}

int report_section_calibration(report_ctx *c, cj_err *e) {
    static const char *const CAL[] = {"ece", "brier", "confident_error_rate"};
    report_names ms = {0};
    int any_bins = 0;
    for (int i = 0; i < c->n_items; i++) {
        if (c->items[i].depth) continue;
        any_bins |= has_bins(c, c->items[i].name);
        for (size_t j = 0; j < sizeof CAL / sizeof CAL[0]; j++)
            for (int k = 0; k < c->n_runs; k++)
                if (report_find_metric(&c->runs[k], c->items[i].name, CAL[j])) report_names_add(&ms, CAL[j]);
    }
    if (!ms.n && !any_bins) return 0;
    report_h2(&c->d, "Calibration");
    report_p(&c->d, "ece: expected calibration error (10 equal-width confidence bins); brier: mean squared error of "
                    "the choice probabilities; confident_error_rate: wrong answers given with high confidence. Lower "
                    "is better for all three. Each group (its subjects pooled) and task in no group; every subject's "
                    "are in Details.");
    if (ms.n) calibration_table(c, &ms);
    report_names_free(&ms);
    if (!any_bins || !c->can_plot) return 0;
    report_p(&c->d, "Reliability: accuracy against mean confidence per confidence bin, one diagram per group or task "
                    "in no group; points under the diagonal are overconfident.");
    return reliability_chart(c, e);
}

void report_section_hallucination(report_ctx *c) {
    report_pairs r = {0};
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++) {
            const report_metric *m = &c->runs[k].m[i];
            if (is_hallucination(m->task, m->metric) && !report_is_bin_metric(m->metric))
                report_pairs_add(&r, m->task, m->metric);
        }
    if (r.n) {
        report_h2(&c->d, "Hallucination");
        report_p(&c->d, "TruthfulQA (mc1, mc2: the probability given to true answers; generation scored against true "
                        "and false references), and the abstention and hallucination rates of generative tasks.");
        report_metric_table(c, &r);
    }
    report_pairs_free(&r);
}
