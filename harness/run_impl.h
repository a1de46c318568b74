/* run_impl — what the files behind run_execute share, private to harness/:
 * run.c (the pipeline: plan, batches, end), run_ident.c (the run's identity
 * and which run to continue), run_score.c (log-likelihood and rolling
 * batches) and run_gen.c (generation batches). */
#ifndef CJ_RUN_IMPL_H
#define CJ_RUN_IMPL_H

#include <jansson.h>

#include "run.h"

/* Everything that identifies a run, as JSON texts (malloc'd). */
typedef struct {
    char model_key[65];
    char *tasks;       /* JSON array of the names asked for */
    char *task_hashes; /* JSON object */
    char *data_hashes; /* JSON object */
    char *tags;        /* JSON object */
    char config_hash[65];
} run_ident;

/* What one batch needs of the run in progress. */
typedef struct {
    runner *r;
    store *s;
    const run_opts *o;
    int64_t run_id;
    const char *model_key;
    run_result *res;
} run_ctx;

/* --- run_ident.c ------------------------------------------------------------------ */

void run_ident_make(const runner_info *info, const run_opts *o, task *const *tasks, int nt,
                    const task_group *const *groups, int ng, run_ident *id);
void run_ident_free(run_ident *id);

/* Resumes the run o asks for (or an unfinished one with id's config hash),
 * else inserts a new one; sets res->run_id and res->resumed. */
int run_open(store *s, const runner_info *info, const run_opts *o, const run_ident *id, run_result *res, cj_err *e);

/* --- run_score.c ------------------------------------------------------------------ */

/* Scores docs idx[0..n) of a multiple-choice or rolling task and commits them
 * in one transaction. */
int run_score_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e);

/* The prompt hash stored with each doc: all its contexts and continuations. */
void run_prompt_hash(const task_request *q, char hex[65]);

/* --- run_gen.c -------------------------------------------------------------------- */

/* Generates docs idx[0..n) of a generate_until task and commits them in one
 * transaction. */
int run_gen_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e);

/* --- run.c ------------------------------------------------------------------------ */

void run_kill_point(void);

/* json_dumps that never returns NULL (jansson fails only on allocation). */
char *run_json_dump(json_t *j, size_t flags);

int run_cmp_str(const void *a, const void *b);

#endif
