/* report — a Markdown and a self-contained HTML report of runs, from the
 * results database only.
 *
 * report_write reads the given runs (the database is only read) and writes
 * into opts.out_dir (created if missing):
 *   report.md   tables, with the charts linked as STEM.png
 *   index.html  the same, every chart embedded as a base64 data URI (and
 *               linked to its STEM.svg), no script, no network
 *   STEM.png / STEM.svg for each chart gnuplot drew (plot.h)
 * The first screen holds the runs (model, tags, date) and the summary: one
 * row per group, subgroup and task in no group, by its headline metric with
 * a 95% interval and n; with two or more runs, each later run's difference
 * from the first with the paired test's verdict, computed by compare_runs
 * (compare.h) exactly as `compare` does, and a bar chart of those rows.
 * Then one heatmap per group of its subjects (a row per subject, a column
 * per run), score against checkpoint step (runs tagged step=N),
 * calibration (ece / brier / confident_error_rate of the summary rows, and
 * one reliability diagram per group or task in no group), hallucination
 * metrics and latency; at the end, folded (<details>): the protocol (model
 * sha256, shots, limit, seed, host), task versions and definition hashes,
 * every metric of every task, and each comparison in full.
 *
 * Groups are known from opts.groups (leaf members); a group missing there
 * holds the tasks named GROUP_*.
 *
 * Without gnuplot the report is still written, with the tables and a note
 * that says why there are no charts (info->note); a chart gnuplot fails to
 * draw is left out the same way, and a comparison compare refuses (other
 * definitions or data) is noted in place of its differences. Only a
 * database or file-system error fails the call.
 *
 * Reliability bins are read from metrics named ece_bin_<i> (value: the
 * accuracy in bin i of 10 equal-width confidence bins, or more if a higher
 * index appears; n: its doc count) or ece_bin_<i>_acc / _conf / _n. */
#ifndef CJ_REPORT_H
#define CJ_REPORT_H

#include <sqlite3.h>
#include <stdint.h>

#include "../common/err.h"
#include "compare.h"

typedef struct {
    const char *out_dir;
    const char *gnuplot; /* program; NULL: gnuplot on PATH */
    /* optional lookups (NULL, or returning NULL, when unknown): a task's
     * primary metric, and its version when def_hash is its current definition */
    const char *(*primary_metric)(const char *task, void *ctx);
    const char *(*task_version)(const char *task, const char *def_hash, void *ctx);
    void *ctx;
    const compare_group *groups; /* groups with their leaf tasks; may be NULL */
    int n_groups;
} report_opts;

typedef struct {
    int n_charts;          /* charts drawn (each a .png and a .svg) */
    char note[CJ_ERR_LEN]; /* why charts are missing, or "" */
} report_info;

int report_write(sqlite3 *db, const int64_t *runs, int n_runs, const report_opts *o, report_info *info, cj_err *e);

#endif
