/* compare_impl — compare's private header: the per-doc values, the tasks
 * being compared and the helpers compare's files share. compare_load.c
 * reads runs and per-doc values from the database; compare.c selects and
 * pairs the tasks of two runs and drives the comparison; compare_stats.c
 * turns the pairs into tested rows with verdicts and summarises latency;
 * compare_format.c renders a result. Nothing outside reports/ includes this
 * file (compare.h is the public contract). */
#ifndef CJ_COMPARE_IMPL_H
#define CJ_COMPARE_IMPL_H

#include <stddef.h>

#include "compare.h"

/* Every metric compare can recompute per doc, in the order of the METRICS
 * table in compare_stats.c (their names and tests). */
enum { M_ACC, M_ACC_NORM, M_ACC_BYTES, M_EXACT, M_MC2, M_BRIER, N_METRICS };

typedef struct {
    char *doc_id, *doc_hash, *prompt_hash;
    double v[N_METRICS]; /* NAN where the doc has no value */
} compare_doc;

/* A task's docs in one run, sorted by doc id. */
typedef struct {
    compare_doc *d;
    size_t n;
} compare_docs;

/* A task compared: both runs' docs and the pairs (indices into each). */
typedef struct {
    const char *name;
    compare_docs a, b;
    size_t *ia, *ib;
    size_t n_pairs, n_unpaired;
    int metrics[N_METRICS]; /* which metrics get a row */
} compare_task;

/* What compare needs from a runs row. */
typedef struct {
    char *model_path, *model_sha256, *status, *host, *task_hashes;
    int64_t seed;
    int has_seed;
    int shots, limit; /* -1 when NULL */
} compare_run_row;

/* ---- compare_load.c: reading the database ------------------------------- */

/* A run's row (its strings are the caller's to free), and its public part
 * (id, label, hashes) into cr. */
int compare_load_run(sqlite3 *db, int64_t id, compare_run_row *r, compare_run *cr, cj_err *e);

/* The tasks a run has docs of, sorted; free with compare_names_free. */
int compare_task_names(sqlite3 *db, int64_t run, char ***out, int *n, cj_err *e);
void compare_names_free(char **v, int n);

/* A task's docs in a run with their per-doc values, recomputed from the
 * docs and choices tables. */
int compare_load_task(sqlite3 *db, int64_t run, const char *task, compare_docs *out, cj_err *e);
void compare_docs_free(compare_docs *c);

/* ---- compare.c: the comparison ------------------------------------------ */

/* Appends a note (a warning shown next to the table) to r. */
__attribute__((format(printf, 2, 3))) void compare_note(compare_result *r, const char *fmt, ...);
/* 1 if s is one of v[0..n). */
int compare_in_list(char *const *v, int n, const char *s);

/* ---- compare_stats.c: rows, verdicts and latency ------------------------ */

/* Chooses which metrics get a row for task t (--metric, else its primary
 * metric, else the first with values). */
int compare_choose_metrics(compare_task *t, const compare_opts *o, compare_result *r, cj_err *e);
/* Appends a row for metric m over the pairs of tasks[0..k). */
int compare_add_row(compare_result *r, const char *name, int is_group, int m, compare_task *const *tasks, int k,
                    const compare_opts *o, cj_err *e);
/* Holm's correction over all rows, then each row's verdict and gate. */
void compare_rows_finish(compare_result *r, const compare_opts *o, cj_err *e);
/* Latency rows of tasks[0..n_tasks) and their total, when the database has
 * a latency table. */
int compare_latency_rows(sqlite3 *db, compare_result *r, char *const *tasks, int n_tasks, const compare_opts *o,
                         cj_err *e);

#endif
