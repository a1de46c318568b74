/* run_gen — one batch of a generate_until task: each doc's generation
 * parameters and cache key, the distinct requests answered from the
 * generation cache or the runner, and the doc, generation and latency rows
 * (scored by score_gen_doc) written in one transaction. All generation-batch
 * code lives here, so that a change to how the runner generates touches
 * one file of the harness. */
#include "run_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/score.h"
#include "../metrics/stats.h" /* cj_rng */
#include "../metrics/truthfulqa_gen.h"

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
    char *txt = run_json_dump(p, JSON_COMPACT | JSON_SORT_KEYS);
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

/* The task's metrics of one scored doc, as a JSON object (malloc'd); with
 * named filters, also each filter's answer under "answers". */
static char *scores_json(const task *t, const score_gen *sg) {
    json_t *scores = json_object();
    for (int m = 0; m < task_n_metrics(t); m++) {
        double v;
        if (score_gen_metric(sg, task_metric(t, m), &v)) continue;
        json_object_set_new(scores, task_metric(t, m), isnan(v) ? json_null() : json_real(v));
    }
    if (sg->filters && sg->filters[0].name) {
        json_t *answers = json_object();
        for (int k = 0; k < sg->n_answers; k++)
            json_object_set_new(answers, sg->filters[k].name, json_string(sg->answers[k].answer));
        json_object_set_new(scores, "answers", answers);
    }
    char *txt = run_json_dump(scores, JSON_COMPACT);
    json_decref(scores);
    return txt;
}

/* The doc's latency row: time to the first token is the prompt's cost; the
 * rest is decoding. */
static int put_gen_latency(run_ctx *c, const char *name, const char *doc_id, const runner_timing *tm, cj_err *e) {
    double ttft = tm->ttft_s > 0 && tm->ttft_s <= tm->wall_s ? tm->ttft_s : tm->wall_s;
    store_latency l = {name, doc_id, tm->prefill_tokens, tm->decode_tokens, tm->wall_s, ttft,
                       tm->wall_s - ttft, tm->ttft_s > 0 ? ttft : NAN};
    return store_put_latency_row(c->s, c->run_id, &l, e);
}

/* Scores one generated doc and writes its doc, generation and latency rows. */
static int write_gen(run_ctx *c, task *t, const gdoc *d, cj_err *e) {
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
    int rc = score_gen_doc(d->res.text, &refs, task_gen(t), &sg, e);
    if (rc) {
        cj_wrap(e, "task %s doc %s", name, doc_id);
        goto out;
    }
    char *scores_txt = scores_json(t, &sg), *refs_txt = NULL;
    if (q->refs_correct) {
        json_t *r = json_pack("{s:o, s:o}", "correct", str_array(tc, ntc), "incorrect", str_array(ti, nti));
        if (!r) abort();
        refs_txt = run_json_dump(r, JSON_COMPACT);
        json_decref(r);
    }
    store_doc row = {.task = name, .doc_id = doc_id, .doc_hash = task_doc_hash(t, d->doc),
                     .prompt_hash = d->prompt_hash, .target = -1, .target_text = q->gold_text, .pred = -1};
    store_generation gr = {
        .task = name, .doc_id = doc_id, .text = d->res.text, .n_tokens = d->res.n_tokens,
        .finish = d->res.finish, .answer = sg.answers[0].answer,
        .exact_match = sg.answers[0].exact_match, .f1 = sg.answers[0].f1,
        .abstained = sg.abstained, .correct = sg.correct, .scores = scores_txt, .refs = refs_txt,
    };
    rc = store_put_doc(c->s, c->run_id, &row, e) || store_put_generation(c->s, c->run_id, &gr, e) ? -1 : 0;
    if (!rc && d->timed) rc = put_gen_latency(c, name, doc_id, &d->tm, e);
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

/* Builds the requests of docs idx[0..n) with their parameters and cache
 * keys; *built counts the docs whose request needs freeing. */
static int build_gdocs(run_ctx *c, task *t, const int *idx, int n, gdoc *docs, int *built, cj_err *e) {
    for (; *built < n; (*built)++) {
        gdoc *d = &docs[*built];
        d->doc = idx[*built];
        if (task_build_request_chat(t, d->doc, c->o->shots, c->o->seed, c->o->chat, &d->q, e)) {
            cj_wrap(e, "task %s doc %s", task_name(t), task_doc_id(t, d->doc));
            return -1;
        }
        if (d->q.n != 1 || !d->q.contexts || !d->q.contexts[0]) {
            (*built)++;
            return cj_fail(e, "task %s doc %s: a generation request has no prompt", task_name(t),
                           task_doc_id(t, d->doc));
        }
        run_prompt_hash(&d->q, d->prompt_hash);
        gen_params(c, t, d);
        gen_hash(d, d->hash);
    }
    return 0;
}

/* Distinct requests: a doc whose hash an earlier doc has shares its result.
 * The rest are looked up in the cache; pend[0..*np) gets the docs that
 * missed it, *nu counts the distinct requests. */
static int find_distinct_gen(run_ctx *c, gdoc *docs, int n, int *pend, int *np, long *nu, cj_err *e) {
    int *order = cj_xmalloc(sizeof *order * (size_t)n), rc = 0;
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_gdoc_hash, docs);
    for (int k = 0; k < n; k++) {
        gdoc *d = &docs[order[k]];
        if (k > 0 && !strcmp(d->hash, docs[order[k - 1]].hash)) {
            d->uniq = docs[order[k - 1]].uniq;
            continue;
        }
        d->uniq = order[k];
        (*nu)++;
        int found;
        if (store_gen_cache_get(c->s, c->model_key, d->hash, &d->res, &found, e)) {
            rc = -1;
            break;
        }
        if (!found) pend[(*np)++] = order[k];
    }
    free(order);
    return rc;
}

/* Sends the docs pend[0..np) to the runner; each takes its text and timing. */
static int generate(run_ctx *c, task *t, gdoc *docs, const int *pend, int np, cj_err *e) {
    if (!np) return 0;
    runner_gen_item *items = cj_xmalloc(sizeof *items * (size_t)np);
    runner_gen_result *out = cj_xcalloc((size_t)np, sizeof *out);
    runner_timing *tm = cj_xcalloc((size_t)np, sizeof *tm);
    int rc = -1;
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
    rc = 0;
out:
    for (int k = 0; k < np; k++) free(out[k].text);
    free(items);
    free(out);
    free(tm);
    return rc;
}

/* Writes the batch's rows, its new cache entries and the run's request
 * counters in one transaction, between kill points. */
static int commit_gen(run_ctx *c, task *t, const gdoc *docs, int n, const int *pend, int np, long nu, cj_err *e) {
    run_kill_point();
    if (store_begin(c->s, e)) return -1;
    for (int i = 0; i < n; i++)
        if (write_gen(c, t, &docs[i], e)) goto rollback;
    run_kill_point();
    for (int k = 0; k < np; k++) {
        const gdoc *d = &docs[pend[k]];
        if (store_gen_cache_put(c->s, c->model_key, d->hash, d->res.text, d->res.n_tokens, d->res.finish, e))
            goto rollback;
    }
    if (store_run_add_requests(c->s, c->run_id, nu - np, np, e)) goto rollback;
    if (store_commit(c->s, e)) return -1;
    run_kill_point();
    c->res->requests_cached += nu - np;
    return 0;
rollback:
    store_rollback(c->s);
    return -1;
}

int run_gen_batch(run_ctx *c, task *t, const int *idx, int n, cj_err *e) {
    gdoc *docs = cj_xcalloc((size_t)n, sizeof *docs);
    int *pend = cj_xmalloc(sizeof *pend * (size_t)n);
    int built = 0, np = 0, rc = -1;
    long nu = 0;
    if (build_gdocs(c, t, idx, n, docs, &built, e) || find_distinct_gen(c, docs, n, pend, &np, &nu, e) ||
        generate(c, t, docs, pend, np, e))
        goto out;
    /* Docs that share a request take its result (a copy of the text). */
    for (int i = 0; i < n; i++)
        if (docs[i].uniq != i) {
            const gdoc *u = &docs[docs[i].uniq];
            docs[i].res = (store_gen_cached){cj_xstrdup(u->res.text), u->res.n_tokens, u->res.finish};
        }
    rc = commit_gen(c, t, docs, n, pend, np, nu, e);
out:
    for (int i = 0; i < built; i++) {
        task_request_free(&docs[i].q);
        free(docs[i].res.text);
    }
    free(docs);
    free(pend);
    return rc;
}
