/* run_score — one batch of a multiple-choice or rolling task: its requests,
 * the distinct ones answered from the request cache or the runner's
 * log-likelihoods, and the doc, choice and latency rows written in one
 * transaction. Apart from run.c so that the pipeline reads as a plan, and
 * from run_gen.c because scoring and generating share no batch code. */
#include "run_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sha256.h"
#include "../metrics/score.h"

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

void run_prompt_hash(const task_request *q, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < q->n; i++) {
        sha256_update(&c, q->contexts[i], strlen(q->contexts[i]) + 1);
        sha256_update(&c, q->continuations[i], strlen(q->continuations[i]) + 1);
    }
    sha256_final_hex(&c, hex);
}

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

/* Builds and checks the requests of docs idx[0..n); *built counts the docs
 * whose request needs freeing, *nreq their requests. */
static int build_docs(run_ctx *c, task *t, const int *idx, int n, bdoc *docs, int *built, int *nreq, cj_err *e) {
    for (; *built < n; (*built)++) {
        bdoc *d = &docs[*built];
        d->t = t;
        d->doc = idx[*built];
        if (task_build_request_chat(t, d->doc, c->o->shots, c->o->seed, c->o->chat, &d->q, e)) {
            cj_wrap(e, "task %s doc %s", task_name(t), task_doc_id(t, d->doc));
            return -1;
        }
        if (check_request(t, d->doc, &d->q, e)) {
            (*built)++;
            return -1;
        }
        d->first = *nreq;
        *nreq += d->q.n;
        run_prompt_hash(&d->q, d->prompt_hash);
    }
    return 0;
}

/* Every request of the batch with its cache key, in doc order. */
static breq *hash_requests(const bdoc *docs, int n, int nreq, int rolling) {
    breq *reqs = cj_xmalloc(sizeof *reqs * (size_t)nreq);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < docs[i].q.n; k++) {
            breq *r = &reqs[docs[i].first + k];
            r->ctx = docs[i].q.contexts[k];
            r->cont = docs[i].q.continuations[k];
            r->doc = i;
            if (rolling) store_rolling_hash(r->ctx, r->hash);
            else store_request_hash(r->ctx, r->cont, r->hash);
        }
    return reqs;
}

/* Distinct requests: equal hashes share one result, looked up in the cache.
 * u (room for nreq) gets them, *nu their count. */
static int find_distinct(run_ctx *c, breq *reqs, int nreq, buniq *u, int *nu, cj_err *e) {
    int *order = cj_xmalloc(sizeof *order * (size_t)nreq), rc = 0;
    for (int i = 0; i < nreq; i++) order[i] = i;
    qsort_r(order, (size_t)nreq, sizeof *order, cmp_req_hash, reqs);
    for (int k = 0; k < nreq && !rc; k++) {
        int i = order[k];
        if (k == 0 || strcmp(reqs[i].hash, reqs[order[k - 1]].hash)) {
            u[*nu] = (buniq){.req = i};
            int found;
            if (store_cache_get(c->s, c->model_key, reqs[i].hash, &u[*nu].res, &found, e)) {
                rc = -1;
                break;
            }
            u[*nu].cached = found;
            (*nu)++;
        }
        reqs[i].uniq = *nu - 1;
    }
    free(order);
    return rc;
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

/* The indices of the true choices of a doc scored by labels, as a JSON
 * array (malloc'd). */
static char *labels_json(const task_request *q) {
    sb j;
    sb_init(&j);
    sb_putc(&j, '[');
    for (int i = 0; i < q->n; i++)
        if (q->labels[i]) sb_printf(&j, "%s%d", j.len > 1 ? "," : "", i);
    sb_putc(&j, ']');
    return sb_take(&j);
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
    char *labels = NULL;
    store_doc row = {.task = name, .doc_id = doc_id, .doc_hash = task_doc_hash(d->t, d->doc),
                     .prompt_hash = d->prompt_hash, .target = -1, .pred = -1};
    if (!rolling) {
        score_mc m;
        score_mc_doc(sc, q->n, q->gold, q->labels, &m);
        row.pred = m.pred;
        row.target = q->gold;
        if (q->gold < 0) row.target_text = labels = labels_json(q);
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
    free(labels);
    free(sc);
    return rc;
}

/* Writes the batch's rows, its new cache entries and the run's request
 * counters in one transaction, between kill points. */
static int commit_batch(run_ctx *c, const bdoc *docs, int n, const breq *reqs, const buniq *u, int nu, long computed,
                        cj_err *e) {
    long cached = nu - computed;
    run_kill_point();
    if (store_begin(c->s, e)) return -1;
    for (int i = 0; i < n; i++)
        if (write_doc(c, &docs[i], reqs, u, e)) goto rollback;
    run_kill_point();
    for (int i = 0; i < nu; i++)
        if (!u[i].cached && store_cache_put(c->s, c->model_key, reqs[u[i].req].hash, &u[i].res, e)) goto rollback;
    if (store_run_add_requests(c->s, c->run_id, cached, computed, e)) goto rollback;
    if (store_commit(c->s, e)) return -1;
    run_kill_point();
    c->res->requests_cached += cached;
    return 0;
rollback:
    store_rollback(c->s);
    return -1;
}

int run_score_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e) {
    int rolling = task_output_type(t) == TASK_LOGLIKELIHOOD_ROLLING;
    bdoc *docs = cj_xcalloc((size_t)n, sizeof *docs);
    breq *reqs = NULL;
    buniq *u = NULL;
    int built = 0, nreq = 0, nu = 0, rc = -1;
    if (build_docs(c, t, idx, n, docs, &built, &nreq, e)) goto out;
    reqs = hash_requests(docs, n, nreq, rolling);
    u = cj_xmalloc(sizeof *u * (size_t)nreq);
    if (find_distinct(c, reqs, nreq, u, &nu, e)) goto out;
    long computed0 = c->res->requests_computed;
    if (compute(c, rolling, docs, reqs, u, nu, e)) goto out;
    rc = commit_batch(c, docs, n, reqs, u, nu, c->res->requests_computed - computed0, e);
out:
    for (int i = 0; i < built; i++) task_request_free(&docs[i].q);
    free(docs);
    free(reqs);
    free(u);
    return rc;
}
