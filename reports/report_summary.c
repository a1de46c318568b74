/* report_summary — the report's first screen and its heatmaps
 * (report_impl.h): the runs, the verdict line, the summary table (each
 * group, subgroup and task in no group by its headline metric; with several
 * runs, each later run's difference from the first and compare's verdict),
 * the bar chart of those rows, and one heatmap per group of its subjects. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

/* Verdict lines name at most this many rows; the table has them all. */
#define MAX_NAMED 6

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
    sb_puts(&s, ". Task versions and definition hashes: see Details.");
    sb_puts(&c->d.md, "<sub>");
    report_md_esc(&c->d.md, s.s);
    sb_puts(&c->d.md, "</sub>\n\n");
    sb_puts(&c->d.html, "<p class=\"protocol\">");
    report_html_esc(&c->d.html, s.s);
    sb_puts(&c->d.html, "</p>\n");
    sb_free(&s);
}

static const char *model_name(const report_run *r) {
    const char *base = strrchr(r->model_path, '/');
    return base ? base + 1 : r->model_path;
}

void report_section_runs(report_ctx *c) {
    static const char *const H[] = {"run", "model", "sha256", "tags", "shots", "limit", "started"};
    report_table t;
    report_h2(&c->d, "Runs");
    report_table_begin(&t, &c->d, 7, H, "lllllrl");
    for (int k = 0; k < c->n_runs; k++) {
        const report_run *r = &c->runs[k];
        report_table_cell(&t, "%lld%s", (long long)r->id, k == 0 && c->n_runs > 1 ? " (base)" : "");
        report_table_cell(&t, "%s", model_name(r));
        report_table_cell(&t, "%.12s", r->model_sha256);
        report_table_cell(&t, "%s", r->tags[0] ? r->tags : "-");
        if (r->shots >= 0) report_table_cell(&t, "%d", r->shots);
        else report_table_cell(&t, "task default");
        if (r->limit > 0) report_table_cell(&t, "%d", r->limit);
        else report_table_cell(&t, "all");
        report_table_cell(&t, "%s", r->started_at);
    }
    report_table_end(&t);
}

/* "run 3 vs run 1: 2 worse (mmlu, hellaswag), 1 better (winogrande) of 64
 * rows compared", or why run k was not compared. */
static void verdict_line(report_ctx *c, int k) {
    const report_cmp *x = &c->cmp[k];
    sb s;
    sb_init(&s);
    sb_printf(&s, "Run %lld vs run %lld: ", (long long)c->runs[k].id, (long long)c->runs[0].id);
    if (!x->ok) {
        sb_printf(&s, "not compared: %s", x->why);
    } else {
        int any = 0;
        for (int v = -1; v <= 1; v += 2) {
            int n = 0;
            for (int i = 0; i < x->r.n_rows; i++) n += x->r.rows[i].verdict == (compare_verdict)v;
            if (!n) continue;
            sb_printf(&s, "%s%d %s (", any++ ? ", " : "", n, v < 0 ? "worse" : "better");
            for (int i = 0, named = 0; i < x->r.n_rows && named <= MAX_NAMED; i++) {
                if (x->r.rows[i].verdict != (compare_verdict)v) continue;
                sb_printf(&s, "%s%s", named ? ", " : "", named < MAX_NAMED ? x->r.rows[i].task : "…");
                named++;
            }
            sb_puts(&s, ")");
        }
        if (!any) sb_puts(&s, "no significant change");
        sb_printf(&s, " in %d rows compared (tasks and groups, paired docs, Holm-corrected at α = %g).",
                  x->r.n_rows, x->r.alpha);
    }
    report_p(&c->d, "%s", s.s);
    sb_free(&s);
}

/* The difference cell of run k on item it: compare's difference in points
 * (metric units for unscaled metrics), its interval and verdict. */
static void diff_cell(report_table *t, const report_ctx *c, int k, const report_item *it) {
    const compare_row *r = report_cmp_row(c, k, it->name, it->metric);
    if (!r || r->n < 1 || !isfinite(r->diff)) {
        report_table_cell(t, "-");
        return;
    }
    const char *word = r->verdict == CMP_BETTER ? "better" : r->verdict == CMP_WORSE ? "worse" : "n.s.";
    const char *cls = r->verdict == CMP_BETTER ? "better" : r->verdict == CMP_WORSE ? "worse" : NULL;
    const char *fmt = r->scale == 100 ? "%+.1f [%+.1f, %+.1f] %s" : "%+.3g [%+.3g, %+.3g] %s";
    report_table_cell_cls(t, cls, fmt, r->scale * r->diff, r->scale * r->lo, r->scale * r->hi, word);
}

static void summary_table(report_ctx *c) {
    int nc = 3 + c->n_runs + (c->n_runs - 1);
    const char **heads = cj_xmalloc((size_t)nc * sizeof *heads);
    char **own = cj_xcalloc((size_t)c->n_runs, sizeof *own);
    char *align = cj_xmalloc((size_t)nc + 1);
    int h = 0;
    heads[h] = "task or group", align[h++] = 'l';
    heads[h] = "metric", align[h++] = 'l';
    heads[h] = "n", align[h++] = 'r';
    for (int k = 0; k < c->n_runs; k++) {
        heads[h] = c->runs[k].name, align[h++] = 'r';
        if (!k) continue;
        sb s;
        sb_init(&s);
        sb_printf(&s, "Δ run %lld − run %lld", (long long)c->runs[k].id, (long long)c->runs[0].id);
        own[k] = sb_take(&s);
        heads[h] = own[k], align[h++] = 'r';
    }
    align[h] = 0;
    report_table t;
    report_table_begin(&t, &c->d, nc, heads, align);
    for (int i = 0; i < c->n_items; i++) {
        const report_item *it = &c->items[i];
        long n = -1;
        for (int k = 0; k < c->n_runs && n < 0; k++) {
            const report_metric *m = report_find_metric(&c->runs[k], it->name, it->metric);
            if (m) n = m->n;
        }
        report_table_cell_cls(&t, it->depth ? "sub" : NULL, "%s%s", it->depth ? "↳ " : "", it->name);
        report_table_cell(&t, "%s", it->metric);
        report_table_cell(&t, "%ld", n < 0 ? 0 : n);
        for (int k = 0; k < c->n_runs; k++) {
            char buf[64];
            report_table_cell(&t, "%s",
                              report_fmt_value(buf, sizeof buf, report_find_metric(&c->runs[k], it->name, it->metric),
                                               it->metric));
            if (k) diff_cell(&t, c, k, it);
        }
    }
    report_table_end(&t);
    for (int k = 0; k < c->n_runs; k++) free(own[k]);
    free(own);
    free(heads);
    free(align);
}

static const char **run_labels(const report_ctx *c) {
    const char **s = cj_xmalloc((size_t)c->n_runs * sizeof *s);
    for (int k = 0; k < c->n_runs; k++) s[k] = c->runs[k].label;
    return s;
}

/* Bars of the summary rows on a percent scale, runs side by side. */
static int summary_chart(report_ctx *c, cj_err *e) {
    int nc = 0;
    const char **cats = cj_xmalloc((size_t)c->n_items * sizeof *cats);
    const report_item **rows = cj_xmalloc((size_t)c->n_items * sizeof *rows);
    for (int i = 0; i < c->n_items; i++)
        if (report_is_proportion(c->items[i].metric)) rows[nc] = &c->items[i], cats[nc++] = c->items[i].name;
    size_t cells = (size_t)nc * (size_t)c->n_runs;
    /* one block: the values, then their error bars, each [run][row] */
    double *y = cj_xmalloc(2 * (cells ? cells : 1) * sizeof *y), *err = y + cells;
    for (int k = 0; k < c->n_runs; k++)
        for (int j = 0; j < nc; j++) {
            const report_metric *m = report_find_metric(&c->runs[k], rows[j]->name, rows[j]->metric);
            size_t at = (size_t)k * (size_t)nc + (size_t)j;
            y[at] = m && isfinite(m->value) ? 100 * m->value : NAN;
            err[at] = m && isfinite(m->se) ? 100 * 1.96 * m->se : 0;
        }
    const char **series = run_labels(c);
    int rc = 0;
    if (nc) {
        plot_bars_spec s = {"Groups and tasks: headline metric with 95% intervals", "", "percent", nc, cats,
                            c->n_runs, series, y, err, 0, NAN};
        cj_err pe;
        rc = report_chart_done(c, plot_bars(&c->plot, "summary", &s, &pe), "summary",
                               "Groups and tasks by their headline metric, 95% intervals", &pe, e);
    }
    free(series);
    free(rows);
    free(cats);
    free(y);
    return rc;
}

int report_section_summary(report_ctx *c, cj_err *e) {
    report_h2(&c->d, "Summary");
    if (!c->n_items) {
        report_p(&c->d, "No metrics are stored for these runs.");
        return 0;
    }
    for (int k = 1; k < c->n_runs; k++) verdict_line(c, k);
    summary_table(c);
    report_p(&c->d, "Each value is followed by its 95%% interval (1.96 standard errors), in percent for metrics "
                    "of 0 to 1; n is the number of docs; ↳ marks a group's subgroups.%s",
             c->n_runs > 1 ? " Δ: the later run minus the first over the docs both scored, in points, with its "
                             "95% paired bootstrap interval; better / worse: significant after Holm's correction "
                             "over all tasks and groups (exact McNemar for 0/1 metrics, else paired bootstrap), "
                             "n.s.: not significant — the numbers of chaejeom compare."
                           : "");
    report_protocol_footer(c);
    return c->can_plot ? summary_chart(c, e) : 0;
}

/* ---- per-subject heatmaps ------------------------------------------------ */

/* One heatmap of family f: a row per subject, a column per run, each cell
 * its value in percent, marked ▲ / ▼ where compare finds it better / worse
 * than run 0. */
static int family_heatmap(report_ctx *c, const report_family *f, cj_err *e) {
    size_t cells = (size_t)f->n * (size_t)c->n_runs;
    double *v = cj_xmalloc(cells * sizeof *v);
    char **text = cj_xcalloc(cells, sizeof *text);
    for (int i = 0; i < f->n; i++) {
        const char *met = report_main_metric(c, f->subjects[i]);
        for (int k = 0; k < c->n_runs; k++) {
            const report_metric *m = met ? report_find_metric(&c->runs[k], f->subjects[i], met) : NULL;
            size_t at = (size_t)i * (size_t)c->n_runs + (size_t)k;
            int pct = met && report_is_proportion(met);
            v[at] = m && isfinite(m->value) && pct ? 100 * m->value : NAN;
            if (!m || !isfinite(m->value)) continue;
            const compare_row *r = report_cmp_row(c, k, f->subjects[i], met);
            const char *mark = !r ? "" : r->verdict == CMP_BETTER ? " ▲" : r->verdict == CMP_WORSE ? " ▼" : "";
            sb s;
            sb_init(&s);
            sb_printf(&s, pct ? "%.1f%s" : "%.3g%s", pct ? 100 * m->value : m->value, mark);
            text[at] = sb_take(&s);
        }
    }
    const char **cols = run_labels(c);
    char stem[128], title[192];
    snprintf(stem, sizeof stem, "subjects_%.100s", f->name);
    snprintf(title, sizeof title, "%.100s: %d subjects by their headline metric (%%)", f->name, f->n);
    plot_heatmap_spec s = {title, f->n, f->subjects, c->n_runs, cols, v, (const char *const *)text, 0, 100};
    if (plot_heatmap_width(&s) > PLOT_MAX_WIDTH)
        for (int k = 0; k < c->n_runs; k++) cols[k] = c->runs[k].name;
    cj_err pe;
    int rc = report_chart_done(c, plot_heatmap(&c->plot, stem, &s, &pe), stem, title, &pe, e);
    for (size_t i = 0; i < cells; i++) free(text[i]);
    free(text);
    free(v);
    free(cols);
    return rc;
}

/* Groups with a heatmap: those with two subjects or more. */
static int n_heatmaps(const report_ctx *c) {
    int n = 0;
    for (int i = 0; i < c->n_fams; i++) n += c->fams[i].n > 1;
    return n;
}

int report_section_subjects(report_ctx *c, cj_err *e) {
    if (!n_heatmaps(c)) return 0;
    report_h2(&c->d, "Subjects");
    report_p(&c->d, "One heatmap per group: a row per subject, a column per run, each cell the subject's headline "
                    "metric in percent%s. Every subject's numbers with their intervals are in Details.",
             c->n_runs > 1 ? "; ▲ / ▼: significantly better / worse than the first run (compare's verdict)" : "");
    if (!c->can_plot) return 0;
    for (int i = 0; i < c->n_fams; i++)
        if (c->fams[i].n > 1 && family_heatmap(c, &c->fams[i], e)) return -1;
    return 0;
}
