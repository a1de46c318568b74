/* run — see run.h. */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "../metrics/calib.h"
#include "../common/version.h"
#include "progress.h"
#include "../metrics/score.h"
#include "../metrics/stats.h"
#include "../metrics/truthfulqa_gen.h"

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

/* --- small helpers -------------------------------------------------------------- */

const char *run_git_commit(void) {
#ifdef CJ_GIT_COMMIT
    return CJ_GIT_COMMIT;
#else
    static char commit[48];
    if (commit[0]) return commit;
    strcpy(commit, "unknown");
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return commit;
    exe[n] = 0;
    sb cmd;
    sb_init(&cmd);
    sb_puts(&cmd, "git -C '");
    for (const char *p = dirname(exe); *p; p++) {
        if (*p == '\'') sb_puts(&cmd, "'\\''");
        else sb_putc(&cmd, *p);
    }
    sb_puts(&cmd, "' rev-parse HEAD 2>/dev/null");
    FILE *f = popen(cmd.s, "r");
    sb_free(&cmd);
    if (!f) return commit;
    char line[128] = {0};
    int ok = fgets(line, sizeof line, f) != NULL;
    pclose(f);
    if (!ok || strspn(line, "0123456789abcdef") != 40) return commit;
    memcpy(commit, line, 40);
    commit[40] = 0;
    return commit;
#endif
}

static void host_name(char *buf, size_t n) {
    if (gethostname(buf, n) != 0) snprintf(buf, n, "unknown");
    buf[n - 1] = 0;
}

static int pid_alive(int64_t pid) {
    if (pid <= 0 || pid != (pid_t)pid) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

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
    return set->n && bsearch(&s, set->v, (size_t)set->n, sizeof *set->v, cmp_str) != NULL;
}

static void strset_free(strset *set) {
    for (int i = 0; i < set->n; i++) free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof *set);
}

/* --- run identity ------------------------------------------------------------- */

/* Everything that identifies a run, as JSON texts (malloc'd). */
typedef struct {
    char model_key[65];
    char *tasks;       /* JSON array of the names asked for */
    char *task_hashes; /* JSON object */
    char *data_hashes; /* JSON object */
    char *tags;        /* JSON object */
    char config_hash[65];
} run_ident;

static void run_ident_free(run_ident *id) {
    free(id->tasks);
    free(id->task_hashes);
    free(id->data_hashes);
    free(id->tags);
}

/* Data file paths relative to the datasets root, so that the identity does
 * not change when the assets move. */
static const char *rel_path(const char *path, const char *root) {
    size_t n = root ? strlen(root) : 0;
    while (n > 1 && root[n - 1] == '/') n--;
    if (n && !strncmp(path, root, n) && path[n] == '/') return path + n + 1;
    return path;
}

static char *dump(json_t *j, size_t flags) {
    char *s = json_dumps(j, flags | JSON_ENCODE_ANY);
    if (!s) abort(); /* jansson fails only on allocation */
    return s;
}

/* 1 if the runner's numbers may differ from machine to machine: OpenBLAS's
 * products, whose last bits depend on the kernels it picks for the CPU. */
static int machine_dependent(const runner_info *info) { return info->kernels && !strcmp(info->kernels, "openblas"); }

static void make_ident(const runner_info *info, const run_opts *o, task *const *tasks, int nt,
                       const task_group *const *groups, int ng, run_ident *id) {
    /* The cache key: the weights, the separate tokenizer, and OpenBLAS's
     * products when asked for, so that their answers never serve a run of
     * our own products (whose bits are the same on every machine) nor the
     * other way round. */
    if (o->tokenizer_sha256 || machine_dependent(info)) {
        sb k;
        sb_init(&k);
        sb_printf(&k, "%s", info->sha256);
        if (o->tokenizer_sha256) sb_printf(&k, ":%s", o->tokenizer_sha256);
        if (machine_dependent(info)) sb_printf(&k, ":kernels=openblas");
        sha256_hex(k.s, k.len, id->model_key);
        sb_free(&k);
    } else {
        snprintf(id->model_key, sizeof id->model_key, "%s", info->sha256);
    }
    json_t *asked = json_array();
    const char *p = o->tasks;
    while (*p) {
        size_t n = strcspn(p, ",");
        char *name = cj_xstrndup(p, n);
        char *s = name + strspn(name, " \t");
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t')) s[--l] = 0;
        if (*s) json_array_append_new(asked, json_string(s));
        free(name);
        p += n + (p[n] == ',');
    }
    json_t *th = json_object(), *dh = json_object(), *leaves = json_array(), *gnames = json_array();
    for (int i = 0; i < nt; i++) {
        json_object_set_new(th, task_name(tasks[i]), json_string(task_def_sha256(tasks[i])));
        for (int f = 0; f < task_n_data_files(tasks[i]); f++) {
            const char *sha = NULL;
            const char *path = task_data_file(tasks[i], f, &sha);
            if (path) json_object_set_new(dh, rel_path(path, o->data_dir), json_string(sha ? sha : ""));
        }
    }
    for (int i = 0; i < ng; i++) json_array_append_new(gnames, json_string(groups[i]->name));
    json_t *tags = json_object();
    for (int i = 0; i < o->n_tags; i++) json_object_set_new(tags, o->tag_keys[i], json_string(o->tag_values[i]));
    id->tasks = dump(asked, JSON_COMPACT);
    id->task_hashes = dump(th, JSON_COMPACT | JSON_SORT_KEYS);
    id->data_hashes = dump(dh, JSON_COMPACT | JSON_SORT_KEYS);
    id->tags = dump(tags, JSON_COMPACT);
    /* The config: what the numbers depend on, in a canonical form. Task
     * order does not matter; the leaf tasks are sorted. */
    char **names = cj_xmalloc(sizeof *names * (size_t)(nt ? nt : 1));
    for (int i = 0; i < nt; i++) names[i] = (char *)task_name(tasks[i]);
    qsort(names, (size_t)nt, sizeof *names, cmp_str);
    for (int i = 0; i < nt; i++) json_array_append_new(leaves, json_string(names[i]));
    free(names);
    json_t *cfg = json_pack("{s:s, s:O, s:O, s:O, s:O, s:I, s:I, s:I}", "model", id->model_key, "tasks", leaves,
                            "groups", gnames, "task_hashes", th, "data_hashes", dh, "shots", (json_int_t)o->shots,
                            "limit", (json_int_t)o->limit, "seed", (json_int_t)o->seed);
    if (!cfg) abort();
    /* Options that change answers or metrics join the identity only when
     * set, so that a run without them keeps the identity it always had. */
    if (o->max_gen_tokens > 0) json_object_set_new(cfg, "max_gen_tokens", json_integer(o->max_gen_tokens));
    if (o->temperature >= 0) json_object_set_new(cfg, "temperature", json_real((float)o->temperature));
    if (o->top_p > 0 && o->top_p <= 1) json_object_set_new(cfg, "top_p", json_real((float)o->top_p));
    if (o->has_gen_seed) {
        char gs[24];
        snprintf(gs, sizeof gs, "%" PRIu64, o->gen_seed);
        json_object_set_new(cfg, "gen_seed", json_string(gs));
    }
    if (machine_dependent(info)) json_object_set_new(cfg, "kernels", json_string(info->kernels));
    if (o->confidence_threshold != CALIB_DEFAULT_THRESHOLD)
        json_object_set_new(cfg, "confidence_threshold", json_real(o->confidence_threshold));
    char *c = dump(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_hex(c, strlen(c), id->config_hash);
    free(c);
    json_decref(cfg);
    json_decref(asked);
    json_decref(th);
    json_decref(dh);
    json_decref(leaves);
    json_decref(gnames);
    json_decref(tags);
}

/* --- choosing the run: new or resumed ------------------------------------------ */

typedef struct {
    const char *host;
    int64_t found;
} resume_find;

static int resumable_cb(const store_run *r, void *ctx) {
    resume_find *f = ctx;
    if (!r->status || !strcmp(r->status, "done")) return 0;
    if (!strcmp(r->status, "running") && (!r->host || strcmp(r->host, f->host) || pid_alive(r->pid))) return 0;
    f->found = r->id;
    return 1;
}

static int open_run(store *s, const runner_info *info, const run_opts *o, const run_ident *id, const char *host,
                    run_result *res, cj_err *e) {
    int64_t rid = 0;
    /* Finding the run to resume and claiming it is one transaction: two
     * processes started together must not both resume the same run. */
    if (store_begin(s, e)) return -1;
    if (o->resume_id > 0) {
        store_run old;
        int found;
        if (store_run_get(s, o->resume_id, &old, &found, e)) goto fail;
        if (!found) {
            cj_fail(e, "--resume %lld: no such run", (long long)o->resume_id);
            goto fail;
        }
        int same = old.config_hash && !strcmp(old.config_hash, id->config_hash);
        int live = !strcmp(old.status, "running") && old.host && !strcmp(old.host, host) && pid_alive(old.pid);
        int64_t pid = old.pid;
        store_run_clear(&old);
        if (!same) {
            cj_fail(e,
                    "--resume %lld: that run used another configuration (model, tasks, shots, limit, seed "
                    "or data differ)",
                    (long long)o->resume_id);
            goto fail;
        }
        if (live) {
            cj_fail(e, "--resume %lld: still running (pid %lld)", (long long)o->resume_id, (long long)pid);
            goto fail;
        }
        rid = o->resume_id;
    } else if (!o->no_resume) {
        resume_find f = {host, 0};
        if (store_runs_each(s, id->config_hash, resumable_cb, &f, e)) goto fail;
        rid = f.found;
    }
    if (rid) {
        if (store_run_claim(s, rid, (int64_t)getpid(), host, e)) goto fail;
        if (store_commit(s, e)) return -1;
        res->resumed = 1;
        res->run_id = rid;
        return 0;
    }
    store_run r = {
        .model_path = info->path,
        .model_sha256 = info->sha256,
        .model_format = info->format,
        .model_arch = info->arch,
        .model_params = info->n_params,
        .model_dtype = info->dtype,
        .tokenizer = info->tokenizer,
        .tokenizer_sha256 = o->tokenizer_sha256,
        .tasks = id->tasks,
        .task_hashes = id->task_hashes,
        .data_hashes = id->data_hashes,
        .seed = (int64_t)o->seed,
        .threads = o->threads,
        .batch = o->batch,
        .shots = o->shots,
        .limit = o->limit,
        .harness_version = CJ_VERSION,
        .git_commit = run_git_commit(),
        .host = host,
        .config_hash = id->config_hash,
        .tags = id->tags,
        .pid = (int64_t)getpid(),
        .kernels = info->kernels,
    };
    if (store_run_insert(s, &r, &rid, e)) goto fail;
    for (int i = 0; i < o->n_tags; i++)
        if (store_tag_put(s, rid, o->tag_keys[i], o->tag_values[i], e)) goto fail;
    if (store_commit(s, e)) return -1;
    res->run_id = rid;
    return 0;
fail:
    store_rollback(s);
    return -1;
}

/* --- one batch ------------------------------------------------------------------ */

typedef struct {
    task *t;
    int doc;
    task_request q;
    int first;                  /* its first request in the batch */
    char prompt_hash[65];
    int prefill, decode;        /* runner cost of the items this doc owns */
    double wall;
    int timed;
} bdoc;

typedef struct {
    const char *ctx, *cont; /* borrowed from the doc's request */
    int doc;                /* owning bdoc */
    char hash[65];
    int uniq;
} breq;

typedef struct {
    int req;    /* first request with this hash */
    int cached; /* answered by the store */
    store_cached res;
} buniq;

typedef struct {
    const char *ctx;
    int uniq;
} pend;

static int cmp_req_hash(const void *a, const void *b, void *ctx) {
    const breq *r = ctx;
    return strcmp(r[*(const int *)a].hash, r[*(const int *)b].hash);
}

static int cmp_pend(const void *a, const void *b) {
    const pend *x = a, *y = b;
    int c = strcmp(x->ctx, y->ctx);
    return c ? c : (x->uniq > y->uniq) - (x->uniq < y->uniq);
}

static void prompt_hash(const task_request *q, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < q->n; i++) {
        sha256_update(&c, q->contexts[i], strlen(q->contexts[i]) + 1);
        sha256_update(&c, q->continuations[i], strlen(q->continuations[i]) + 1);
    }
    sha256_final_hex(&c, hex);
}

typedef struct {
    runner *r;
    store *s;
    const run_opts *o;
    int64_t run_id;
    const char *model_key;
    run_result *res;
} run_ctx;

/* Checks what the task layer handed us before it reaches the scorer. */
static int check_request(const task *t, int doc, const task_request *q, cj_err *e) {
    const char *name = task_name(t), *id = task_doc_id(t, doc);
    if (q->n < 1) return cj_fail(e, "task %s doc %s: no requests", name, id);
    for (int i = 0; i < q->n; i++)
        if (!q->contexts || !q->contexts[i] || !q->continuations || !q->continuations[i])
            return cj_fail(e, "task %s doc %s: request %d has no text", name, id, i);
    if (task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING) {
        if (q->n != 1) return cj_fail(e, "task %s doc %s: a rolling doc has %d texts, not 1", name, id, q->n);
        return 0;
    }
    if (!q->choices) return cj_fail(e, "task %s doc %s: no choice texts", name, id);
    for (int i = 0; i < q->n; i++)
        if (!q->choices[i]) return cj_fail(e, "task %s doc %s: choice %d has no text", name, id, i);
    if (q->gold >= q->n) return cj_fail(e, "task %s doc %s: gold %d of %d choices", name, id, q->gold, q->n);
    if (q->gold < 0 && !q->labels) return cj_fail(e, "task %s doc %s: neither a gold index nor labels", name, id);
    return 0;
}

/* Sends the batch's uncached requests to the runner and fills u[].res. */
static int compute(run_ctx *c, int rolling, bdoc *docs, breq *reqs, buniq *u, int nu, cj_err *e) {
    pend *p = cj_xmalloc(sizeof *p * (size_t)(nu ? nu : 1));
    int np = 0;
    for (int i = 0; i < nu; i++)
        if (!u[i].cached) p[np++] = (pend){reqs[u[i].req].ctx, i};
    if (!np) {
        free(p);
        return 0;
    }
    /* One runner item per distinct context: sorted by context, the
     * continuations of an item are contiguous, so the flattened result index
     * of p[k] is k. */
    qsort(p, (size_t)np, sizeof *p, cmp_pend);
    const char **conts = cj_xmalloc(sizeof *conts * (size_t)np);
    runner_ll_item *items = cj_xmalloc(sizeof *items * (size_t)np);
    int *item_first = cj_xmalloc(sizeof *item_first * (size_t)np);
    int ni = 0;
    for (int k = 0; k < np; k++) {
        conts[k] = rolling ? p[k].ctx : reqs[u[p[k].uniq].req].cont;
        if (rolling || k == 0 || strcmp(p[k].ctx, p[k - 1].ctx)) {
            items[ni] = (runner_ll_item){p[k].ctx, conts + k, 0};
            item_first[ni++] = k;
        }
        items[ni - 1].n_cont++;
    }
    runner_ll_result *out = cj_xcalloc((size_t)np, sizeof *out);
    runner_rolling_result *rout = cj_xcalloc((size_t)np, sizeof *rout);
    runner_timing *tm = cj_xcalloc((size_t)ni, sizeof *tm);
    int rc = rolling ? runner_loglikelihood_rolling(c->r, conts, np, rout, tm, e)
                     : runner_loglikelihood(c->r, items, ni, out, tm, e);
    if (rc) {
        cj_wrap(e, "runner");
        goto done;
    }
    for (int k = 0; k < np; k++) {
        buniq *x = &u[p[k].uniq];
        x->res = rolling ? (store_cached){rout[k].logprob, rout[k].n_tokens, 0}
                         : (store_cached){out[k].logprob, out[k].n_tokens, out[k].is_greedy};
        if (isnan(x->res.logprob) || x->res.n_tokens < 0) {
            const breq *q = &reqs[x->req];
            rc = cj_fail(e, "runner returned log-prob %g over %d tokens for task %s doc %s", x->res.logprob,
                         x->res.n_tokens, task_name(docs[q->doc].t), task_doc_id(docs[q->doc].t, docs[q->doc].doc));
            goto done;
        }
    }
    for (int i = 0; i < ni; i++) { /* an item's cost goes to the doc that first asked for its context */
        bdoc *d = &docs[reqs[u[p[item_first[i]].uniq].req].doc];
        d->prefill += tm[i].prefill_tokens;
        d->decode += tm[i].decode_tokens;
        d->wall += tm[i].wall_s;
        d->timed = 1;
    }
    c->res->requests_computed += np;
done:
    free(p);
    free(conts);
    free(items);
    free(item_first);
    free(out);
    free(rout);
    free(tm);
    return rc;
}

static int write_doc(run_ctx *c, const bdoc *d, const breq *reqs, const buniq *u, cj_err *e) {
    const task_request *q = &d->q;
    int rolling = task_output_type(d->t) == TASK_LOGLIKELIHOOD_ROLLING;
    const char *name = task_name(d->t), *doc_id = task_doc_id(d->t, d->doc);
    score_choice *sc = cj_xmalloc(sizeof *sc * (size_t)q->n);
    for (int i = 0; i < q->n; i++) {
        const store_cached *r = &u[reqs[d->first + i].uniq].res;
        const char *text = rolling ? q->contexts[0] : q->choices[i];
        sc[i] = (score_choice){r->logprob, r->n_tokens, score_utf8_chars(text), (int)strlen(text), r->is_greedy};
    }
    char *labels_json = NULL;
    store_doc row = {.task = name, .doc_id = doc_id, .doc_hash = task_doc_hash(d->t, d->doc),
                     .prompt_hash = d->prompt_hash, .target = -1, .pred = -1};
    if (!rolling) {
        score_mc m;
        score_mc_doc(sc, q->n, q->gold, q->labels, &m);
        row.pred = m.pred;
        row.target = q->gold;
        if (q->gold < 0) {
            sb j;
            sb_init(&j);
            sb_putc(&j, '[');
            for (int i = 0; i < q->n; i++)
                if (q->labels[i]) sb_printf(&j, "%s%d", j.len > 1 ? "," : "", i);
            sb_putc(&j, ']');
            labels_json = sb_take(&j);
            row.target_text = labels_json;
        }
    }
    int rc = store_put_doc(c->s, c->run_id, &row, e);
    for (int i = 0; i < q->n && !rc; i++) {
        store_choice ch = {
            .task = name,
            .doc_id = doc_id,
            .choice_idx = i,
            .logprob = sc[i].logprob,
            .n_tokens = sc[i].n_tokens,
            .n_chars = sc[i].n_chars,
            .n_bytes = sc[i].n_bytes,
            .is_greedy = sc[i].is_greedy,
            .label = rolling ? -1 : q->labels ? (q->labels[i] != 0) : (i == q->gold),
            .n_words = rolling ? score_count_words(q->contexts[0]) : -1,
        };
        rc = store_put_choice(c->s, c->run_id, &ch, e);
    }
    if (!rc && d->timed) rc = store_put_latency(c->s, c->run_id, name, doc_id, d->prefill, d->decode, d->wall, e);
    free(labels_json);
    free(sc);
    return rc;
}

/* Test hook for tests/e2e/test_killpoints.sh: with CHAEJEOM_TEST_KILL_AT=N
 * the process sends itself SIGKILL at its Nth kill point, to show that a
 * crash anywhere loses at most the batch in flight. Each batch passes three
 * points: results computed (nothing written), inside its transaction (docs
 * written, cache entries and counters not), and after its commit; the end
 * passes one between the metrics commit and marking the run done. */
static void kill_point(void) {
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

/* --- one batch of generations ------------------------------------------------------ */

typedef struct {
    int doc;
    task_request q;
    char prompt_hash[65];
    runner_gen_item item; /* borrows q's strings */
    char hash[65];        /* of the prompt and every generation parameter */
    int uniq;             /* first doc of the batch with this hash */
    store_gen_cached res; /* from the cache or the runner; res.text owned */
    runner_timing tm;
    int timed; /* this doc owns a runner item */
} gdoc;

/* A doc's own sampling seed: the first output of the PRNG seeded with the
 * generation seed mixed with the doc's index, so that docs do not share a
 * stream and a doc's answer does not depend on the batch. */
static uint64_t doc_seed(uint64_t seed, int doc) {
    cj_rng r;
    cj_rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(doc + 1)));
    return cj_rng_next(&r);
}

/* The generation parameters of doc d: the task's, then the run's overrides. */
static void gen_params(const run_ctx *c, const task *t, gdoc *d) {
    const task_gen_opts *g = task_gen(t);
    const run_opts *o = c->o;
    double temp = o->temperature >= 0 ? o->temperature : g->temperature;
    double top_p = o->top_p > 0 && o->top_p <= 1 ? o->top_p : g->top_p;
    uint64_t base = o->has_gen_seed ? o->gen_seed : g->has_seed ? g->seed : o->seed;
    int max = d->q.max_tokens;
    if (o->max_gen_tokens > 0 && o->max_gen_tokens < max) max = o->max_gen_tokens;
    d->item = (runner_gen_item){
        .context = d->q.contexts[0],
        .until = (const char *const *)d->q.until,
        .n_until = d->q.n_until,
        .max_tokens = max,
        .temperature = (float)temp,
        .top_p = (float)top_p,
        /* greedy decoding ignores the seed: leave it out of the identity so
         * that greedy answers are shared across seeds */
        .seed = temp > 0 ? doc_seed(base, d->doc) : 0,
    };
}

/* The cache key: the prompt and the parameters as canonical JSON (floats
 * as the runner receives them). */
static void gen_hash(const gdoc *d, char hex[65]) {
    json_t *until = json_array();
    for (int i = 0; i < d->item.n_until; i++) json_array_append_new(until, json_string(d->item.until[i]));
    char seed[24]; /* as text: JSON integers are signed 64-bit */
    snprintf(seed, sizeof seed, "%" PRIu64, d->item.seed);
    json_t *p = json_pack("{s:o, s:i, s:f, s:f, s:s}", "until", until, "max_tokens", d->item.max_tokens,
                          "temperature", (double)d->item.temperature, "top_p", (double)d->item.top_p, "seed", seed);
    if (!p) abort();
    char *txt = dump(p, JSON_COMPACT | JSON_SORT_KEYS);
    store_generate_hash(d->item.context, txt, hex);
    free(txt);
    json_decref(p);
}

static const char *finish_text(runner_finish f) {
    return f == RUNNER_FINISH_STOP ? "stop" : f == RUNNER_FINISH_EOS ? "eos" : "length";
}

static json_t *str_array(char *const *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Scores one generated doc and writes its doc, generation and latency rows. */
static int write_gen(run_ctx *c, task *t, const gdoc *d, cj_err *e) {
    const task_gen_opts *g = task_gen(t);
    const char *name = task_name(t), *doc_id = task_doc_id(t, d->doc);
    const task_request *q = &d->q;
    /* References are prepared as lm-eval's truthfulqa_gen prepares them
     * (truthfulqa_gen.h); a doc left without a true or a false one gets no
     * truthfulqa scores rather than failing the run. */
    char **tc = NULL, **ti = NULL;
    int ntc = 0, nti = 0;
    if (q->refs_correct) {
        tc = tqa_gen_format_answers((const char *const *)q->refs_correct, q->n_refs_correct, 1, &ntc);
        ti = tqa_gen_format_answers((const char *const *)q->refs_incorrect, q->n_refs_incorrect, 0, &nti);
    }
    score_gen_refs refs = {q->gold_text, NULL, 0, NULL, 0};
    if (ntc > 0 && nti > 0) refs = (score_gen_refs){q->gold_text, (const char *const *)tc, ntc, (const char *const *)ti, nti};
    score_gen sg;
    int rc = score_gen_doc(d->res.text, &refs, g, &sg, e);
    if (rc) {
        cj_wrap(e, "task %s doc %s", name, doc_id);
        goto out;
    }
    json_t *scores = json_object();
    for (int m = 0; m < task_n_metrics(t); m++) {
        double v;
        if (score_gen_metric(&sg, task_metric(t, m), &v)) continue;
        json_object_set_new(scores, task_metric(t, m), isnan(v) ? json_null() : json_real(v));
    }
    char *scores_txt = dump(scores, JSON_COMPACT);
    json_decref(scores);
    char *refs_txt = NULL;
    if (q->refs_correct) {
        json_t *r = json_pack("{s:o, s:o}", "correct", str_array(tc, ntc), "incorrect", str_array(ti, nti));
        if (!r) abort();
        refs_txt = dump(r, JSON_COMPACT);
        json_decref(r);
    }
    store_doc row = {.task = name, .doc_id = doc_id, .doc_hash = task_doc_hash(t, d->doc),
                     .prompt_hash = d->prompt_hash, .target = -1, .target_text = q->gold_text, .pred = -1};
    store_generation gr = {
        .task = name, .doc_id = doc_id, .text = d->res.text, .n_tokens = d->res.n_tokens,
        .finish = d->res.finish, .answer = sg.answer, .exact_match = sg.exact_match, .f1 = sg.f1,
        .abstained = sg.abstained, .correct = sg.correct, .scores = scores_txt, .refs = refs_txt,
    };
    rc = store_put_doc(c->s, c->run_id, &row, e) || store_put_generation(c->s, c->run_id, &gr, e) ? -1 : 0;
    if (!rc && d->timed) {
        /* time to the first token is the prompt's cost; the rest is decoding */
        double ttft = d->tm.ttft_s > 0 && d->tm.ttft_s <= d->tm.wall_s ? d->tm.ttft_s : d->tm.wall_s;
        store_latency l = {name, doc_id, d->tm.prefill_tokens, d->tm.decode_tokens, d->tm.wall_s, ttft,
                           d->tm.wall_s - ttft, d->tm.ttft_s > 0 ? ttft : NAN};
        rc = store_put_latency_row(c->s, c->run_id, &l, e);
    }
    free(scores_txt);
    free(refs_txt);
    score_gen_clear(&sg);
out:
    tqa_gen_free_list(tc, ntc);
    tqa_gen_free_list(ti, nti);
    return rc;
}

static int cmp_gdoc_hash(const void *a, const void *b, void *ctx) {
    const gdoc *d = ctx;
    int c = strcmp(d[*(const int *)a].hash, d[*(const int *)b].hash);
    return c ? c : (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* Generates docs idx[0..n) of task t (the cache first) and commits them in
 * one transaction, as run_batch does for scoring. */
static int gen_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e) {
    gdoc *docs = cj_xcalloc((size_t)n, sizeof *docs);
    int *order = cj_xmalloc(sizeof *order * (size_t)n), *pend = cj_xmalloc(sizeof *pend * (size_t)n);
    runner_gen_item *items = NULL;
    runner_gen_result *out = NULL;
    runner_timing *tm = NULL;
    int built = 0, np = 0, rc = -1;
    long nu = 0;
    for (; built < n; built++) {
        gdoc *d = &docs[built];
        d->doc = idx[built];
        if (task_build_request(t, d->doc, c->o->shots, c->o->seed, &d->q, e)) {
            cj_wrap(e, "task %s doc %s", task_name(t), task_doc_id(t, d->doc));
            goto out;
        }
        if (d->q.n != 1 || !d->q.contexts || !d->q.contexts[0]) {
            built++;
            cj_fail(e, "task %s doc %s: a generation request has no prompt", task_name(t), task_doc_id(t, d->doc));
            goto out;
        }
        prompt_hash(&d->q, d->prompt_hash);
        gen_params(c, t, d);
        gen_hash(d, d->hash);
        order[built] = built;
    }
    /* Distinct requests: a doc whose hash an earlier doc has shares its result. */
    qsort_r(order, (size_t)n, sizeof *order, cmp_gdoc_hash, docs);
    for (int k = 0; k < n; k++) {
        gdoc *d = &docs[order[k]];
        if (k > 0 && !strcmp(d->hash, docs[order[k - 1]].hash)) {
            d->uniq = docs[order[k - 1]].uniq;
            continue;
        }
        d->uniq = order[k];
        nu++;
        int found;
        if (store_gen_cache_get(c->s, c->model_key, d->hash, &d->res, &found, e)) goto out;
        if (!found) pend[np++] = order[k];
    }
    if (np) {
        items = cj_xmalloc(sizeof *items * (size_t)np);
        out = cj_xcalloc((size_t)np, sizeof *out);
        tm = cj_xcalloc((size_t)np, sizeof *tm);
        for (int k = 0; k < np; k++) items[k] = docs[pend[k]].item;
        if (runner_generate(c->r, items, np, out, tm, e)) {
            cj_wrap(e, "runner");
            goto out;
        }
        for (int k = 0; k < np; k++) {
            gdoc *d = &docs[pend[k]];
            if (!out[k].text || out[k].n_tokens < 0) {
                cj_fail(e, "runner returned no text for task %s doc %s", task_name(t), task_doc_id(t, d->doc));
                goto out;
            }
            d->res = (store_gen_cached){out[k].text, out[k].n_tokens, finish_text(out[k].finish)};
            out[k].text = NULL;
            d->tm = tm[k];
            d->timed = 1;
        }
        c->res->requests_computed += np;
    }
    /* Docs that share a request take its result (a copy of the text). */
    for (int i = 0; i < n; i++)
        if (docs[i].uniq != i) {
            const gdoc *u = &docs[docs[i].uniq];
            docs[i].res = (store_gen_cached){cj_xstrdup(u->res.text), u->res.n_tokens, u->res.finish};
        }
    kill_point();
    if (store_begin(c->s, e)) goto out;
    for (int i = 0; i < n; i++)
        if (write_gen(c, t, &docs[i], e)) goto rollback;
    kill_point();
    for (int k = 0; k < np; k++) {
        const gdoc *d = &docs[pend[k]];
        if (store_gen_cache_put(c->s, c->model_key, d->hash, d->res.text, d->res.n_tokens, d->res.finish, e))
            goto rollback;
    }
    if (store_run_add_requests(c->s, c->run_id, nu - np, np, e)) goto rollback;
    if (store_commit(c->s, e)) goto out;
    kill_point();
    c->res->requests_cached += nu - np;
    rc = 0;
    goto out;
rollback:
    store_rollback(c->s);
out:
    for (int i = 0; i < built; i++) {
        task_request_free(&docs[i].q);
        free(docs[i].res.text);
    }
    for (int k = 0; out && k < np; k++) free(out[k].text);
    free(docs);
    free(order);
    free(pend);
    free(items);
    free(out);
    free(tm);
    return rc;
}

/* Scores docs idx[0..n) of task t and commits them in one transaction. */
static int run_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e) {
    if (task_output_type(t) == TASK_GENERATE_UNTIL) return gen_batch(c, t, idx, n, e);
    int rolling = task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING;
    bdoc *docs = cj_xcalloc((size_t)n, sizeof *docs);
    breq *reqs = NULL;
    buniq *u = NULL;
    int *order = NULL, built = 0, nreq = 0, nu = 0, rc = -1;
    for (; built < n; built++) {
        bdoc *d = &docs[built];
        d->t = t;
        d->doc = idx[built];
        if (task_build_request(t, d->doc, c->o->shots, c->o->seed, &d->q, e)) {
            cj_wrap(e, "task %s doc %s", task_name(t), task_doc_id(t, d->doc));
            goto out;
        }
        if (check_request(t, d->doc, &d->q, e)) {
            built++;
            goto out;
        }
        d->first = nreq;
        nreq += d->q.n;
        prompt_hash(&d->q, d->prompt_hash);
    }
    reqs = cj_xmalloc(sizeof *reqs * (size_t)nreq);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < docs[i].q.n; k++) {
            breq *r = &reqs[docs[i].first + k];
            r->ctx = docs[i].q.contexts[k];
            r->cont = docs[i].q.continuations[k];
            r->doc = i;
            if (rolling) store_rolling_hash(r->ctx, r->hash);
            else store_request_hash(r->ctx, r->cont, r->hash);
        }
    /* Distinct requests: equal hashes share one result. */
    order = cj_xmalloc(sizeof *order * (size_t)nreq);
    for (int i = 0; i < nreq; i++) order[i] = i;
    qsort_r(order, (size_t)nreq, sizeof *order, cmp_req_hash, reqs);
    u = cj_xmalloc(sizeof *u * (size_t)nreq);
    for (int k = 0; k < nreq; k++) {
        int i = order[k];
        if (k == 0 || strcmp(reqs[i].hash, reqs[order[k - 1]].hash)) {
            u[nu] = (buniq){.req = i};
            int found;
            if (store_cache_get(c->s, c->model_key, reqs[i].hash, &u[nu].res, &found, e)) goto out;
            u[nu].cached = found;
            nu++;
        }
        reqs[i].uniq = nu - 1;
    }
    long computed0 = c->res->requests_computed;
    if (compute(c, rolling, docs, reqs, u, nu, e)) goto out;
    long computed = c->res->requests_computed - computed0, cached = nu - computed;
    kill_point();
    if (store_begin(c->s, e)) goto out;
    for (int i = 0; i < n; i++)
        if (write_doc(c, &docs[i], reqs, u, e)) goto rollback;
    kill_point();
    for (int i = 0; i < nu; i++)
        if (!u[i].cached && store_cache_put(c->s, c->model_key, reqs[u[i].req].hash, &u[i].res, e)) goto rollback;
    if (store_run_add_requests(c->s, c->run_id, cached, computed, e)) goto rollback;
    if (store_commit(c->s, e)) goto out;
    kill_point();
    c->res->requests_cached += cached;
    rc = 0;
    goto out;
rollback:
    store_rollback(c->s);
out:
    for (int i = 0; i < built; i++) task_request_free(&docs[i].q);
    free(docs);
    free(reqs);
    free(u);
    free(order);
    return rc;
}

/* --- metrics --------------------------------------------------------------------- */

/* One (task, metric) result, kept for the group aggregation. */
typedef struct {
    const char *task, *metric;
    double value, se;
    int n;
} mres;

/* Results of one metric computation pass: stored as they come, and kept
 * for the group aggregation. */
typedef struct {
    store *s;
    int64_t run_id;
    mres *v;
    int n, cap;
    uint64_t seed;
    int iters;          /* bootstrap resamples */
    double threshold;   /* confident_error_rate */
    cj_err *e;
} mctx;

static int put_res(mctx *m, const char *task, const char *kind, const char *metric, double v, double se, int n) {
    if (store_put_metric(m->s, m->run_id, task, kind, metric, v, se, n, m->e)) return -1;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->v = cj_xrealloc(m->v, sizeof *m->v * (size_t)m->cap);
    }
    m->v[m->n++] = (mres){task, metric, v, se, n};
    return 0;
}

/* Metric names of the reliability bins, as reports/report.c reads them. */
#define BIN_NAMES(i) {"ece_bin_" #i "_n", "ece_bin_" #i "_conf", "ece_bin_" #i "_acc"}
static const char *const ECE_BINS[CALIB_NBINS][3] = {BIN_NAMES(0), BIN_NAMES(1), BIN_NAMES(2), BIN_NAMES(3),
                                                      BIN_NAMES(4), BIN_NAMES(5), BIN_NAMES(6), BIN_NAMES(7),
                                                      BIN_NAMES(8), BIN_NAMES(9)};

static int is_bin_metric(const char *m) { return !strncmp(m, "ece_bin_", 8); }

/* Per-doc means that a group aggregates as a size-weighted mean. */
static int is_mean_metric(const char *m) {
    return score_is_mc_metric(m) || score_is_gen_metric(m) || !strcmp(m, "confident_error_rate") ||
           !strcmp(m, "brier") || !strcmp(m, "abstain_rate") || !strcmp(m, "hallucination_rate");
}

typedef struct {
    task *t;
    int rolling;
    double threshold;
    /* current doc */
    char *doc;
    int target;
    score_choice *ch;
    int *labels;
    int nch, cap, all_labels;
    long words; /* rolling docs: words of the text */
    /* per metric values, one per doc (multiple choice) */
    double **vals;
    score_rolling *rd;
    calib_doc *cd; /* per doc; valid while calib is 1 */
    int calib;     /* every doc so far has a gold index and a probability for each choice */
    int ndocs, dcap;
    cj_err *e;
    int failed;
} macc;

static int flush_doc(macc *a) {
    if (!a->doc) return 0;
    if (a->ndocs == a->dcap) {
        a->dcap = a->dcap ? a->dcap * 2 : 64;
        a->rd = cj_xrealloc(a->rd, sizeof *a->rd * (size_t)a->dcap);
        a->cd = cj_xrealloc(a->cd, sizeof *a->cd * (size_t)a->dcap);
        for (int m = 0; m < task_n_metrics(a->t); m++)
            a->vals[m] = cj_xrealloc(a->vals[m], sizeof **a->vals * (size_t)a->dcap);
    }
    if (a->rolling) {
        a->rd[a->ndocs] = (score_rolling){a->ch[0].logprob, a->ch[0].n_tokens, a->words, a->ch[0].n_bytes};
    } else {
        score_mc s;
        score_mc_doc(a->ch, a->nch, a->target, a->all_labels ? a->labels : NULL, &s);
        for (int m = 0; m < task_n_metrics(a->t); m++) {
            double v;
            const char *metric = task_metric(a->t, m);
            if (score_mc_metric(&s, metric, &v) || isnan(v))
                return cj_fail(a->e, "task %s doc %s: no value for %s (missing gold or labels)", task_name(a->t),
                               a->doc, metric);
            a->vals[m][a->ndocs] = v;
        }
        /* Calibration needs one gold choice (not mc2's several true ones)
         * and the softmax of the choices' log-likelihoods. */
        int n_true = 0;
        for (int i = 0; a->all_labels && i < a->nch; i++) n_true += a->labels[i] == 1;
        if (a->all_labels && n_true != 1) a->calib = 0;
        if (a->calib) {
            double *ll = cj_xmalloc(sizeof *ll * (size_t)a->nch), *p = cj_xmalloc(sizeof *p * (size_t)a->nch);
            cj_err ignored;
            for (int i = 0; i < a->nch; i++) ll[i] = a->ch[i].logprob;
            a->calib = a->target >= 0 && a->nch >= 2 && !calib_softmax(ll, a->nch, p, &ignored) &&
                       !calib_doc_score(p, a->nch, a->target, a->threshold, &a->cd[a->ndocs], &ignored);
            free(ll);
            free(p);
        }
    }
    a->ndocs++;
    free(a->doc);
    a->doc = NULL;
    a->nch = 0;
    return 0;
}

static int choice_cb(const store_choice_row *row, void *ctx) {
    macc *a = ctx;
    if (!a->doc || strcmp(a->doc, row->doc_id)) {
        if (flush_doc(a)) return a->failed = 1;
        a->doc = cj_xstrdup(row->doc_id);
        a->target = row->target;
        a->all_labels = 1;
    }
    if (row->choice_idx != a->nch) {
        cj_fail(a->e, "task %s doc %s: choices are not numbered 0..n-1", task_name(a->t), row->doc_id);
        return a->failed = 1;
    }
    if (a->nch == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->ch = cj_xrealloc(a->ch, sizeof *a->ch * (size_t)a->cap);
        a->labels = cj_xrealloc(a->labels, sizeof *a->labels * (size_t)a->cap);
    }
    a->ch[a->nch] = (score_choice){row->logprob, row->n_tokens, row->n_chars, row->n_bytes, row->is_greedy};
    a->labels[a->nch] = row->label;
    a->words = row->n_words;
    if (row->label < 0) a->all_labels = 0;
    a->nch++;
    return 0;
}

typedef struct {
    const score_rolling *docs;
    const char *metric;
} boot_ctx;

static double boot_rolling(const int *idx, int n, void *ctx) {
    const boot_ctx *b = ctx;
    double v = NAN;
    score_rolling_metric(b->docs, idx, n, b->metric, &v);
    return v;
}

static double boot_ece(const int *idx, int n, void *ctx) { return calib_ece(ctx, idx, n); }

static int min_iters(int iters) { return iters < RUN_CALIB_BOOTSTRAP ? iters : RUN_CALIB_BOOTSTRAP; }

/* confident_error_rate, brier, ece and the reliability bins of a task. */
static int calib_metrics(mctx *m, const char *name, const calib_doc *cd, int n) {
    double *ce = cj_xmalloc(sizeof *ce * (size_t)n), *br = cj_xmalloc(sizeof *br * (size_t)n);
    for (int i = 0; i < n; i++) {
        ce[i] = cd[i].confident_error;
        br[i] = cd[i].brier;
    }
    calib_summary sum;
    calib_summarize(cd, NULL, n, &sum);
    double ece_se = stats_bootstrap_stderr(boot_ece, (void *)cd, n, min_iters(m->iters), m->seed);
    int rc = put_res(m, name, "task", "confident_error_rate", sum.confident_error_rate, stats_stderr(ce, n), n) ||
             put_res(m, name, "task", "brier", sum.brier, stats_stderr(br, n), n) ||
             put_res(m, name, "task", "ece", sum.ece, ece_se, n);
    for (int b = 0; b < CALIB_NBINS && !rc; b++) {
        const calib_bin *x = &sum.bins[b];
        rc = put_res(m, name, "task", ECE_BINS[b][0], x->count, NAN, x->count) ||
             put_res(m, name, "task", ECE_BINS[b][1], x->conf_mean, NAN, x->count) ||
             put_res(m, name, "task", ECE_BINS[b][2], x->acc, NAN, x->count);
    }
    free(ce);
    free(br);
    return rc;
}

static int task_metrics(mctx *m, task *t) {
    int nm = task_n_metrics(t);
    macc a = {.t = t, .rolling = task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING, .threshold = m->threshold,
              .calib = task_output_type(t) == TASK_MULTIPLE_CHOICE, .e = m->e};
    a.vals = cj_xcalloc((size_t)(nm ? nm : 1), sizeof *a.vals);
    int rc = store_choices_each(m->s, m->run_id, task_name(t), choice_cb, &a, m->e);
    if (!rc && a.failed) rc = -1;
    if (!rc) rc = flush_doc(&a);
    for (int k = 0; k < nm && !rc && a.ndocs > 0; k++) {
        const char *metric = task_metric(t, k);
        double v, se;
        if (a.rolling) {
            if (score_rolling_metric(a.rd, NULL, a.ndocs, metric, &v)) {
                rc = cj_fail(m->e, "task %s: unknown metric %s", task_name(t), metric);
                break;
            }
            boot_ctx b = {a.rd, metric};
            se = stats_bootstrap_stderr(boot_rolling, &b, a.ndocs, m->iters, m->seed);
        } else {
            v = stats_mean(a.vals[k], a.ndocs);
            se = stats_stderr(a.vals[k], a.ndocs);
        }
        rc = put_res(m, task_name(t), "task", metric, v, se, a.ndocs);
    }
    if (!rc && a.calib && a.ndocs > 0) rc = calib_metrics(m, task_name(t), a.cd, a.ndocs);
    free(a.doc);
    free(a.ch);
    free(a.labels);
    for (int k = 0; k < nm; k++) free(a.vals[k]);
    free(a.vals);
    free(a.rd);
    free(a.cd);
    return rc;
}

/* A generation task's stored per-doc scores, gathered for the means. */
typedef struct {
    task *t;
    double **vals; /* [metric][doc], NAN where a doc has none */
    int *abstained, *correct;
    int n, cap;
    cj_err *e;
    int failed;
} gacc;

static int gen_cb(const store_generation *g, void *ctx) {
    gacc *a = ctx;
    int nm = task_n_metrics(a->t);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        for (int k = 0; k < nm; k++) a->vals[k] = cj_xrealloc(a->vals[k], sizeof **a->vals * (size_t)a->cap);
        a->abstained = cj_xrealloc(a->abstained, sizeof *a->abstained * (size_t)a->cap);
        a->correct = cj_xrealloc(a->correct, sizeof *a->correct * (size_t)a->cap);
    }
    json_error_t je;
    json_t *sc = g->scores ? json_loads(g->scores, 0, &je) : NULL;
    if (g->scores && !json_is_object(sc)) {
        json_decref(sc);
        cj_fail(a->e, "task %s doc %s: stored scores are not a JSON object", task_name(a->t), g->doc_id);
        return a->failed = 1;
    }
    for (int k = 0; k < nm; k++) {
        json_t *v = sc ? json_object_get(sc, task_metric(a->t, k)) : NULL;
        a->vals[k][a->n] = json_is_number(v) ? json_number_value(v) : NAN;
    }
    json_decref(sc);
    a->abstained[a->n] = g->abstained;
    a->correct[a->n] = g->correct;
    a->n++;
    return 0;
}

typedef struct {
    const int *abstained, *correct;
} hall_ctx;

static double boot_hall(const int *idx, int n, void *ctx) {
    const hall_ctx *h = ctx;
    calib_abstention r;
    calib_abstention_rates(h->abstained, h->correct, idx, n, &r);
    return r.hallucination_rate;
}

/* Means of the per-doc scores (over the docs that have one), then
 * abstain_rate and hallucination_rate when the task marks abstentions. */
static int gen_metrics(mctx *m, task *t) {
    int nm = task_n_metrics(t), rc = 0;
    gacc a = {.t = t, .e = m->e};
    a.vals = cj_xcalloc((size_t)(nm ? nm : 1), sizeof *a.vals);
    rc = store_generations_each(m->s, m->run_id, task_name(t), gen_cb, &a, m->e);
    if (!rc && a.failed) rc = -1;
    double *x = cj_xmalloc(sizeof *x * (size_t)(a.n ? a.n : 1));
    for (int k = 0; k < nm && !rc && a.n > 0; k++) {
        int n = 0;
        for (int i = 0; i < a.n; i++)
            if (!isnan(a.vals[k][i])) x[n++] = a.vals[k][i];
        rc = put_res(m, task_name(t), "task", task_metric(t, k), n ? stats_mean(x, n) : NAN,
                     n ? stats_stderr(x, n) : NAN, n);
    }
    const task_gen_opts *g = task_gen(t);
    if (!rc && a.n > 0 && g->n_abstention) {
        /* docs with an abstention flag; for the hallucination rate also a
         * correctness verdict unless they abstained */
        int *ab = cj_xmalloc(sizeof *ab * (size_t)a.n), *co = cj_xmalloc(sizeof *co * (size_t)a.n), n = 0, nh = 0;
        for (int i = 0; i < a.n; i++)
            if (a.abstained[i] >= 0) x[n++] = a.abstained[i];
        for (int i = 0; i < a.n; i++)
            if (a.abstained[i] == 1 || (a.abstained[i] == 0 && a.correct[i] >= 0)) {
                ab[nh] = a.abstained[i];
                co[nh++] = a.correct[i] > 0;
            }
        rc = put_res(m, task_name(t), "task", "abstain_rate", n ? stats_mean(x, n) : NAN, n ? stats_stderr(x, n) : NAN,
                     n);
        if (!rc && g->correct_metric) {
            calib_abstention r;
            calib_abstention_rates(ab, co, NULL, nh, &r);
            hall_ctx h = {ab, co};
            double se = stats_bootstrap_stderr(boot_hall, &h, nh, min_iters(m->iters), m->seed);
            rc = put_res(m, task_name(t), "task", "hallucination_rate", r.hallucination_rate, se,
                         nh - r.n_abstained);
        }
        free(ab);
        free(co);
    }
    free(x);
    for (int k = 0; k < nm; k++) free(a.vals[k]);
    free(a.vals);
    free(a.abstained);
    free(a.correct);
    return rc;
}

/* Leaf task names under group g (recursively), deduplicated. */
static void group_leaves(const task_registry *reg, const task_group *g, const char ***out, int *n, int depth) {
    if (depth > 32) return; /* a cycle in the definitions; task_registry_load should refuse those */
    for (int i = 0; i < g->n_members; i++) {
        const char *m = g->members[i];
        const task_group *sub = task_find_group(reg, m);
        if (sub) {
            group_leaves(reg, sub, out, n, depth + 1);
            continue;
        }
        int dup = 0;
        for (int k = 0; k < *n && !dup; k++) dup = !strcmp((*out)[k], m);
        if (dup) continue;
        *out = cj_xrealloc((void *)*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = m;
    }
}

static const mres *find_res(const mres *r, int n, const char *task, const char *metric) {
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].task, task) && !strcmp(r[i].metric, metric)) return &r[i];
    return NULL;
}

/* A group's ECE and bins from its leaves' bins: the bins pool exactly (a
 * bin's count, summed confidence and summed correctness add up), so the
 * group's ECE is that of all its docs together. No stderr. */
static int group_ece(mctx *m, const char *group, const char *const *leaves, int nl) {
    double cnt[CALIB_NBINS] = {0}, conf[CALIB_NBINS] = {0}, acc[CALIB_NBINS] = {0}, N = 0;
    for (int i = 0; i < nl; i++) {
        if (!find_res(m->v, m->n, leaves[i], "ece")) return 0; /* a leaf without calibration */
        for (int b = 0; b < CALIB_NBINS; b++) {
            const mres *n = find_res(m->v, m->n, leaves[i], ECE_BINS[b][0]);
            const mres *c = find_res(m->v, m->n, leaves[i], ECE_BINS[b][1]);
            const mres *a = find_res(m->v, m->n, leaves[i], ECE_BINS[b][2]);
            if (!n || !c || !a) return 0;
            if (!(n->value > 0)) continue;
            cnt[b] += n->value;
            conf[b] += n->value * c->value;
            acc[b] += n->value * a->value;
            N += n->value;
        }
    }
    if (N <= 0) return 0;
    double ece = 0;
    int rc = 0;
    for (int b = 0; b < CALIB_NBINS && !rc; b++) {
        double c = cnt[b] > 0 ? conf[b] / cnt[b] : NAN, a = cnt[b] > 0 ? acc[b] / cnt[b] : NAN;
        if (cnt[b] > 0) ece += cnt[b] / N * fabs(a - c);
        rc = put_res(m, group, "group", ECE_BINS[b][0], cnt[b], NAN, (int)cnt[b]) ||
             put_res(m, group, "group", ECE_BINS[b][1], c, NAN, (int)cnt[b]) ||
             put_res(m, group, "group", ECE_BINS[b][2], a, NAN, (int)cnt[b]);
    }
    return rc || put_res(m, group, "group", "ece", ece, NAN, (int)N);
}

/* A group's value for each per-doc-mean metric that all its leaves in this
 * run report: size-weighted mean over the leaves, pooled stderr (lm-eval
 * aggregates over the leaf tasks, not over intermediate groups); its ECE
 * from the pooled bins. */
static int group_metrics(mctx *m, task_registry *reg, const task_group *g) {
    const mres *r = m->v;
    int nr = m->n;
    const char **leaves = NULL;
    int nl = 0, rc = 0;
    group_leaves(reg, g, &leaves, &nl, 0);
    /* keep the leaves this run scored */
    int k = 0;
    for (int i = 0; i < nl; i++) {
        int scored = 0;
        for (int j = 0; j < nr && !scored; j++) scored = !strcmp(r[j].task, leaves[i]);
        if (scored) leaves[k++] = leaves[i];
    }
    nl = k;
    double *v = cj_xmalloc(sizeof *v * (size_t)(nl ? nl : 1)), *se = cj_xmalloc(sizeof *se * (size_t)(nl ? nl : 1));
    int *sz = cj_xmalloc(sizeof *sz * (size_t)(nl ? nl : 1));
    /* m->v grows as group rows are added: walk the leaf rows that exist now */
    for (int j = 0; j < nr && nl && !rc; j++) {
        if (strcmp(m->v[j].task, leaves[0]) || !is_mean_metric(m->v[j].metric)) continue;
        const char *metric = m->v[j].metric;
        int all = 1;
        for (int i = 0; i < nl && all; i++) {
            const mres *x = find_res(m->v, nr, leaves[i], metric);
            if (!x) all = 0;
            else {
                v[i] = x->value;
                se[i] = x->se;
                sz[i] = x->n;
            }
        }
        if (!all) continue;
        double gv, gse;
        int N;
        stats_group(v, se, sz, nl, &gv, &gse, &N);
        rc = put_res(m, g->name, "group", metric, gv, gse, N);
    }
    if (!rc && nl) rc = group_ece(m, g->name, leaves, nl);
    free(v);
    free(se);
    free(sz);
    free((void *)leaves);
    return rc;
}

int run_compute_metrics(store *s, int64_t run_id, task_registry *reg, task *const *tasks, int n_tasks,
                        const task_group *const *groups, int n_groups, uint64_t seed, int bootstrap_iters,
                        double confidence_threshold, cj_err *e) {
    mctx m = {s, run_id, NULL, 0, 0, seed, bootstrap_iters, confidence_threshold, e};
    int rc = 0;
    if (store_begin(s, e)) return -1;
    for (int i = 0; i < n_tasks && !rc; i++)
        rc = task_output_type(tasks[i]) == TASK_GENERATE_UNTIL ? gen_metrics(&m, tasks[i]) : task_metrics(&m, tasks[i]);
    for (int i = 0; i < n_groups && !rc; i++) rc = group_metrics(&m, reg, groups[i]);
    free(m.v);
    if (rc) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, e);
}

/* --- latency -------------------------------------------------------------------------- */

int64_t run_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss <= 0) return -1;
    return (int64_t)ru.ru_maxrss * 1024; /* Linux reports kilobytes */
}

typedef struct {
    double *wall, *ttft;
    int n, nt, cap;
    store_latency_summary sum;
} lacc;

static int lat_cb(const store_latency *l, void *ctx) {
    lacc *a = ctx;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->wall = cj_xrealloc(a->wall, sizeof *a->wall * (size_t)a->cap);
        a->ttft = cj_xrealloc(a->ttft, sizeof *a->ttft * (size_t)a->cap);
    }
    store_latency_summary *s = &a->sum;
    if (!isnan(l->wall_s)) {
        a->wall[a->n++] = l->wall_s;
        s->wall_s += l->wall_s;
    }
    s->docs++;
    /* rates over the rows whose split is known, so that tokens/s x seconds
     * gives back the summed tokens */
    if (!isnan(l->prefill_s)) {
        s->prefill_tokens += l->prefill_tokens;
        s->prefill_s += l->prefill_s;
    }
    if (!isnan(l->decode_s)) {
        s->decode_tokens += l->decode_tokens;
        s->decode_s += l->decode_s;
    }
    if (!isnan(l->ttft_s)) a->ttft[a->nt++] = l->ttft_s;
    return 0;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted x[0..n), linear between closest ranks (numpy's default). */
static double quantile(const double *x, int n, double q) {
    if (n == 0) return NAN;
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return x[n - 1];
    return x[i] + (pos - i) * (x[i + 1] - x[i]);
}

static int summarize_latency(store *s, int64_t run_id, const char *task, int64_t peak_rss, cj_err *e) {
    lacc a = {0};
    a.sum.task = task ? task : STORE_ALL_TASKS;
    int rc = store_latency_each(s, run_id, task, lat_cb, &a, e);
    if (!rc && a.sum.docs > 0) {
        store_latency_summary *l = &a.sum;
        qsort(a.wall, (size_t)a.n, sizeof *a.wall, cmp_dbl);
        qsort(a.ttft, (size_t)a.nt, sizeof *a.ttft, cmp_dbl);
        l->prefill_tok_s = l->prefill_s > 0 ? l->prefill_tokens / l->prefill_s : NAN;
        l->decode_tok_s = l->decode_s > 0 ? l->decode_tokens / l->decode_s : NAN;
        l->ttft_mean_s = a.nt ? stats_mean(a.ttft, a.nt) : NAN;
        l->ttft_p95_s = quantile(a.ttft, a.nt, 0.95);
        l->p50_s = quantile(a.wall, a.n, 0.50);
        l->p95_s = quantile(a.wall, a.n, 0.95);
        l->p99_s = quantile(a.wall, a.n, 0.99);
        l->docs_per_s = l->wall_s > 0 ? l->docs / l->wall_s : NAN;
        l->peak_rss_bytes = peak_rss;
        rc = store_put_latency_summary(s, run_id, l, e);
    }
    free(a.wall);
    free(a.ttft);
    return rc;
}

static int old_peak_cb(const store_latency_summary *l, void *ctx) {
    if (!strcmp(l->task, STORE_ALL_TASKS) && l->peak_rss_bytes > *(int64_t *)ctx) *(int64_t *)ctx = l->peak_rss_bytes;
    return 0;
}

int run_compute_latency(store *s, int64_t run_id, task *const *tasks, int n_tasks, cj_err *e) {
    int64_t peak = run_peak_rss_bytes();
    if (store_begin(s, e)) return -1;
    int rc = store_latency_summaries_each(s, run_id, old_peak_cb, &peak, e);
    for (int i = 0; i < n_tasks && !rc; i++) rc = summarize_latency(s, run_id, task_name(tasks[i]), -1, e);
    if (!rc) rc = summarize_latency(s, run_id, NULL, peak, e);
    if (rc) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, e);
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

typedef struct {
    int *idx; /* docs still to score */
    int n;
} todo;

static int stop_requested(const run_opts *o) { return o->stop && *o->stop; }

int run_execute(runner *r, task_registry *reg, store *s, const run_opts *o, run_result *res, cj_err *e) {
    memset(res, 0, sizeof *res);
    task **tasks = NULL;
    const task_group **groups = NULL;
    int nt = 0, ng = 0, rc = -1;
    todo *work = NULL;
    run_ident id = {0};
    if (o->batch < 1) return cj_fail(e, "batch must be at least 1, not %d", o->batch);
    if (task_select(reg, o->tasks, &tasks, &nt, &groups, &ng, e)) return -1;
    if (nt == 0) {
        cj_fail(e, "'%s' selects no tasks", o->tasks);
        goto out;
    }
    if (check_tasks(tasks, nt, e)) goto out;
    for (int i = 0; i < nt; i++)
        if (task_load_data(tasks[i], o->data_dir, e)) goto out;

    const runner_info *info = runner_get_info(r);
    char host[256];
    host_name(host, sizeof host);
    make_ident(info, o, tasks, nt, groups, ng, &id);
    if (open_run(s, info, o, &id, host, res, e)) goto out;
    run_ctx c = {r, s, o, res->run_id, id.model_key, res};

    /* What is left to do: the sample minus what an earlier session stored. */
    work = cj_xcalloc((size_t)nt, sizeof *work);
    long pending = 0;
    for (int i = 0; i < nt; i++) {
        int n = task_n_docs(tasks[i]);
        int *all = cj_xmalloc(sizeof *all * (size_t)(n ? n : 1));
        int k = run_sample_docs(n, o->limit, o->seed, all);
        strset done = {0};
        if (store_doc_ids_each(s, res->run_id, task_name(tasks[i]), strset_add_cb, &done, e)) {
            free(all);
            goto fail_run;
        }
        if (done.n) qsort(done.v, (size_t)done.n, sizeof *done.v, cmp_str);
        work[i].idx = all;
        for (int j = 0; j < k; j++)
            if (!strset_has(&done, task_doc_id(tasks[i], all[j]))) all[work[i].n++] = all[j];
        res->docs += k;
        res->docs_skipped += k - work[i].n;
        pending += work[i].n;
        strset_free(&done);
    }
    if (o->log && res->resumed)
        fprintf(o->log, "resuming run %lld: %ld of %ld docs already stored\n", (long long)res->run_id,
                res->docs_skipped, res->docs);

    progress pg;
    progress_start(&pg, o->progress, pending);
    long done = 0;
    for (int i = 0; i < nt && !stop_requested(o); i++) {
        for (int j = 0; j < work[i].n && !stop_requested(o); j += o->batch) {
            int n = work[i].n - j < o->batch ? work[i].n - j : o->batch;
            if (run_batch(&c, tasks[i], work[i].idx + j, n, e)) {
                progress_finish(&pg);
                goto fail_run;
            }
            done += n;
            progress_update(&pg, done, task_name(tasks[i]));
        }
    }
    progress_finish(&pg);
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
    kill_point();
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

/* --- formatting ----------------------------------------------------------------------- */

typedef struct {
    store_metric_row *v;
    int n, cap;
} mrows;

static int collect_metric(const store_metric_row *m, void *ctx) {
    mrows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->v = cj_xrealloc(r->v, sizeof *r->v * (size_t)r->cap);
    }
    store_metric_row x = *m;
    x.task = cj_xstrdup(m->task);
    x.kind = cj_xstrdup(m->kind);
    x.metric = cj_xstrdup(m->metric);
    r->v[r->n++] = x;
    return 0;
}

typedef struct {
    store_latency_summary *v;
    int n, cap;
} lrows;

static int collect_latency(const store_latency_summary *l, void *ctx) {
    lrows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = cj_xrealloc(r->v, sizeof *r->v * (size_t)r->cap);
    }
    r->v[r->n] = *l;
    r->v[r->n++].task = cj_xstrdup(l->task);
    return 0;
}

static void fmt_num(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.4f", v);
}

static void csv_field(sb *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        sb_puts(out, s);
        return;
    }
    sb_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"') sb_putc(out, '"');
        sb_putc(out, *s);
    }
    sb_putc(out, '"');
}

/* The hallucination and calibration section: TruthfulQA (mc1 is
 * truthfulqa_mc1's acc), abstention and the calibration metrics. */
static int is_hallucination_row(const store_metric_row *m) {
    return !strncmp(m->task, "truthfulqa", 10) || !strcmp(m->metric, "abstain_rate") ||
           !strcmp(m->metric, "hallucination_rate") || !strcmp(m->metric, "confident_error_rate") ||
           !strcmp(m->metric, "brier") || !strcmp(m->metric, "ece");
}

/* A task's headline number for the latency table. */
static const store_metric_row *main_score(const mrows *r, const char *task) {
    static const char *const PREF[] = {"acc", "exact_match", "mc2", "bleu_acc", "acc_norm", "f1", "word_perplexity",
                                       "token_perplexity"};
    for (size_t k = 0; k < sizeof PREF / sizeof PREF[0]; k++)
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->v[i].task, task) && !strcmp(r->v[i].metric, PREF[k])) return &r->v[i];
    return NULL;
}

/* Rows of one section as an aligned table (fmt 0) or Markdown (fmt 1). */
static void metric_table(sb *out, int fmt, const mrows *r, int hallucination) {
    int wt = 4, wm = 6, any = 0;
    for (int i = 0; i < r->n; i++) {
        const store_metric_row *m = &r->v[i];
        if (is_bin_metric(m->metric) || is_hallucination_row(m) != hallucination) continue;
        any = 1;
        int lt = (int)strlen(m->task) + (strcmp(m->kind, "group") ? 0 : 8);
        if (lt > wt) wt = lt;
        if ((int)strlen(m->metric) > wm) wm = (int)strlen(m->metric);
    }
    if (!any) return;
    if (hallucination) sb_puts(out, fmt == 1 ? "\n### Hallucination and calibration\n\n" : "\nhallucination and calibration\n");
    if (fmt == 0) sb_printf(out, "%-*s  %-*s  %8s    %-8s  %6s\n", wt, "task", wm, "metric", "value", "stderr", "n");
    if (fmt == 1) sb_puts(out, "| task | kind | metric | value | stderr | n |\n|---|---|---|---:|---:|---:|\n");
    for (int i = 0; i < r->n; i++) {
        const store_metric_row *m = &r->v[i];
        if (is_bin_metric(m->metric) || is_hallucination_row(m) != hallucination) continue;
        char v[32], se[32];
        fmt_num(v, sizeof v, m->value);
        fmt_num(se, sizeof se, m->stderr_);
        if (fmt == 0) {
            sb tn;
            sb_init(&tn);
            sb_printf(&tn, "%s%s", m->task, strcmp(m->kind, "group") ? "" : " (group)");
            sb_printf(out, "%-*s  %-*s  %8s  ± %-8s  %6d\n", wt, tn.s, wm, m->metric, v, se, m->n);
            sb_free(&tn);
        } else {
            sb_printf(out, "| %s | %s | %s | %s | %s | %d |\n", m->task, m->kind, m->metric, v, se, m->n);
        }
    }
}

/* A cell: "-" for an undefined value. */
static void cell(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fmt, v);
}

static void latency_table(sb *out, int fmt, const mrows *r, const lrows *l) {
    static const char *const H[] = {"task", "score", "docs", "prefill tok", "decode tok", "wall s", "prefill tok/s",
                                    "decode tok/s", "ttft ms", "p50 ms", "p95 ms", "p99 ms", "docs/s"};
    enum { NC = sizeof H / sizeof H[0] };
    if (!l->n) return;
    char (*c)[NC][96] = cj_xcalloc((size_t)l->n, sizeof *c);
    int w[NC];
    for (int k = 0; k < NC; k++) w[k] = (int)strlen(H[k]);
    double peak = NAN;
    for (int i = 0; i < l->n; i++) {
        const store_latency_summary *x = &l->v[i];
        const store_metric_row *m = main_score(r, x->task);
        snprintf(c[i][0], 96, "%s", x->task);
        if (m && !isnan(m->value)) snprintf(c[i][1], 96, "%s %.4f", m->metric, m->value);
        else snprintf(c[i][1], 96, "-");
        snprintf(c[i][2], 96, "%d", x->docs);
        snprintf(c[i][3], 96, "%lld", (long long)x->prefill_tokens);
        snprintf(c[i][4], 96, "%lld", (long long)x->decode_tokens);
        cell(c[i][5], 96, "%.3f", x->wall_s);
        cell(c[i][6], 96, "%.1f", x->prefill_tok_s);
        cell(c[i][7], 96, "%.1f", x->decode_tok_s);
        cell(c[i][8], 96, "%.2f", 1000 * x->ttft_mean_s);
        cell(c[i][9], 96, "%.2f", 1000 * x->p50_s);
        cell(c[i][10], 96, "%.2f", 1000 * x->p95_s);
        cell(c[i][11], 96, "%.2f", 1000 * x->p99_s);
        cell(c[i][12], 96, "%.2f", x->docs_per_s);
        if (x->peak_rss_bytes > 0) peak = (double)x->peak_rss_bytes;
        for (int k = 0; k < NC; k++)
            if ((int)strlen(c[i][k]) > w[k]) w[k] = (int)strlen(c[i][k]);
    }
    sb_puts(out, fmt == 1 ? "\n### Latency and cost\n\n" : "\nlatency and cost (runner time per doc; ttft: time to first token)\n");
    for (int k = 0; k < NC; k++) {
        if (fmt == 1) sb_printf(out, "| %s ", H[k]);
        else sb_printf(out, k < 2 ? "%s%-*s" : "%s%*s", k ? "  " : "", w[k], H[k]);
    }
    sb_puts(out, fmt == 1 ? "|\n|---|---|" : "\n");
    if (fmt == 1)
        for (int k = 2; k < NC; k++) sb_puts(out, "---:|");
    if (fmt == 1) sb_putc(out, '\n');
    for (int i = 0; i < l->n; i++) {
        for (int k = 0; k < NC; k++) {
            if (fmt == 1) sb_printf(out, "| %s ", c[i][k]);
            else sb_printf(out, k < 2 ? "%s%-*s" : "%s%*s", k ? "  " : "", w[k], c[i][k]);
        }
        sb_puts(out, fmt == 1 ? "|\n" : "\n");
    }
    if (!isnan(peak)) sb_printf(out, "%speak resident memory: %.1f MiB\n", fmt == 1 ? "\n" : "", peak / (1024.0 * 1024.0));
    free(c);
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

int run_format_metrics(store *s, int64_t run_id, const char *format, sb *out, cj_err *e) {
    int fmt = !strcmp(format, "table") ? 0 : !strcmp(format, "md") ? 1 : !strcmp(format, "csv") ? 2
            : !strcmp(format, "json") ? 3 : -1;
    if (fmt < 0) return cj_fail(e, "unknown format '%s' (table, md, csv or json)", format);
    mrows r = {0};
    lrows l = {0};
    int rc = store_metrics_each(s, run_id, collect_metric, &r, e);
    if (!rc && fmt != 2) rc = store_latency_summaries_each(s, run_id, collect_latency, &l, e);
    if (rc) goto out;
    if (fmt == 3) {
        json_t *arr = json_array(), *lat = json_array();
        for (int i = 0; i < r.n; i++) {
            const store_metric_row *m = &r.v[i];
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:i}", "task", m->task, "kind", m->kind,
                                                 "metric", m->metric, "value", num_or_null(m->value), "stderr",
                                                 num_or_null(m->stderr_), "n", m->n));
        }
        for (int i = 0; i < l.n; i++) {
            const store_latency_summary *x = &l.v[i];
            json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                                  "task", x->task, "docs", x->docs, "prefill_tokens", (json_int_t)x->prefill_tokens,
                                  "decode_tokens", (json_int_t)x->decode_tokens, "wall_s", num_or_null(x->wall_s),
                                  "prefill_s", num_or_null(x->prefill_s), "decode_s", num_or_null(x->decode_s),
                                  "prefill_tok_s", num_or_null(x->prefill_tok_s), "decode_tok_s",
                                  num_or_null(x->decode_tok_s), "ttft_mean_s", num_or_null(x->ttft_mean_s),
                                  "ttft_p95_s", num_or_null(x->ttft_p95_s), "p50_s", num_or_null(x->p50_s), "p95_s",
                                  num_or_null(x->p95_s), "p99_s", num_or_null(x->p99_s), "docs_per_s",
                                  num_or_null(x->docs_per_s));
            if (!o) abort();
            json_object_set_new(o, "peak_rss_bytes",
                                x->peak_rss_bytes >= 0 ? json_integer((json_int_t)x->peak_rss_bytes) : json_null());
            json_array_append_new(lat, o);
        }
        json_t *doc = json_pack("{s:I, s:o, s:o}", "run_id", (json_int_t)run_id, "metrics", arr, "latency", lat);
        char *txt = dump(doc, JSON_INDENT(2));
        sb_puts(out, txt);
        sb_putc(out, '\n');
        free(txt);
        json_decref(doc);
    } else if (fmt == 2) {
        sb_puts(out, "task,kind,metric,value,stderr,n\n");
        for (int i = 0; i < r.n; i++) {
            const store_metric_row *m = &r.v[i];
            csv_field(out, m->task);
            sb_printf(out, ",%s,", m->kind);
            csv_field(out, m->metric);
            if (isnan(m->value)) sb_puts(out, ",");
            else sb_printf(out, ",%.17g", m->value);
            if (isnan(m->stderr_)) sb_puts(out, ",");
            else sb_printf(out, ",%.17g", m->stderr_);
            sb_printf(out, ",%d\n", m->n);
        }
    } else {
        metric_table(out, fmt, &r, 0);
        metric_table(out, fmt, &r, 1);
        latency_table(out, fmt, &r, &l);
    }
out:
    for (int i = 0; i < r.n; i++) {
        free((void *)r.v[i].task);
        free((void *)r.v[i].kind);
        free((void *)r.v[i].metric);
    }
    free(r.v);
    for (int i = 0; i < l.n; i++) free((void *)l.v[i].task);
    free(l.v);
    return rc;
}
