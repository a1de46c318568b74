/* serve_engine — the model behind `chaejeom serve` (contract in serve_engine.h). */
#include "serve_engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../runners/transformer/compute/forward.h"
#include "../runners/transformer/formats/model.h"

/* One caller's sequences, waiting for the batcher. */
typedef struct job {
    fwd_seq *seqs;
    int n, done, rc;
    cj_err *e;
    struct job *next;
} job;

struct serve_engine {
    model *m;
    pthread_t th;
    fwd *f; /* used by the batcher thread only */
    runner *r;
    runner *chat_r;    /* generation from chat-template renderings; opened at the first chat request */
    runner_opts opts;  /* what chat_r is opened with */
    pthread_mutex_t mu, gen_mu; /* mu: the queue and the counters; gen_mu: the runner */
    pthread_cond_t work, done;
    job *head, *tail;
    int stop, started, add_bos;
    long calls, jobs;
};

/* Takes every waiting job and scores all their sequences in one fwd_score
 * call: one prefix tree and one run of the layers per batch for all of them.
 * The forward pass's numbers do not depend on what shares a call. */
static void *batcher(void *arg) {
    serve_engine *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop) pthread_cond_wait(&s->work, &s->mu);
        if (!s->head) break;
        job *list = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        int total = 0, k = 0, njobs = 0;
        for (job *j = list; j; j = j->next) total += j->n, njobs++;
        fwd_seq *all = cj_xmalloc((size_t)total * sizeof *all);
        for (job *j = list; j; j = j->next)
            for (int i = 0; i < j->n; i++) all[k++] = j->seqs[i];
        cj_err e;
        int rc = fwd_score(s->f, all, total, &e);
        free(all);
        pthread_mutex_lock(&s->mu);
        s->calls++;
        s->jobs += njobs;
        for (job *j = list, *next; j; j = next) {
            next = j->next;
            j->rc = rc;
            if (rc) *j->e = e;
            j->done = 1;
        }
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int score_seqs(serve_engine *s, fwd_seq *seqs, int n, cj_err *e) {
    job j = {.seqs = seqs, .n = n, .e = e};
    pthread_mutex_lock(&s->mu);
    if (s->tail) s->tail->next = &j;
    else s->head = &j;
    s->tail = &j;
    pthread_cond_signal(&s->work);
    while (!j.done) pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return j.rc;
}

void serve_engine_stats(serve_engine *s, long *calls, long *jobs) {
    pthread_mutex_lock(&s->mu);
    *calls = s->calls;
    *jobs = s->jobs;
    pthread_mutex_unlock(&s->mu);
}

int serve_engine_open(const runner_opts *opts, serve_engine **out, cj_err *e) {
    serve_engine *s = cj_xcalloc(1, sizeof *s);
    *out = NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    if (model_load(opts->model_path, opts->tokenizer_path, &s->m, e) ||
        fwd_new(s->m, opts->threads, opts->batch_tokens, &s->f, e) || !(s->r = runner_local_open(opts, e))) {
        serve_engine_free(s);
        return -1;
    }
    if (opts->no_prefix_cache) fwd_set_prefix_sharing(s->f, 0);
    if (opts->kv_budget_mb > 0) fwd_set_kv_budget(s->f, (size_t)opts->kv_budget_mb << 20);
    if (opts->kernels && !strcmp(opts->kernels, "openblas")) fwd_set_kernels(s->f, GEMM_OPENBLAS);
    if (pthread_create(&s->th, NULL, batcher, s)) {
        serve_engine_free(s);
        return cj_fail(e, "serve: cannot start the batching thread");
    }
    s->started = 1;
    s->opts = *opts;
    *out = s;
    return 0;
}

void serve_engine_free(serve_engine *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gen_mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    runner_free(s->r);
    runner_free(s->chat_r);
    if (s->f) fwd_free(s->f);
    if (s->m) model_free(s->m);
    free(s);
}

int serve_engine_n_vocab(const serve_engine *s) { return s->m->hp.vocab_size; }
int serve_engine_ctx_len(const serve_engine *s) { return s->m->hp.ctx_len; }
const runner_info *serve_engine_info(const serve_engine *s) { return runner_get_info(s->r); }

int serve_engine_encode(const serve_engine *s, const char *text, size_t len, int add_special, int **ids, int *n,
                        cj_err *e) {
    return tok_encode(s->m->tok, text, len, add_special && tok_add_bos(s->m->tok), ids, n, e);
}

void serve_engine_decode(const serve_engine *s, const int *ids, int n, int skip_bos, sb *out) {
    if (skip_bos && n > 0 && ids[0] == tok_bos(s->m->tok)) {
        ids++;
        n--;
    }
    tok_decode(s->m->tok, ids, n, 0, out);
}

int serve_engine_score(serve_engine *s, const int *ids, int n, int k, serve_scores *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    if (n < 2) return 0;
    if (n > SERVE_MAX_PROMPT_TOKENS) return cj_fail(e, "prompt: %d tokens, more than %d", n, SERVE_MAX_PROMPT_TOKENS);
    if (k < 0 || k > FWD_MAX_TOP_K) return cj_fail(e, "logprobs: %d alternatives, outside 0..%d", k, FWD_MAX_TOP_K);
    size_t m = (size_t)(n - 1);
    out->k = k;
    out->lp = cj_xmalloc(m * sizeof *out->lp);
    out->argmax = cj_xmalloc(m * sizeof *out->argmax);
    out->rank = cj_xmalloc(m * sizeof *out->rank);
    if (k > 0) {
        out->top_ids = cj_xmalloc(m * (size_t)k * sizeof *out->top_ids);
        out->top_lps = cj_xmalloc(m * (size_t)k * sizeof *out->top_lps);
    }
    fwd_seq seq = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = out->lp, .argmax = out->argmax,
                   .rank = out->rank, .top_k = k, .top_ids = out->top_ids, .top_lps = out->top_lps};
    int rc = score_seqs(s, &seq, 1, e);
    if (rc) serve_scores_free(out);
    return rc;
}

void serve_scores_free(serve_scores *sc) {
    free(sc->lp);
    free(sc->argmax);
    free(sc->rank);
    free(sc->top_ids);
    free(sc->top_lps);
    memset(sc, 0, sizeof *sc);
}

int serve_engine_greedy_next(serve_engine *s, const int *ids, int n, int *tok, cj_err *e) {
    if (n < 1 || n >= SERVE_MAX_PROMPT_TOKENS) return cj_fail(e, "generate: %d tokens, outside [1, %d)", n, SERVE_MAX_PROMPT_TOKENS);
    /* Any token in position n: its scoring yields the distribution after ids[n - 1]. */
    int *buf = cj_xmalloc((size_t)(n + 1) * sizeof *buf);
    memcpy(buf, ids, (size_t)n * sizeof *buf);
    buf[n] = 0;
    float lp;
    fwd_seq seq = {.tokens = buf, .n_tokens = n + 1, .score_from = n, .logprobs = &lp, .argmax = tok};
    int rc = score_seqs(s, &seq, 1, e);
    free(buf);
    return rc;
}

int serve_engine_eos(const serve_engine *s) { return tok_eos(s->m->tok); }
int serve_engine_bos(const serve_engine *s) { return tok_bos(s->m->tok); }
void serve_engine_set_add_bos(serve_engine *s, int on) { s->add_bos = on; }
int serve_engine_add_bos(const serve_engine *s) { return s->add_bos; }

const char *serve_engine_piece(const serve_engine *s, int id) {
    return id >= 0 && id < s->m->hp.vocab_size ? tok_piece(s->m->tok, id) : NULL;
}

int serve_engine_generate(serve_engine *s, const runner_gen_item *it, runner_gen_result *out, cj_err *e) {
    runner_timing t;
    pthread_mutex_lock(&s->gen_mu);
    int rc = runner_generate(s->r, it, 1, out, &t, e);
    pthread_mutex_unlock(&s->gen_mu);
    return rc;
}

/* A second local runner with chat_prompts on, as `chaejeom run
 * --apply-chat-template` opens: the special tokens a template writes are
 * read as such and no BOS is added, so the answers are the ones run gives. */
int serve_engine_generate_chat(serve_engine *s, const runner_gen_item *it, runner_gen_result *out, cj_err *e) {
    runner_timing t;
    int rc = -1;
    pthread_mutex_lock(&s->gen_mu);
    if (!s->chat_r) {
        runner_opts o = s->opts;
        o.chat_prompts = 1;
        s->chat_r = runner_local_open(&o, e);
    }
    if (s->chat_r) rc = runner_generate(s->chat_r, it, 1, out, &t, e);
    pthread_mutex_unlock(&s->gen_mu);
    return rc;
}

int serve_engine_encode_chat(const serve_engine *s, const char *text, int **ids, int *n, cj_err *e) {
    *ids = NULL;
    return tok_encode_ex(s->m->tok, text, strlen(text), 0, 1, ids, n, e);
}
