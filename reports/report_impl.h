/* report_impl — the report's private header: the runs as read from the
 * database, the two documents written side by side, and what report's
 * files share. report.c reads the runs and writes the files; report_doc.c
 * writes headings, paragraphs, tables and charts into both documents;
 * report_sections.c holds the sections drawn from the metrics table;
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
    char *label;                /* "run 3 step=1" */
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

/* The report being written: the documents, gnuplot (can_plot: it runs), the
 * runs, and what the caller learns (info). */
typedef struct {
    report_doc d;
    plot_ctx plot;
    int can_plot;
    report_info *info;
    const report_opts *o;
    report_run *runs;
    int n_runs;
} report_ctx;

/* ---- report_doc.c: each block into both documents ------------------------ */

void report_html_esc(sb *o, const char *s);
void report_md_esc(sb *o, const char *s);
void report_h2(report_doc *d, const char *title);
__attribute__((format(printf, 2, 3))) void report_p(report_doc *d, const char *fmt, ...);
/* A table with ncols headings; align holds 'l' or 'r' per column. The cells
 * then fill it row by row. */
void report_table_begin(report_table *t, report_doc *d, int ncols, const char *const *heads, const char *align);
__attribute__((format(printf, 2, 3))) void report_table_cell(report_table *t, const char *fmt, ...);
void report_table_end(report_table *t);
/* Headings: fixed ones, then one per run (its label). Caller frees. */
const char **report_heads_with_runs(const char *const *fixed, int nf, const report_run *runs, int n_runs);
/* A table's alignments: fixed, then n_extra times extra. Caller frees. */
char *report_align_str(const char *fixed, int n_extra, char extra);
/* Ends a chart whose drawing returned rc: a drawn chart is linked and
 * embedded; one that failed is noted and left out, and the report goes on. */
int report_chart_done(report_ctx *c, int rc, const char *stem, const char *caption, cj_err *plot_err, cj_err *e);

/* ---- report_sections.c: the sections from the metrics -------------------- */

/* The protocol line under a table: each run's shots, limit, seed, model. */
void report_protocol_footer(report_ctx *c);
void report_section_runs(report_ctx *c);
void report_section_protocol(report_ctx *c);
int report_section_results(report_ctx *c, cj_err *e);
int report_section_steps(report_ctx *c, cj_err *e);
int report_section_calibration(report_ctx *c, cj_err *e);
int report_section_hallucination(report_ctx *c, cj_err *e);

/* ---- report_latency.c ---------------------------------------------------- */

int report_section_latency(report_ctx *c, cj_err *e);

#endif
