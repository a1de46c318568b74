/* store — the results database (SQLite, one file, WAL).
 *
 * The schema is a public contract (docs/database.md): runs, docs, choices,
 * metrics, latency, tags, request_cache; since version 2 also generations,
 * generation_cache, latency_summary and bench. It evolves only by appending
 * migrations (store_schema.c); PRAGMA user_version records how many have been
 * applied, and opening a database runs the missing ones in one transaction.
 * A database from a newer chaejeom (higher user_version) is refused.
 *
 * Every value goes through bound parameters. Writers take the lock with
 * BEGIN IMMEDIATE and wait up to STORE_BUSY_MS for another process, so two
 * processes can share one file.
 *
 * Ownership: a store owns its connection and statements (store_close frees
 * them). Structs passed in are read only during the call. Strings in a
 * store_run filled by the store are malloc'd and released by
 * store_run_clear; rows handed to callbacks are valid only during the
 * callback. A callback returns 0 to go on, non-zero to stop early (the
 * iteration then returns 0). */
#ifndef CJ_STORE_H
#define CJ_STORE_H

#include <stdint.h>

#include "../common/err.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_BUSY_MS 30000

typedef struct store store;

/* Opens (creating if needed) and migrates path. */
int store_open(const char *path, store **out, cj_err *e);
void store_close(store *s);
int store_user_version(store *s, int *version, cj_err *e);

/* Transactions (BEGIN IMMEDIATE). store_rollback is a no-op outside one. */
int store_begin(store *s, cj_err *e);
int store_commit(store *s, cj_err *e);
void store_rollback(store *s);

/* One row of runs. NULL strings are stored as NULL. */
typedef struct {
    int64_t id;
    const char *status; /* "running" | "done" | "interrupted" | "failed" */
    const char *model_path, *model_sha256, *model_format, *model_arch;
    int64_t model_params;
    const char *model_dtype, *tokenizer;
    const char *tokenizer_sha256; /* of a separate tokenizer file; NULL if the model carries its own */
    const char *tasks;       /* JSON array of the names asked for */
    const char *task_hashes; /* JSON {task: sha256 of its definition} */
    const char *data_hashes; /* JSON {file: sha256} */
    int64_t seed;
    int threads, batch;
    int shots; /* -1: each task's default (stored NULL) */
    int limit; /* 0: every doc (stored NULL) */
    const char *harness_version, *git_commit, *host;
    const char *started_at, *finished_at; /* ISO 8601 UTC */
    const char *config_hash;
    const char *tags; /* JSON {key: value} */
    int64_t pid;      /* of the process that last ran it */
    int64_t requests_cached, requests_computed;
    const char *kernels; /* "own" | "openblas"; NULL for runs from before schema 3 */
} store_run;

/* Inserts r (its id and status are ignored: status starts 'running',
 * started_at now) and writes its id to *id. */
int store_run_insert(store *s, const store_run *r, int64_t *id, cj_err *e);
/* Fills *out (strings malloc'd; store_run_clear frees). *found = 0 if no such run. */
int store_run_get(store *s, int64_t id, store_run *out, int *found, cj_err *e);
void store_run_clear(store_run *r);
/* Every run, newest first; config_hash non-NULL keeps only runs with that hash. */
int store_runs_each(store *s, const char *config_hash, int (*cb)(const store_run *r, void *ctx), void *ctx,
                    cj_err *e);
/* Sets status; "done"/"interrupted"/"failed" also set finished_at. */
int store_run_set_status(store *s, int64_t id, const char *status, cj_err *e);
/* Marks a run as being resumed by this process: status 'running', pid, host. */
int store_run_claim(store *s, int64_t id, int64_t pid, const char *host, cj_err *e);
/* Adds to the run's request counters. */
int store_run_add_requests(store *s, int64_t id, int64_t cached, int64_t computed, cj_err *e);

int store_tag_put(store *s, int64_t run_id, const char *key, const char *value, cj_err *e);

typedef struct {
    const char *task, *doc_id, *doc_hash, *prompt_hash;
    int target;              /* gold choice index; -1: none */
    const char *target_text; /* stored when target < 0 (e.g. the true indices "[0,2]"); may be NULL */
    int pred;                /* predicted choice index (argmax ll); -1: none */
} store_doc;

typedef struct {
    const char *task, *doc_id;
    int choice_idx;
    double logprob;
    int n_tokens, n_chars, n_bytes, is_greedy;
    int label;    /* 1 gold / true answer, 0 not, -1 NULL */
    long n_words; /* rolling docs: words of the text; -1 NULL */
} store_choice;

int store_put_doc(store *s, int64_t run_id, const store_doc *d, cj_err *e);
int store_put_choice(store *s, int64_t run_id, const store_choice *c, cj_err *e);
/* One latency row: the runner's cost of one doc. The time splits into
 * prefill_s (prompt processing: for a generation, the time to its first
 * token; for scoring, all of wall_s) and decode_s (the rest of a
 * generation), and the store derives prefill_tok_s = prefill_tokens /
 * prefill_s and decode_tok_s = decode_tokens / decode_s (NULL where the
 * time is not positive), so tokens/s x seconds = tokens on every row. */
typedef struct {
    const char *task, *doc_id;
    int prefill_tokens, decode_tokens;
    double wall_s;
    double prefill_s, decode_s; /* NAN: unknown (stored NULL, and so are the rates) */
    double ttft_s;              /* time to first token; NAN unless a generation */
} store_latency;

int store_put_latency_row(store *s, int64_t run_id, const store_latency *l, cj_err *e);
/* The same without the split: all of wall_s is prefill when decode_tokens
 * is 0; otherwise the split is unknown. */
int store_put_latency(store *s, int64_t run_id, const char *task, const char *doc_id, int prefill_tokens,
                      int decode_tokens, double wall_s, cj_err *e);
/* Latency rows of (run, task), task NULL: of every task. NULL times are NAN. */
int store_latency_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_latency *l, void *ctx),
                       void *ctx, cj_err *e);

/* Latency and cost of one task of a run, or of the whole run (task
 * STORE_ALL_TASKS), summarised from its latency rows (docs answered wholly
 * from the cache have none): sums of tokens and seconds, the rates over
 * the sums (tokens/s x seconds = tokens again), per-doc wall-time
 * percentiles, docs/s = docs / wall_s, and for the whole run the process's
 * peak resident memory. NAN / -1: NULL. */
#define STORE_ALL_TASKS "(all)"
typedef struct {
    const char *task;
    int docs;
    int64_t prefill_tokens, decode_tokens;
    double wall_s, prefill_s, decode_s;
    double prefill_tok_s, decode_tok_s;
    double ttft_mean_s, ttft_p95_s; /* generations only */
    double p50_s, p95_s, p99_s;     /* per-doc wall_s */
    double docs_per_s;
    int64_t peak_rss_bytes;         /* -1: not measured (task rows) */
} store_latency_summary;

/* Replaces the (run, task) row. */
int store_put_latency_summary(store *s, int64_t run_id, const store_latency_summary *l, cj_err *e);
/* Rows of a run, STORE_ALL_TASKS last, tasks by name. */
int store_latency_summaries_each(store *s, int64_t run_id, int (*cb)(const store_latency_summary *l, void *ctx),
                                 void *ctx, cj_err *e);

/* One generated answer (generate_until tasks) and its per-doc scores. */
typedef struct {
    const char *task, *doc_id;
    const char *text;   /* what the model generated, stop string excluded */
    int n_tokens;
    const char *finish; /* "stop" | "length" | "eos" */
    const char *answer; /* text after the task's answer extraction */
    double exact_match, f1; /* NAN: not scored (stored NULL) */
    int abstained, correct; /* 0/1; -1: not scored (NULL) */
    const char *scores;     /* JSON {metric: value} of every per-doc metric; may be NULL */
    const char *refs;       /* JSON {"correct": [..], "incorrect": [..]} scored against; may be NULL */
} store_generation;

int store_put_generation(store *s, int64_t run_id, const store_generation *g, cj_err *e);
/* Generations of (run, task) ordered by doc_id. */
int store_generations_each(store *s, int64_t run_id, const char *task,
                           int (*cb)(const store_generation *g, void *ctx), void *ctx, cj_err *e);

/* doc_id of every doc stored for (run, task). */
int store_doc_ids_each(store *s, int64_t run_id, const char *task, int (*cb)(const char *doc_id, void *ctx),
                       void *ctx, cj_err *e);

/* One choice row joined with its doc, for scoring. */
typedef struct {
    const char *doc_id;
    int target; /* -1 if NULL or not an index */
    int choice_idx;
    double logprob;
    int n_tokens, n_chars, n_bytes, is_greedy;
    int label;    /* -1 if NULL */
    long n_words; /* -1 if NULL */
} store_choice_row;

/* Choices of (run, task) ordered by doc_id, choice_idx. */
int store_choices_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_choice_row *row, void *ctx),
                       void *ctx, cj_err *e);

/* kind: "task" | "group". NAN value/stderr are stored as NULL. Replaces an
 * existing (run, task, metric) row. */
int store_put_metric(store *s, int64_t run_id, const char *task, const char *kind, const char *metric, double value,
                     double stderr_, int n, cj_err *e);

typedef struct {
    const char *task, *kind, *metric;
    double value, stderr_; /* NAN for NULL */
    int n;
} store_metric_row;

/* Metrics of a run: groups first, then tasks, each by name then metric. */
int store_metrics_each(store *s, int64_t run_id, int (*cb)(const store_metric_row *m, void *ctx), void *ctx,
                       cj_err *e);

/* The request cache, keyed by (model identity, request hash). */
typedef struct {
    double logprob;
    int n_tokens, is_greedy;
} store_cached;

int store_cache_get(store *s, const char *model_sha256, const char *request_hash, store_cached *out, int *found,
                    cj_err *e);
/* Keeps an existing entry (another process may have written the same one). */
int store_cache_put(store *s, const char *model_sha256, const char *request_hash, const store_cached *c, cj_err *e);

/* The generation cache: the model's output for (model identity, hash of
 * the prompt and every generation parameter). text is malloc'd for the
 * caller. */
typedef struct {
    char *text;
    int n_tokens;
    const char *finish; /* static: "stop" | "length" | "eos" */
} store_gen_cached;

int store_gen_cache_get(store *s, const char *model_sha256, const char *request_hash, store_gen_cached *out,
                        int *found, cj_err *e);
int store_gen_cache_put(store *s, const char *model_sha256, const char *request_hash, const char *text,
                        int n_tokens, const char *finish, cj_err *e);

/* request_hash = sha256(context || 0x00 || continuation): NUL cannot occur
 * inside either string, so the pair is unambiguous. Rolling requests
 * (whole-text log-likelihood) hash "rolling" 0x00 text 0x00 instead. */
void store_request_hash(const char *context, const char *continuation, char hex[65]);
void store_rolling_hash(const char *text, char hex[65]);
/* Generation requests hash "generate" 0x00 context 0x00 params 0x00, params
 * being the canonical JSON of the generation parameters. */
void store_generate_hash(const char *context, const char *params, char hex[65]);

/* One `chaejeom bench` measurement: the machine, the build, the model, the
 * parameters, and tokens/s of prompt processing (pp) and generation (tg),
 * mean and sample standard deviation over the repetitions. */
typedef struct {
    const char *host, *cpu;
    int threads;
    const char *harness_version, *git_commit;
    const char *model_path, *model_sha256, *model_format, *model_dtype, *tokenizer_sha256;
    int64_t model_params;
    int prompt_tokens, gen_tokens, batch, reps;
    double pp_tok_s, pp_tok_s_sd, tg_tok_s, tg_tok_s_sd; /* NAN: not measured */
    int64_t peak_rss_bytes;
    const char *results; /* JSON: the seconds of every repetition */
} store_bench;

/* Inserts b with created_at now; *id receives its id. */
int store_bench_insert(store *s, const store_bench *b, int64_t *id, cj_err *e);

/* Current time, ISO 8601 UTC ("2024-05-01T12:34:56Z"). */
void store_now(char buf[32]);

#endif
