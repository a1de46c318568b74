/* report_impl — the report's private header: the runs as read from the
 * database, the two documents written side by side, and what report's
 * files share. report.c reads the runs and writes the files; report_doc.c
 * writes headings, paragraphs, tables, folds and charts into both
 * documents; report_layout.c decides the summary rows, the groups' subjects
 * and runs the comparisons; report_summary.c writes the first screen and
 * the heatmaps; report_sections.c the step, calibration and hallucination
 * sections; report_details.c the folded details at the end;
 * report_latency.c the latency section. Nothing outside reports/ includes
 * this file (report.h is the public contract). */
#ifndef CJ_REPORT_IMPL_H
#define CJ_REPORT_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "../common/sb.h"
#include "plot.h"
#include "report.h"

/* A row of the metrics table. */
typedef struct {
    char *task, *kind, *metric;
    double value, se; /* NAN when NULL */
    long n;
} report_metric;

/* A run: its runs row, its tags, its metrics and its per-doc wall times. */
typedef struct {
    int64_t id;
    char *model_path, *model_sha256, *status, *started_at, *host, *harness_version, *git_commit;
    json_t *task_hashes; /* {task: sha256} or NULL */
    int64_t seed;
    int has_seed, shots, limit; /* shots/limit -1 when NULL */
    char *tags;                 /* "k=v, k=v" */
    char *label;                /* "run 3 step=1": chart legends */
    char *name;                 /* "run 3": table headings (the Runs table has the tags) */
    double step;                /* tag step=N, NAN when absent */
    report_metric *m;
    int n_m;
    double *lat; /* per-doc wall seconds, sorted */
    size_t n_lat;
    double lat_wall, lat_tokens;
} report_run;

/* The report as it is written: the Markdown and the HTML side by side. */
typedef struct {
    sb md, html;
    const char *dir;
} report_doc;

/* A table being written, cell by cell (report_table_begin). */
typedef struct {
    report_doc *d;
    int ncols, col;
    const char *align; /* 'l' or 'r' per column */
} report_table;

/* A row of the summary: a group (depth 0), a subgroup of one (depth 1), or a
 * task in no group (depth 0). Strings point into the runs' metrics. */
typedef struct {
    const char *name;
    const char *metric; /* its headline metric */
    int is_group, depth;
} report_item;

/* A top-level group and its leaf tasks present in the runs: the rows of its
 * heatmap. */
typedef struct {
    const char *name;
    const char **subjects;
    int n;
} report_family;

/* Run k >= 1 against run 0, as compare_runs gives it, or why there is none. */
typedef struct {
    int ok;
    compare_result r;
    char why[CJ_ERR_LEN];
} report_cmp;

/* The report being written: the documents, gnuplot (can_plot: it runs), the
 * runs, what the caller learns (info), the summary rows, the groups'
 * subjects and the comparisons with run 0 (cmp[k] for run k; cmp[0] unused). */
typedef struct {
    report_doc d;
    plot_ctx plot;
    int can_plot;
    report_info *info;
    const report_opts *o;
    report_run *runs;
    int n_runs;
    report_item *items;
    int n_items;
    report_family *fams;
    int n_fams;
    report_cmp *cmp;
} report_ctx;

/* A list of distinct names (each owned). */
typedef struct {
    char **v;
    int n;
} report_names;

/* Distinct (task, metric) pairs in the order added (each string owned). */
typedef struct {
    char **task, **metric;
    int n;
} report_pairs;

/* ---- report_doc.c: each block into both documents ------------------------ */

void report_html_esc(sb *o, const char *s);
void report_md_esc(sb *o, const char *s);
void report_h2(report_doc *d, const char *title);
void report_h3(report_doc *d, const char *title);
/* A folded block (<details>) titled summary, in both documents. */
void report_fold_begin(report_doc *d, const char *summary);
void report_fold_end(report_doc *d);
__attribute__((format(printf, 2, 3))) void report_p(report_doc *d, const char *fmt, ...);
/* A table with ncols headings; align holds 'l' or 'r' per column. The cells
 * then fill it row by row. */
void report_table_begin(report_table *t, report_doc *d, int ncols, const char *const *heads, const char *align);
__attribute__((format(printf, 2, 3))) void report_table_cell(report_table *t, const char *fmt, ...);
/* A cell with an HTML class (better / worse / sub / hash); Markdown gets the text. */
__attribute__((format(printf, 3, 4))) void report_table_cell_cls(report_table *t, const char *cls, const char *fmt,
                                                                   ...);
void report_table_end(report_table *t);
/* Headings: fixed ones, then one per run (its name). Caller frees. */
const char **report_heads_with_runs(const char *const *fixed, int nf, const report_run *runs, int n_runs);
/* A table's alignments: fixed, then n_extra times extra. Caller frees. */
char *report_align_str(const char *fixed, int n_extra, char extra);
/* Ends a chart whose drawing returned rc: a drawn chart is linked and
 * embedded; one that failed is noted and left out, and the report goes on. */
int report_chart_done(report_ctx *c, int rc, const char *stem, const char *caption, cj_err *plot_err, cj_err *e);

/* ---- report_layout.c: rows, groups, comparisons -------------------------- */

int report_names_find(const report_names *l, const char *s);
void report_names_add(report_names *l, const char *s);
void report_names_free(report_names *l);
void report_pairs_add(report_pairs *p, const char *task, const char *metric);
void report_pairs_free(report_pairs *p);
const report_metric *report_find_metric(const report_run *r, const char *task, const char *metric);
int report_is_bin_metric(const char *m);
/* Metrics on a 0..1 scale, shown in percent. */
int report_is_proportion(const char *m);
/* The metric a task or group is summarised by: its primary one if known,
 * a proportion and present, else the first present of a fixed preference,
 * else its first metric; NULL when it has none. */
const char *report_main_metric(const report_ctx *c, const char *task);
/* The summary rows and the groups' subjects (c->items, c->fams). */
void report_layout(report_ctx *c);
/* Each later run compared with run 0 (c->cmp). */
void report_compare(report_ctx *c, sqlite3 *db);
/* Run k's compared row of (task, metric), or NULL. */
const compare_row *report_cmp_row(const report_ctx *c, int k, const char *task, const char *metric);
void report_layout_free(report_ctx *c);
/* "12.3 ± 4.5" (percent for proportions) or "-"; into buf. */
const char *report_fmt_value(char *buf, size_t n, const report_metric *m, const char *metric);

/* ---- report_summary.c: the first screen and the heatmaps ----------------- */

/* The protocol line under a table: each run's shots, limit, seed, model. */
void report_protocol_footer(report_ctx *c);
void report_section_runs(report_ctx *c);
int report_section_summary(report_ctx *c, cj_err *e);
int report_section_subjects(report_ctx *c, cj_err *e);

/* ---- report_sections.c: the sections from the metrics -------------------- */

/* One row per pair, one "value ± 95%" column per run. */
void report_metric_table(report_ctx *c, const report_pairs *p);
int report_section_steps(report_ctx *c, cj_err *e);
int report_section_calibration(report_ctx *c, cj_err *e);
void report_section_hallucination(report_ctx *c);

/* ---- report_details.c: the folded details at the end --------------------- */

void report_section_details(report_ctx *c);

/* ---- report_latency.c ---------------------------------------------------- */

int report_section_latency(report_ctx *c, cj_err *e);

#endif
