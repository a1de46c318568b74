/* compare — pair two runs doc by doc, test every difference, and gate.
 *
 * Reads only the results database (opened read-only; nothing is written).
 * For every task both runs scored, the docs are matched by doc id; a doc
 * whose content hash differs between the runs, or a task whose definition
 * hash differs, makes the comparison refuse (-1, the message names the task
 * and both hashes) unless opts.force is set, because the numbers would no
 * longer measure the same thing.
 *
 * Per-doc values are recomputed from the docs and choices tables with the
 * scorer's own definitions (score.h): acc (the stored prediction against the
 * target), acc_norm, acc_bytes, exact_match, mc2 (choices.label marks the
 * true answers), and brier (sum over choices of (softmax(ll)_i - y_i)^2,
 * lower is better). 0/1 metrics are tested with the exact McNemar test,
 * continuous ones with a seeded paired bootstrap; every row gets a paired
 * bootstrap interval of the difference at confidence 1 - alpha. Holm's
 * correction runs over all rows (tasks and groups); a row is better/worse
 * when its Holm-adjusted p is below alpha, and fails the gate when it is
 * worse by more than max_drop points (value * 100 for [0, 1] metrics).
 *
 * Latency (the latency table, when present) is summarised per task and
 * overall — docs/s, tokens/s, p95 seconds per doc — and flagged when the
 * candidate is slower than the base by more than max_slowdown (a fraction);
 * a flag gates only with opts.gate_latency.
 *
 * Ownership: compare_result owns every string and array in it;
 * compare_result_free releases them. Options are read during the call only. */
#ifndef CJ_COMPARE_H
#define CJ_COMPARE_H

#include <sqlite3.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/sb.h"

/* Opens path read-only and checks that it holds a runs table. */
int compare_open_db(const char *path, sqlite3 **db, cj_err *e);

/* A run named on the command line: a decimal id, or tag:KEY=VALUE (the
 * newest finished run with that tag, else the newest of any status). */
int compare_resolve_run(sqlite3 *db, const char *spec, int64_t *id, cj_err *e);

/* A group as the registry defines it, expanded to its leaf tasks. */
typedef struct {
    const char *name;
    int n_members;
    const char *const *members;
} compare_group;

typedef struct {
    const char *tasks;   /* comma-separated task/group names or fnmatch globs; NULL: all common tasks */
    const char *metrics; /* comma-separated metric names; NULL: each task's primary metric */
    /* primary metric of a task (e.g. its definition's first metric); may be
     * NULL, and may return NULL: then acc, or the first metric with values */
    const char *(*primary_metric)(const char *task, void *ctx);
    void *ctx;
    const compare_group *groups;
    int n_groups;
    double max_drop;     /* points; a significant drop must exceed it to gate */
    double alpha;        /* significance level after Holm, in (0, 1) */
    long resamples;      /* paired bootstrap resamples, >= 1 */
    uint64_t seed;       /* bootstrap seed; each row mixes in its name */
    int force;           /* compare even when definitions or data differ */
    double max_slowdown; /* fraction, e.g. 0.2 for 20% */
    int gate_latency;    /* a latency flag fails the gate */
} compare_opts;

/* compare_opts with the documented defaults (alpha 0.05, max_drop 0,
 * 10,000 resamples, seed 1234, max_slowdown 0.2). */
void compare_opts_default(compare_opts *o);

typedef enum { CMP_SAME = 0, CMP_BETTER = 1, CMP_WORSE = -1 } compare_verdict;

typedef struct {
    char *task; /* task or group name */
    char *metric;
    int is_group;
    int binary;        /* 0/1 per doc: McNemar; else bootstrap */
    int higher_better; /* brier: 0 */
    double scale;      /* display and max_drop unit: 100 for [0, 1] metrics */
    long n;            /* paired docs with a value in both runs */
    long n_unpaired;   /* docs in only one of the runs */
    double base, cand; /* means over the paired docs, metric units */
    double diff;       /* cand - base */
    double lo, hi;     /* bootstrap interval of diff at 1 - alpha */
    long b, c;         /* binary: base right & cand wrong, and the reverse */
    double p, p_holm;
    compare_verdict verdict;
    int gated; /* worse by more than max_drop points */
} compare_row;

typedef struct {
    char *task; /* "(all)" for the total */
    long n_base, n_cand;
    double base_docs_s, cand_docs_s;     /* docs per second of summed wall time */
    double base_tokens_s, cand_tokens_s; /* (prefill + decode) tokens per second */
    double base_p95, cand_p95;           /* seconds per doc, 95th percentile */
    double slowdown;                     /* 1 - cand_docs_s / base_docs_s */
    int flagged;                         /* slowdown or p95 growth beyond max_slowdown */
} compare_latency;

typedef struct {
    int64_t id;
    char *label; /* "run 3 (stories260K.bin, step=2)" */
    char *model_sha256, *status, *host;
} compare_run;

typedef struct {
    compare_run base, cand;
    double alpha, max_drop, max_slowdown;
    int gate_latency;
    long resamples;
    compare_row *rows;
    int n_rows;
    compare_latency *lat;
    int n_lat;
    char **notes; /* warnings worth showing next to the table */
    int n_notes;
    int gate_failed;     /* some row gated, or a latency flag with gate_latency */
    int latency_flagged; /* some latency row flagged */
} compare_result;

int compare_runs(sqlite3 *db, int64_t base, int64_t cand, const compare_opts *o, compare_result *out, cj_err *e);
void compare_result_free(compare_result *r);

/* Renderings of a result, appended to out. */
void compare_format_table(const compare_result *r, sb *out);
void compare_format_md(const compare_result *r, sb *out);
void compare_format_json(const compare_result *r, sb *out);
void compare_format_junit(const compare_result *r, sb *out);

/* "better" | "worse" | "no significant change" */
const char *compare_verdict_name(compare_verdict v);

#endif
