/* run — see run.h. The pipeline itself: which docs a session still has to
 * do, the batches that do them (run_score.c, run_gen.c), the end of the run;
 * and the helpers the run files share. Which run a session writes to is
 * run_ident.c's. */
#include "run_impl.h"

#include <stdlib.h>
#include <string.h>

#include "../metrics/calib.h"
#include "../metrics/score.h"
#include "../metrics/stats.h"
#include "progress.h"

void run_opts_init(run_opts *o) {
    memset(o, 0, sizeof *o);
    o->shots = -1;
    o->seed = 1234; /* lm-eval's default few-shot seed */
    o->batch = 32;
    o->bootstrap_iters = STATS_BOOTSTRAP_ITERS;
    o->temperature = -1;
    o->top_p = -1;
    o->confidence_threshold = CALIB_DEFAULT_THRESHOLD;
}

/* --- doc sampling ------------------------------------------------------------ */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int run_sample_docs(int n_docs, int limit, uint64_t seed, int *out) {
    for (int i = 0; i < n_docs; i++) out[i] = i;
    if (limit <= 0 || limit >= n_docs) return n_docs;
    /* Each task draws from a fresh stream, so adding a task to a run does
     * not change which docs another task gets. */
    cj_rng r;
    cj_rng_seed(&r, seed);
    for (int i = 0; i < limit; i++) {
        int j = i + (int)cj_rng_below(&r, (uint64_t)(n_docs - i));
        int t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    qsort(out, (size_t)limit, sizeof *out, cmp_int);
    return limit;
}

/* --- shared helpers ---------------------------------------------------------------- */

int run_cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

char *run_json_dump(json_t *j, size_t flags) {
    char *s = json_dumps(j, flags | JSON_ENCODE_ANY);
    if (!s) abort(); /* jansson fails only on allocation */
    return s;
}

/* Test hook for tests/e2e/test_killpoints.sh: with CHAEJEOM_TEST_KILL_AT=N
 * the process sends itself SIGKILL at its Nth kill point, to show that a
 * crash anywhere loses at most the batch in flight. Each batch passes three
 * points: results computed (nothing written), inside its transaction (docs
 * written, cache entries and counters not), and after its commit; the end
 * passes one between the metrics commit and marking the run done. */
void run_kill_point(void) {
    static long left = -1; /* -1: not read yet; 0: off */
    static int sig = SIGKILL;
    if (left < 0) {
        const char *v = getenv("CHAEJEOM_TEST_KILL_AT");
        left = v ? strtol(v, NULL, 10) : 0;
        if (left < 0) left = 0;
        /* CHAEJEOM_TEST_KILL_SIGNAL=TERM delivers SIGTERM instead, at a known
         * point, so the clean-stop path is tested without racing the run. */
        const char *s = getenv("CHAEJEOM_TEST_KILL_SIGNAL");
        if (s && !strcmp(s, "TERM")) sig = SIGTERM;
    }
    if (left > 0 && --left == 0) raise(sig);
}

/* --- the plan: what is left to do ----------------------------------------------------- */

/* A sorted set of strings (doc ids already stored). */
typedef struct {
    char **v;
    int n, cap;
} strset;

static int strset_add_cb(const char *s, void *ctx) {
    strset *set = ctx;
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->v = cj_xrealloc(set->v, sizeof *set->v * (size_t)set->cap);
    }
    set->v[set->n++] = cj_xstrdup(s);
    return 0;
}

static int strset_has(const strset *set, const char *s) {
    return set->n && bsearch(&s, set->v, (size_t)set->n, sizeof *set->v, run_cmp_str) != NULL;
}

static void strset_free(strset *set) {
    for (int i = 0; i < set->n; i++) free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof *set);
}

typedef struct {
    int *idx; /* docs still to score */
    int n;
} todo;

/* Each task's sample minus what an earlier session of the run stored;
 * counts them in res and *pending. */
static int plan(store *s, const run_opts *o, task *const *tasks, int nt, run_result *res, todo *work, long *pending,
                cj_err *e) {
    for (int i = 0; i < nt; i++) {
        int n = task_n_docs(tasks[i]);
        int *all = cj_xmalloc(sizeof *all * (size_t)(n ? n : 1));
        int k = run_sample_docs(n, o->limit, o->seed, all);
        strset done = {0};
        if (store_doc_ids_each(s, res->run_id, task_name(tasks[i]), strset_add_cb, &done, e)) {
            free(all);
            return -1;
        }
        if (done.n) qsort(done.v, (size_t)done.n, sizeof *done.v, run_cmp_str);
        work[i].idx = all;
        for (int j = 0; j < k; j++)
            if (!strset_has(&done, task_doc_id(tasks[i], all[j]))) all[work[i].n++] = all[j];
        res->docs += k;
        res->docs_skipped += k - work[i].n;
        *pending += work[i].n;
        strset_free(&done);
    }
    return 0;
}

/* --- the pipeline ------------------------------------------------------------------- */

static int check_tasks(task *const *tasks, int nt, cj_err *e) {
    for (int i = 0; i < nt; i++) {
        task *t = tasks[i];
        task_output ty = task_output_type(t);
        for (int m = 0; m < task_n_metrics(t); m++) {
            const char *metric = task_metric(t, m);
            int ok = ty == TASK_MULTIPLE_CHOICE   ? score_is_mc_metric(metric)
                     : ty == TASK_GENERATE_UNTIL ? score_is_gen_metric(metric)
                                                 : score_is_rolling_metric(metric);
            if (!ok) return cj_fail(e, "task %s: metric '%s' is not computed for this output type", task_name(t), metric);
        }
    }
    return 0;
}

static int stop_requested(const run_opts *o) { return o->stop && *o->stop; }

/* Scores or generates docs idx[0..n) of task t and commits them. */
static int run_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e) {
    if (task_output_type(t) == TASK_GENERATE_UNTIL) return run_gen_batch(c, t, idx, n, e);
    return run_score_batch(c, t, idx, n, e);
}

/* Every task's remaining docs, o->batch at a time, until done or stopped. */
static int run_batches(run_ctx *c, task *const *tasks, int nt, const todo *work, long pending, cj_err *e) {
    const run_opts *o = c->o;
    progress pg;
    progress_start(&pg, o->progress, pending);
    long done = 0;
    for (int i = 0; i < nt && !stop_requested(o); i++) {
        for (int j = 0; j < work[i].n && !stop_requested(o); j += o->batch) {
            int n = work[i].n - j < o->batch ? work[i].n - j : o->batch;
            if (run_batch(c, tasks[i], work[i].idx + j, n, e)) {
                progress_finish(&pg);
                return -1;
            }
            done += n;
            progress_update(&pg, done, task_name(tasks[i]));
        }
    }
    progress_finish(&pg);
    return 0;
}

/* Selects the tasks and loads their data; *nt stays 0 when nothing matched. */
static int load_tasks(task_registry *reg, const run_opts *o, task ***tasks, int *nt, const task_group ***groups,
                      int *ng, cj_err *e) {
    if (task_select(reg, o->tasks, tasks, nt, groups, ng, e)) return -1;
    if (*nt == 0) return cj_fail(e, "'%s' selects no tasks", o->tasks);
    if (check_tasks(*tasks, *nt, e)) return -1;
    for (int i = 0; i < *nt; i++)
        if (task_load_data((*tasks)[i], o->data_dir, e)) return -1;
    return 0;
}

int run_execute(runner *r, task_registry *reg, store *s, const run_opts *o, run_result *res, cj_err *e) {
    memset(res, 0, sizeof *res);
    task **tasks = NULL;
    const task_group **groups = NULL;
    int nt = 0, ng = 0, rc = -1;
    todo *work = NULL;
    run_ident id = {0};
    if (o->batch < 1) return cj_fail(e, "batch must be at least 1, not %d", o->batch);
    if (load_tasks(reg, o, &tasks, &nt, &groups, &ng, e)) goto out;

    const runner_info *info = runner_get_info(r);
    run_ident_make(info, o, tasks, nt, groups, ng, &id);
    if (run_open(s, info, o, &id, res, e)) goto out;
    run_ctx c = {r, s, o, res->run_id, id.model_key, res};
    work = cj_xcalloc((size_t)nt, sizeof *work);
    long pending = 0;
    if (plan(s, o, tasks, nt, res, work, &pending, e)) goto fail_run;
    if (o->log && res->resumed)
        fprintf(o->log, "resuming run %lld: %ld of %ld docs already stored\n", (long long)res->run_id,
                res->docs_skipped, res->docs);
    if (run_batches(&c, tasks, nt, work, pending, e)) goto fail_run;
    if (o->log)
        fprintf(o->log, "requests: %ld distinct, %ld from the cache, %ld computed\n",
                res->requests_cached + res->requests_computed, res->requests_cached, res->requests_computed);
    if (stop_requested(o)) {
        res->stopped = 1;
        if (store_run_set_status(s, res->run_id, "interrupted", e)) goto out;
        rc = 0;
        goto out;
    }
    if (run_compute_metrics(s, res->run_id, reg, tasks, nt, groups, ng, o->seed, o->bootstrap_iters,
                            o->confidence_threshold, e) ||
        run_compute_latency(s, res->run_id, tasks, nt, e))
        goto fail_run;
    run_kill_point();
    if (store_run_set_status(s, res->run_id, "done", e)) goto fail_run;
    rc = 0;
    goto out;
fail_run: {
    cj_err ignored; /* the first error is the one worth reporting */
    store_run_set_status(s, res->run_id, "failed", &ignored);
}
out:
    if (work)
        for (int i = 0; i < nt; i++) free(work[i].idx);
    free(work);
    run_ident_free(&id);
    free(tasks);
    free((void *)groups);
    return rc;
}
