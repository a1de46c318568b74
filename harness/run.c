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
