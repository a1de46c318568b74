/* run — the evaluation pipeline behind `chaejeom run`.
 *
 *   select tasks -> load data -> sample docs (--limit) -> build requests
 *   -> request cache -> runner, in batches of docs -> one transaction per
 *   batch (docs + choices or generations + latency + cache entries +
 *   request counters) -> metrics per task and per group (from the stored
 *   rows) -> latency summaries -> 'done'
 *
 * Multiple-choice and rolling tasks ask the runner for log-likelihoods;
 * generate_until tasks ask it to generate (greedy unless the task or the
 * options ask for a temperature; each doc then samples from its own stream,
 * seeded from the generation seed and the doc's index, so a doc's answer
 * does not depend on batching or on which other docs run). Generations are
 * cached like log-likelihoods, keyed by the model and the hash of the prompt
 * and every generation parameter (store_generate_hash).
 *
 * Metrics (score.h, calib.h, truthfulqa_gen.h): the task's own; for every
 * multiple-choice task with a gold index also confident_error_rate, brier,
 * ece and its bins (ece_bin_<i>_n, _conf, _acc); for a generation task with
 * abstention patterns abstain_rate and hallucination_rate (its n counts the
 * docs that did not abstain). Stderrs: closed form for per-doc means, a
 * seeded bootstrap for the rest (ece, hallucination_rate: at most
 * RUN_CALIB_BOOTSTRAP resamples, as lm-eval caps its costly metrics).
 *
 * A run is identified by its config hash: sha256 of the model identity, the
 * selected tasks and groups, shots, limit, seed, the hashes of every
 * task definition and data file, and with chat prompts the chat hash. Threads, batch size and tags are not part
 * of it: results do not depend on them. An unfinished run (interrupted,
 * failed, or 'running' by a process that no longer exists on this host) with
 * the same config hash is resumed instead of starting a new one: its stored
 * docs are skipped, and requests already in the cache are not recomputed.
 *
 * The model identity is the runner's weights sha256; when the tokenizer comes
 * from a separate file, sha256(weights sha256 ":" tokenizer sha256), since
 * the same weights with another tokenizer give other numbers. It keys the
 * request cache (request_cache.model_sha256); runs.model_sha256 is the
 * weights' own sha256 and runs.tokenizer_sha256 the tokenizer file's.
 *
 * Stopping: when *opts.stop becomes non-zero (a signal handler sets it), the
 * run finishes the batch in flight, commits it, marks the run 'interrupted'
 * and returns 0 with result.stopped = 1. A runner or database error marks
 * the run 'failed' and returns -1.
 *
 * Ownership: the caller owns the runner, registry and store, which must
 * outlive the call; the function keeps nothing after it returns. */
#ifndef CJ_RUN_H
#define CJ_RUN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"
#include "../common/sb.h"
#include "../runners/runner.h"
#include "../tasks/task.h"
#include "../store/store.h"

typedef struct {
    const char *tasks;            /* comma-separated task / group names and globs */
    int shots;                    /* -1: each task's default */
    int limit;                    /* docs per task, a seeded random sample; 0: all */
    uint64_t seed;                /* doc sampling, few-shot sampling, bootstrap; < 2^63 */
    int batch;                    /* docs per runner call (>= 1) */
    int threads;                  /* recorded with the run */
    const char *data_dir;         /* datasets root */
    const char *tokenizer_sha256; /* of a separate tokenizer file; NULL if the model carries its own */
    const char *const *tag_keys;  /* n_tags KEY=VALUE tags */
    const char *const *tag_values;
    int n_tags;
    int64_t resume_id;       /* > 0: resume this run (its config must match) */
    int no_resume;           /* 1: never resume automatically */
    int bootstrap_iters;     /* resamples for metrics without a closed-form stderr */
    /* generate_until tasks; each overrides what the task definition says */
    int max_gen_tokens;      /* > 0: at most this many tokens per answer */
    double temperature;      /* >= 0: sampling temperature (0 greedy); < 0: the task's */
    double top_p;            /* in (0, 1]: nucleus sampling; otherwise the task's */
    int has_gen_seed;        /* 1: gen_seed below; else the task's seed, else seed */
    uint64_t gen_seed;       /* sampling seed; each doc samples from its own stream */
    double confidence_threshold; /* confident_error_rate: wrong with p >= this (0.9) */
    /* instruction-tuned prompting (task.h: task_chat); NULL: plain prompts */
    const task_chat *chat;
    const char *chat_hash;   /* sha256 of what the chat prompts depend on (the template's text, its
                                tokens, the system instruction, multi-turn, the date when the template
                                reads it); joins the identity when chat is set */
    FILE *progress;          /* progress report (stderr); NULL: none */
    FILE *log;               /* one-line notices (resume, cache use); NULL: none */
    volatile sig_atomic_t *stop; /* may be NULL */
} run_opts;

typedef struct {
    int64_t run_id;
    int resumed;            /* an earlier run was continued */
    int stopped;            /* *stop ended the run early: status 'interrupted' */
    long docs;              /* docs selected over all tasks */
    long docs_skipped;      /* already stored by an earlier session */
    long requests_cached;   /* distinct requests answered by the cache, this session */
    long requests_computed; /* distinct requests sent to the runner, this session */
} run_result;

void run_opts_init(run_opts *o);

int run_execute(runner *r, task_registry *reg, store *s, const run_opts *o, run_result *res, cj_err *e);

/* The docs a run evaluates for a task with n_docs docs: all of them when
 * limit is 0 or >= n_docs, else a uniform sample of limit docs drawn by a
 * partial Fisher-Yates shuffle seeded by seed alone, so that two tasks over
 * the same file (truthfulqa_mc1 and _mc2) draw the same docs. Indices are
 * written to out (room for n_docs) in ascending order; returns how many. */
int run_sample_docs(int n_docs, int limit, uint64_t seed, int *out);

/* Recomputes every metric of a run from its stored rows (tasks, then the
 * given groups) and stores them. Used at the end of run_execute. */
int run_compute_metrics(store *s, int64_t run_id, task_registry *reg, task *const *tasks, int n_tasks,
                        const task_group *const *groups, int n_groups, uint64_t seed, int bootstrap_iters,
                        double confidence_threshold, cj_err *e);

#define RUN_CALIB_BOOTSTRAP 1000

/* Summarises the run's latency rows per task and for the whole run
 * (store_latency_summary), with this process's peak resident memory
 * (getrusage) on the whole-run row (the larger of it and an earlier
 * session's). Used at the end of run_execute. */
int run_compute_latency(store *s, int64_t run_id, task *const *tasks, int n_tasks, cj_err *e);

/* Peak resident set size of this process in bytes (getrusage); -1 if unknown. */
int64_t run_peak_rss_bytes(void);

/* A run's metrics as text: format "table" (aligned columns), "md", "csv"
 * or "json". Tables and md leave out the ece_bin_* rows (csv and json keep
 * every row), then show the hallucination and calibration metrics together
 * and the latency summary next to each task's main score; json adds a
 * "latency" array. Appends to out. */
int run_format_metrics(store *s, int64_t run_id, const char *format, sb *out, cj_err *e);

/* The commit the binary was built from: -DCJ_GIT_COMMIT, else `git
 * rev-parse HEAD` in the executable's folder, else "unknown". Static buffer. */
const char *run_git_commit(void);

#endif
