/* mcq — multiple-choice throughput of the local runner on a task sample.
 *
 * The sample is the one `chaejeom run --tasks LIST --limit N --seed S` takes
 * (run_sample_docs per task), built into requests with task_build_request
 * (same shots, same seed), after --subjects K has narrowed the tasks LIST
 * matches to a seeded sample of K of them. --subset K narrows the questions
 * to a seeded sample of K (the baselines of bench/mmlu.sh run on it; their
 * cost per question does not depend on how many questions share a subject).
 *
 * With -m, the questions go to runner_local_open in the order `chaejeom run`
 * sends them: task by task, --batch docs per runner_loglikelihood call. Only
 * those calls are timed (the model load and the prompt rendering are not).
 * The prediction is the first argmax of the summed log-probs (acc).
 *
 * Outputs:
 *   --dump FILE  one JSON object per question, for the llama.cpp peer:
 *                {"id", "contexts": [n], "continuations": [n], "gold"}
 *   --out FILE   one line per question: id pred gold lp_0 .. lp_{n-1}
 *   stdout       mcq: questions=Q seconds=T qps=R acc=A prefill_tokens=P load_s=L rss_mb=M
 *                rss_before_model_mb=B (peak RSS, and RSS once the prompts
 *                are built, before the model loads) */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../harness/run.h"
#include "../runners/runner.h"
#include "../tasks/task.h"

typedef struct {
    task *t;
    int doc;
    char id[160];
    task_request req;
} question;

typedef struct {
    const char *tasks, *data_dir, *tasks_dir, *dump, *out, *model, *tokenizer;
    int shots, limit, subjects, subset, batch, threads, no_prefix, kv_budget_mb;
    uint64_t seed;
} opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Resident memory now, from /proc/self/statm (0 if unreadable). */
static double rss_now_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    int ok = f && fscanf(f, "%ld %ld", &size, &res) == 2;
    if (f) fclose(f);
    return ok ? res * (double)sysconf(_SC_PAGESIZE) / 1048576.0 : 0;
}

/* Keeps a seeded sample of k of the n elements of arr (each size bytes), in
 * order; returns how many are left (n if k is 0 or at least n). */
static int keep_sample(void *arr, size_t size, int n, int k, uint64_t seed) {
    if (k <= 0 || k >= n) return n;
    int *keep = cj_xmalloc((size_t)n * sizeof *keep);
    int m = run_sample_docs(n, k, seed, keep);
    char *a = arr;
    for (int j = 0; j < m; j++) memmove(a + (size_t)j * size, a + (size_t)keep[j] * size, size); /* keep ascends */
    free(keep);
    return m;
}

/* The sample, narrowed to opts->subset questions if asked; requests built. */
static int build(const opts *o, task_registry *reg, const char *data_dir, question **out, int *n_out, cj_err *e) {
    task **tasks = NULL;
    const task_group **groups = NULL;
    int nt = 0, ng = 0, n = 0, cap = 0, rc = -1;
    question *q = NULL;
    if (task_select(reg, o->tasks, &tasks, &nt, &groups, &ng, e)) return -1;
    nt = keep_sample(tasks, sizeof *tasks, nt, o->subjects, o->seed);
    for (int i = 0; i < nt; i++) {
        if (task_output_type(tasks[i]) != TASK_MULTIPLE_CHOICE) {
            cj_fail(e, "task %s is not multiple choice", task_name(tasks[i]));
            goto done;
        }
        if (task_load_data(tasks[i], data_dir, e)) goto done;
        int nd = task_n_docs(tasks[i]);
        int *idx = cj_xmalloc((size_t)(nd > 0 ? nd : 1) * sizeof *idx);
        int k = run_sample_docs(nd, o->limit, o->seed, idx);
        for (int j = 0; j < k; j++) {
            if (n == cap) q = cj_xrealloc(q, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *q);
            memset(&q[n], 0, sizeof q[n]);
            q[n].t = tasks[i];
            q[n].doc = idx[j];
            snprintf(q[n].id, sizeof q[n].id, "%s/%s", task_name(tasks[i]), task_doc_id(tasks[i], idx[j]));
            n++;
        }
        free(idx);
    }
    n = keep_sample(q, sizeof *q, n, o->subset, o->seed);
    for (int i = 0; i < n; i++)
        if (task_build_request(q[i].t, q[i].doc, o->shots, o->seed, &q[i].req, e)) {
            for (int j = 0; j < i; j++) task_request_free(&q[j].req);
            cj_wrap(e, "%s", q[i].id);
            goto done;
        }
    *out = q;
    *n_out = n;
    q = NULL;
    rc = 0;
done:
    free(q);
    free(tasks);
    free(groups);
    return rc;
}

static int dump(const char *path, const question *q, int n, cj_err *e) {
    FILE *f = fopen(path, "w");
    if (!f) return cj_fail(e, "%s: cannot create: %s", path, strerror(errno));
    for (int i = 0; i < n; i++) {
        json_t *ctx = json_array(), *cont = json_array();
        for (int c = 0; c < q[i].req.n; c++) {
            json_array_append_new(ctx, json_string(q[i].req.contexts[c]));
            json_array_append_new(cont, json_string(q[i].req.continuations[c]));
        }
        json_t *obj = json_pack("{s:s, s:o, s:o, s:i}", "id", q[i].id, "contexts", ctx, "continuations", cont, "gold",
                                q[i].req.gold);
        if (!obj || json_dumpf(obj, f, JSON_COMPACT) || fputc('\n', f) == EOF) {
            json_decref(obj);
            fclose(f);
            return cj_fail(e, "%s: write failed", path);
        }
        json_decref(obj);
    }
    return fclose(f) ? cj_fail(e, "%s: write failed: %s", path, strerror(errno)) : 0;
}

/* Runner items for questions [i0, i1): one item per question whose choices
 * share a context, else one per choice. Returns the item count. */
static int make_items(const question *q, int i0, int i1, runner_ll_item *items) {
    int k = 0;
    for (int i = i0; i < i1; i++) {
        const task_request *r = &q[i].req;
        int same = 1;
        for (int c = 1; c < r->n; c++) same &= !strcmp(r->contexts[c], r->contexts[0]);
        if (same) {
            items[k++] = (runner_ll_item){r->contexts[0], (const char *const *)r->continuations, r->n};
        } else {
            for (int c = 0; c < r->n; c++)
                items[k++] = (runner_ll_item){r->contexts[c], (const char *const *)&r->continuations[c], 1};
        }
    }
    return k;
}

typedef struct {
    double seconds;
    long prefill_tokens;
    int correct;
} tally;

static int score(const opts *o, const question *q, int n, FILE *out, tally *t, cj_err *e) {
    runner_opts ro = {.model_path = o->model, .tokenizer_path = o->tokenizer, .threads = o->threads,
                      .no_prefix_cache = o->no_prefix, .kv_budget_mb = o->kv_budget_mb};
    runner *r = runner_local_open(&ro, e);
    if (!r) return -1;
    int max_choices = 1;
    for (int i = 0; i < n; i++)
        if (q[i].req.n > max_choices) max_choices = q[i].req.n;
    size_t cap = (size_t)o->batch * (size_t)max_choices;
    runner_ll_item *items = cj_xmalloc(cap * sizeof *items);
    runner_ll_result *res = cj_xmalloc(cap * sizeof *res);
    runner_timing *tim = cj_xmalloc(cap * sizeof *tim);
    int rc = 0;
    for (int i = 0; i < n && !rc;) {
        int j = i;
        while (j < n && j - i < o->batch && q[j].t == q[i].t) j++;
        int ni = make_items(q, i, j, items);
        double t0 = now_s();
        rc = runner_loglikelihood(r, items, ni, res, tim, e);
        t->seconds += now_s() - t0;
        for (int k = 0; k < ni && !rc; k++) t->prefill_tokens += tim[k].prefill_tokens;
        /* Results come per continuation, items in order: question by question. */
        for (int a = i, k = 0; a < j && !rc; a++) {
            const task_request *rq = &q[a].req;
            int pred = 0;
            for (int c = 1; c < rq->n; c++)
                if (res[k + c].logprob > res[k + pred].logprob) pred = c;
            t->correct += pred == rq->gold;
            if (out) {
                fprintf(out, "%s %d %d", q[a].id, pred, rq->gold);
                for (int c = 0; c < rq->n; c++) fprintf(out, " %.9g", res[k + c].logprob);
                fputc('\n', out);
            }
            k += rq->n;
        }
        i = j;
    }
    free(items);
    free(res);
    free(tim);
    runner_free(r);
    return rc;
}

static void usage(FILE *f) {
    fputs("usage: mcq --tasks LIST [--subjects K] [--shots K] [--limit N] [--seed S] [--subset K] [--data-dir DIR]\n"
          "           [--tasks-dir DIR] [--dump FILE]\n"
          "           [-m MODEL [--tokenizer PATH] [-t THREADS] [--batch DOCS] [--no-prefix-cache] [--kv-budget MB]\n"
          "            [--out FILE]]\n",
          f);
}

static int parse(int argc, char **argv, opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-prefix-cache")) {
            o->no_prefix = 1;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        char *end;
        long n = strtol(v, &end, 10);
        int is_num = *v && !*end && n >= 0 && n <= 1 << 30;
        if (!strcmp(a, "--tasks")) o->tasks = v;
        else if (!strcmp(a, "--data-dir")) o->data_dir = v;
        else if (!strcmp(a, "--tasks-dir")) o->tasks_dir = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "-m")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!is_num) return -1;
        else if (!strcmp(a, "--shots")) o->shots = (int)n;
        else if (!strcmp(a, "--limit")) o->limit = (int)n;
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)n;
        else if (!strcmp(a, "--subset")) o->subset = (int)n;
        else if (!strcmp(a, "--subjects")) o->subjects = (int)n;
        else if (!strcmp(a, "--batch") && n >= 1) o->batch = (int)n;
        else if (!strcmp(a, "-t")) o->threads = (int)n;
        else if (!strcmp(a, "--kv-budget")) o->kv_budget_mb = (int)n;
        else return -1;
    }
    return o->tasks ? 0 : -1;
}

int main(int argc, char **argv) {
    opts o = {.shots = -1, .seed = 1234, .batch = 32, .threads = 2};
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    char *assets = NULL, *data_dir = NULL, *tasks_dir = NULL;
    if (o.data_dir) {
        data_dir = cj_xstrdup(o.data_dir);
    } else {
        assets = cj_assets_dir();
        data_dir = cj_path_join(assets, "datasets");
    }
    tasks_dir = o.tasks_dir ? cj_xstrdup(o.tasks_dir) : task_default_dir();
    task_registry *reg = NULL;
    question *q = NULL;
    FILE *out = NULL;
    int n = 0, rc = 2;
    cj_err e;
    if (task_registry_load(tasks_dir, &reg, &e) || build(&o, reg, data_dir, &q, &n, &e)) goto fail;
    if (o.dump && dump(o.dump, q, n, &e)) goto fail;
    if (o.model) {
        if (o.out && !(out = fopen(o.out, "w"))) {
            cj_fail(&e, "%s: cannot create: %s", o.out, strerror(errno));
            goto fail;
        }
        tally t = {0};
        double base_mb = rss_now_mb(); /* the harness's share: tasks, data, prompts */
        double t0 = now_s();
        if (score(&o, q, n, out, &t, &e)) goto fail;
        double total = now_s() - t0;
        if (out && fclose(out)) {
            out = NULL;
            cj_fail(&e, "%s: write failed", o.out);
            goto fail;
        }
        out = NULL;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("mcq: questions=%d seconds=%.3f qps=%.4f acc=%.4f prefill_tokens=%ld load_s=%.2f rss_mb=%.1f "
               "rss_before_model_mb=%.1f\n",
               n, t.seconds, t.seconds > 0 ? n / t.seconds : 0, n ? (double)t.correct / n : 0, t.prefill_tokens,
               total - t.seconds, ru.ru_maxrss / 1024.0, base_mb);
    } else {
        printf("mcq: questions=%d\n", n);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "mcq: %s\n", e.msg);
done:
    if (out) fclose(out);
    for (int i = 0; i < n; i++) task_request_free(&q[i].req);
    free(q);
    if (reg) task_registry_free(reg);
    free(assets);
    free(data_dir);
    free(tasks_dir);
    return rc;
}
