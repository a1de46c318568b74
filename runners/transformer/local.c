/* local — the runner over our own transformer (runners/runner.h).
 *
 * loglikelihood follows lm-evaluation-harness's token boundary (see
 * EVAL-DEFINITIONS.md): trailing whitespace of the context moves to the
 * continuation, whole = tokenize(context + continuation), ctx =
 * tokenize(context), the continuation is whole[len(ctx):], and the sequence is
 * left-truncated to max_len + 1 tokens. All requests of a call are tokenized
 * first and scored in one forward call, which computes every distinct prefix
 * once (the few-shot block shared by all questions, the question shared by
 * its choices) and keeps the most shared one for the next call (see
 * forward.h); --no-prefix-cache turns both off.
 *
 * max_len is the model's ctx_len, but never below MIN_CONTEXT: the
 * converter that made llama2.c models into GGUF writes a context_length of
 * 128 whatever the checkpoint was trained on (stories260K: 512), and
 * llama.cpp only warns about it. Positions are never capped otherwise,
 * except in a model of learned positions (GPT-2), which has none past its
 * ctx_len: there max_len is ctx_len itself, as lm-eval's max_length.
 *
 * Generation hands all items of a call to fwd_generate: the prompts'
 * common prefix (the few-shot block) is computed once, and every live
 * sequence advances by one token per run of the layers (at most gen_batch
 * at once). Each samples from its own seeded stream and stops on its own:
 * an end-of-generation token (tok_is_eog), a stop string or max_tokens. The
 * text is the concatenation of the generated tokens' pieces; from an empty
 * prompt the first token's leading space is dropped, as llama2.c and SPM
 * decoders do. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/sb.h"
#include "../runner.h"
#include "compute/forward.h"
#include "formats/model.h"
#include "compute/sampler.h"

#define MIN_CONTEXT 512
#define DEFAULT_GEN_BATCH 64

typedef struct {
    model *m;
    fwd *f;
    int max_len;
    int gen_batch; /* sequences decoded together, at most */
    int chat_prompts; /* prompts are chat-template renderings (runner_opts) */
    runner_info info;
} local;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* --- text helpers -------------------------------------------------------------- */

/* Python's str.isspace, which lm-eval's rstrip() uses. */
static int py_space(unsigned cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

/* Bytes of trailing whitespace at the end of s[0..n), by code point; stops
 * at anything that is not well-formed UTF-8. */
static size_t trailing_space(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t end = n;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && end - start < 4 && (u[start] & 0xc0) == 0x80) start--;
        unsigned c = u[start], len = (unsigned)(end - start), cp;
        if (c < 0x80 && len == 1)
            cp = c;
        else if ((c & 0xe0) == 0xc0 && len == 2)
            cp = (c & 0x1fu) << 6 | (u[start + 1] & 0x3fu);
        else if ((c & 0xf0) == 0xe0 && len == 3)
            cp = (c & 0x0fu) << 12 | (u[start + 1] & 0x3fu) << 6 | (u[start + 2] & 0x3fu);
        else
            break; /* 4-byte code points are never whitespace */
        if (!py_space(cp)) break;
        end = start;
    }
    return n - end;
}

/* The token that conditions a text with no context: BOS, else EOS. */
static int prefix_token(const local *L, cj_err *e) {
    int t = tok_bos(L->m->tok);
    if (t < 0) t = tok_eos(L->m->tok);
    if (t < 0) return cj_fail(e, "local: the vocabulary has neither BOS nor EOS to start a text with");
    return t;
}

/* --- loglikelihood -------------------------------------------------------------- */

typedef struct {
    int *ids;    /* owned; the sequence is ids[off .. off + n) */
    int off, n;
    int n_cont;  /* continuation tokens scored: the last n_cont of the sequence */
    float *lp;   /* [n_cont] */
    int *am;     /* [n_cont] */
    int computed;
} ll_req;

/* Chat-template renderings are read as lm-eval reads them: the special
 * tokens the template wrote are those tokens, and no BOS is added (a
 * template that wants one writes it). */
static int encode(const local *L, const char *s, size_t n, int bos, int **ids, int *nid, cj_err *e) {
    if (L->chat_prompts) return tok_encode_ex(L->m->tok, s, n, 0, 1, ids, nid, e);
    return tok_encode(L->m->tok, s, n, bos, ids, nid, e);
}

/* Tokenizes one (context, continuation) request per the lm-eval rule. */
static int ll_prepare(const local *L, const char *context, const char *cont, ll_req *q, cj_err *e) {
    size_t nc = strlen(context), nk = strlen(cont);
    size_t ctx_len = nc - trailing_space(context, nc);
    int bos = tok_add_bos(L->m->tok);
    char *whole = cj_xmalloc(nc + nk + 1);
    memcpy(whole, context, nc);
    memcpy(whole + nc, cont, nk + 1);
    int *ctx = NULL, n_ctx = 0;
    int rc = encode(L, whole, nc + nk, bos, &q->ids, &q->n, e);
    if (rc == 0) rc = encode(L, context, ctx_len, bos, &ctx, &n_ctx, e);
    free(whole);
    free(ctx);
    if (rc) return -1;
    if (n_ctx == 0) { /* no BOS and no context: condition on the prefix token */
        int p = prefix_token(L, e);
        if (p < 0) return -1;
        q->ids = cj_xrealloc(q->ids, (size_t)(q->n + 1) * sizeof(int));
        memmove(q->ids + 1, q->ids, (size_t)q->n * sizeof(int));
        q->ids[0] = p;
        q->n++;
        n_ctx = 1;
    }
    q->n_cont = imax(0, q->n - n_ctx);
    q->off = 0;
    if (q->n > L->max_len + 1) { /* keep the last max_len + 1 tokens */
        q->off = q->n - (L->max_len + 1);
        q->n = L->max_len + 1;
    }
    q->n_cont = imin(q->n_cont, q->n - 1);
    return 0;
}

static void timing_zero(runner_timing *t, int n) { memset(t, 0, (size_t)n * sizeof *t); }

/* Scores reqs[0..n) in one forward call, which shares every common prefix
 * and packs the work into batches. owner[i] is the index (into timings) of
 * the item request i belongs to; the wall time is split over the requests
 * by the tokens they computed (a shared prefix counts for the first request
 * holding it). */
static int score_reqs(local *L, ll_req *reqs, int n, const int *owner, runner_timing *timings, cj_err *e) {
    fwd_seq *seqs = cj_xcalloc((size_t)imax(n, 1), sizeof *seqs);
    int ns = 0;
    for (int j = 0; j < n; j++) {
        ll_req *q = &reqs[j];
        if (q->n_cont > 0) {
            q->lp = cj_xmalloc((size_t)q->n_cont * sizeof(float));
            q->am = cj_xmalloc((size_t)q->n_cont * sizeof(int));
            seqs[ns++] = (fwd_seq){.tokens = q->ids + q->off, .n_tokens = q->n, .score_from = q->n - q->n_cont, .logprobs = q->lp, .argmax = q->am};
        }
    }
    double t0 = now_s();
    int rc = fwd_score(L->f, seqs, ns, e);
    double dt = now_s() - t0;
    long computed = 0;
    for (int k = 0, s = 0; k < n; k++)
        if (reqs[k].n_cont > 0) computed += reqs[k].computed = seqs[s++].computed;
    for (int k = 0; k < n; k++) {
        timings[owner[k]].prefill_tokens += reqs[k].computed;
        timings[owner[k]].wall_s += computed ? dt * reqs[k].computed / (double)computed : 0;
    }
    free(seqs);
    return rc;
}

static void ll_free(ll_req *reqs, int n) {
    for (int i = 0; i < n; i++) {
        free(reqs[i].ids);
        free(reqs[i].lp);
        free(reqs[i].am);
    }
    free(reqs);
}

static int local_loglikelihood(runner *r, const runner_ll_item *items, int n, runner_ll_result *out,
                               runner_timing *timings, cj_err *e) {
    local *L = r->impl;
    timing_zero(timings, n);
    int total = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].n_cont < 0 || (items[i].n_cont > 0 && !items[i].continuations))
            return cj_fail(e, "loglikelihood: item %d has %d continuations%s", i, items[i].n_cont,
                           items[i].continuations ? "" : " and no array");
        total += items[i].n_cont;
    }
    ll_req *reqs = cj_xcalloc((size_t)imax(total, 1), sizeof *reqs);
    int *owner = cj_xmalloc((size_t)imax(total, 1) * sizeof(int));
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *ctx = items[i].context ? items[i].context : "";
        for (int c = 0; c < items[i].n_cont; c++, k++) {
            owner[k] = i;
            if (!items[i].continuations[c]) {
                ll_free(reqs, total);
                free(owner);
                return cj_fail(e, "loglikelihood: item %d continuation %d is NULL", i, c);
            }
            if (ll_prepare(L, ctx, items[i].continuations[c], &reqs[k], e)) {
                ll_free(reqs, total);
                free(owner);
                return cj_wrap(e, "loglikelihood: item %d continuation %d", i, c);
            }
        }
    }
    int rc = score_reqs(L, reqs, total, owner, timings, e);
    for (int q = 0; rc == 0 && q < total; q++) {
        const ll_req *rq = &reqs[q];
        const int *cont = rq->ids + rq->off + rq->n - rq->n_cont;
        double sum = 0;
        int greedy = 1;
        for (int t = 0; t < rq->n_cont; t++) {
            sum += rq->lp[t];
            greedy &= rq->am[t] == cont[t];
        }
        out[q] = (runner_ll_result){sum, rq->n_cont, greedy};
    }
    ll_free(reqs, total);
    free(owner);
    return rc;
}

/* --- loglikelihood_rolling ------------------------------------------------------ */

/* lm-eval's rolling windows with context_len 1: over F = [prefix] + tokens
 * (N tokens after the prefix), the first window is F[0 .. min(L, N)],
 * scoring all of it; each next one predicts the following (up to) L tokens,
 * ending at F[end], and sees the L tokens before them: F[end - L .. end].
 * Appends the windows of one text to reqs, as offsets into F (ids unset). */
static void rolling_windows(int N, int L, ll_req **reqs, int *n, int *cap) {
    for (int predicted = 0; predicted < N;) {
        int len = imin(N - predicted, L), end = predicted + len;
        int start = predicted == 0 ? 0 : end - L;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 16;
            *reqs = cj_xrealloc(*reqs, (size_t)*cap * sizeof **reqs);
        }
        (*reqs)[(*n)++] = (ll_req){.off = start, .n = end + 1 - start, .n_cont = len};
        predicted = end;
    }
}

static int local_rolling(runner *r, const char *const *texts, int n, runner_rolling_result *out,
                         runner_timing *timings, cj_err *e) {
    local *L = r->impl;
    timing_zero(timings, n);
    ll_req *reqs = NULL;
    int nr = 0, cap = 0, rc = 0;
    int **full = cj_xcalloc((size_t)imax(n, 1), sizeof *full); /* F of each text */
    int *owner = NULL;
    for (int i = 0; i < n; i++) {
        int *ids = NULL, nid = 0, p = prefix_token(L, e);
        const char *t = texts[i] ? texts[i] : "";
        if (p < 0 || encode(L, t, strlen(t), 0, &ids, &nid, e)) {
            rc = cj_wrap(e, "loglikelihood_rolling: text %d", i);
            break;
        }
        full[i] = cj_xmalloc((size_t)(nid + 1) * sizeof(int));
        full[i][0] = p;
        memcpy(full[i] + 1, ids, (size_t)nid * sizeof(int));
        free(ids);
        int first = nr;
        rolling_windows(nid, L->max_len, &reqs, &nr, &cap);
        owner = cj_xrealloc(owner, (size_t)imax(nr, 1) * sizeof(int));
        for (int k = first; k < nr; k++) {
            owner[k] = i;
            reqs[k].ids = full[i];
        }
        out[i] = (runner_rolling_result){0, nid};
    }
    if (rc == 0) rc = score_reqs(L, reqs, nr, owner, timings, e);
    for (int k = 0; k < nr; k++) {
        if (rc == 0)
            for (int t = 0; t < reqs[k].n_cont; t++) out[owner[k]].logprob += reqs[k].lp[t];
        free(reqs[k].lp);
        free(reqs[k].am);
    }
    for (int i = 0; i < n; i++) free(full[i]);
    free(full);
    free(owner);
    free(reqs);
    return rc;
}

/* --- generate ------------------------------------------------------------------ */

/* Offset of the earliest stop string in text[0..len) that ends after
 * `from` (earlier ones were looked for before), or -1. */
static long find_stop(const char *text, size_t len, size_t from, const runner_gen_item *it) {
    long best = -1;
    for (int s = 0; s < it->n_until; s++) {
        const char *u = it->until[s];
        size_t ul = u ? strlen(u) : 0;
        if (ul == 0 || ul > len) continue;
        size_t start = from >= ul - 1 ? from - (ul - 1) : 0;
        const char *hit = memmem(text + start, len - start, u, ul);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

typedef struct {
    const runner_gen_item *it;
    sampler smp;
    sb text;
    int n_gen, max_new;
    int from_empty; /* no context: the first token's leading space is dropped */
    runner_finish finish;
} gen_state;

typedef struct {
    const tokenizer *tk;
    gen_state **st; /* by fwd_generate's sequence index */
} gen_ctx;

/* fwd_generate's callback: samples sequence s's next token from its own
 * stream and says whether it goes on (EOS or an end-of-turn token, a stop
 * string, or max_tokens ends it). */
static int gen_next(void *ctx, int s, float *logits) {
    gen_ctx *c = ctx;
    gen_state *g = c->st[s];
    int next = sampler_next(&g->smp, logits);
    if (tok_is_eog(c->tk, next)) {
        g->finish = RUNNER_FINISH_EOS;
        return -1;
    }
    size_t before = g->text.len;
    tok_decode(c->tk, &next, 1, g->n_gen == 0 && g->from_empty, &g->text);
    g->n_gen++;
    long stop = find_stop(g->text.s, g->text.len, before, g->it);
    if (stop >= 0) {
        g->text.len = (size_t)stop;
        g->text.s[stop] = '\0';
        g->finish = RUNNER_FINISH_STOP;
        return -1;
    }
    return g->n_gen < g->max_new ? next : -1;
}

/* The prompt of an item: its context's tokens (the prefix token if none),
 * left-truncated so that max_new tokens fit in max_len, as lm-eval does. */
static int gen_prompt(const local *L, const runner_gen_item *it, int max_new, int **ids, int *off, int *n, cj_err *e) {
    const char *ctx = it->context ? it->context : "";
    if (encode(L, ctx, strlen(ctx), tok_add_bos(L->m->tok), ids, n, e)) return -1;
    if (*n == 0) {
        int p = prefix_token(L, e);
        if (p < 0) return -1;
        *ids = cj_xrealloc(*ids, sizeof(int));
        (*ids)[0] = p;
        *n = 1;
    }
    int keep = imax(1, L->max_len - max_new);
    *off = *n > keep ? *n - keep : 0;
    return 0;
}

static void gen_results(gen_state *st, const fwd_gen_seq *seqs, const int *slot, int n, runner_gen_result *out,
                        runner_timing *timings) {
    for (int i = 0; i < n; i++) {
        gen_state *g = &st[i];
        out[i].text = sb_take(&g->text);
        if (!out[i].text) out[i].text = cj_xstrdup("");
        out[i].n_tokens = g->n_gen;
        out[i].finish = g->finish;
        if (slot[i] < 0) continue;
        const fwd_gen_seq *q = &seqs[slot[i]];
        timings[i] = (runner_timing){q->computed, g->n_gen, q->prefill_s + q->decode_s, q->prefill_s};
    }
}

static int local_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out,
                          runner_timing *timings, cj_err *e) {
    local *L = r->impl;
    timing_zero(timings, n);
    memset(out, 0, (size_t)n * sizeof *out);
    gen_state *st = cj_xcalloc((size_t)imax(n, 1), sizeof *st);
    fwd_gen_seq *seqs = cj_xcalloc((size_t)imax(n, 1), sizeof *seqs);
    int **ids = cj_xcalloc((size_t)imax(n, 1), sizeof *ids), *slot = cj_xmalloc((size_t)imax(n, 1) * sizeof(int));
    int ns = 0, rc = 0, vocab = L->m->hp.vocab_size;
    for (int i = 0; i < n; i++) {
        gen_state *g = &st[i];
        *g = (gen_state){.it = &items[i], .max_new = imax(items[i].max_tokens, 0), .finish = RUNNER_FINISH_LENGTH};
        g->from_empty = !items[i].context || !items[i].context[0];
        sb_init(&g->text);
        sampler_init(&g->smp, vocab, items[i].temperature, items[i].top_p, items[i].seed);
        slot[i] = -1;
        int off = 0, np = 0;
        if (rc == 0 && gen_prompt(L, &items[i], g->max_new, &ids[i], &off, &np, e)) rc = cj_wrap(e, "generate: item %d", i);
        if (rc == 0 && g->max_new > 0) {
            slot[i] = ns;
            seqs[ns++] = (fwd_gen_seq){.prompt = ids[i] + off, .n_prompt = np - off, .max_new = g->max_new};
        }
    }
    gen_state **by_slot = cj_xmalloc((size_t)imax(ns, 1) * sizeof *by_slot);
    for (int i = 0; i < n; i++)
        if (slot[i] >= 0) by_slot[slot[i]] = &st[i];
    gen_ctx ctx = {L->m->tok, by_slot};
    if (rc == 0 && fwd_generate(L->f, seqs, ns, L->gen_batch, gen_next, &ctx, e)) rc = cj_wrap(e, "generate");
    if (rc == 0) gen_results(st, seqs, slot, n, out, timings);
    for (int i = 0; i < n; i++) {
        sampler_free(&st[i].smp);
        sb_free(&st[i].text);
        free(ids[i]);
    }
    free(by_slot);
    free(st);
    free(seqs);
    free(ids);
    free(slot);
    return rc;
}

/* --- identity and lifetime ------------------------------------------------------ */

static const runner_info *local_info(runner *r) { return &((local *)r->impl)->info; }

static void local_free(runner *r) {
    local *L = r->impl;
    fwd_free(L->f);
    model_free(L->m);
    free(L);
    free(r);
}

static const runner_vtable LOCAL_VT = {local_loglikelihood, local_rolling, local_generate, local_info, local_free};

runner *runner_local_open(const runner_opts *opts, cj_err *e) {
    if (!opts || !opts->model_path) {
        cj_fail(e, "local: no model path");
        return NULL;
    }
    int kernels = opts->kernels ? gemm_parse_kernels(opts->kernels) : GEMM_OWN;
    if (kernels < 0) {
        cj_fail(e, "local: unknown kernels '%s' (own or openblas)", opts->kernels);
        return NULL;
    }
    model *m = NULL;
    if (model_load(opts->model_path, opts->tokenizer_path, &m, e)) return NULL;
    local *L = cj_xcalloc(1, sizeof *L);
    L->m = m;
    if (fwd_new(m, opts->threads, opts->batch_tokens, &L->f, e)) {
        model_free(m);
        free(L);
        return NULL;
    }
    fwd_set_kernels(L->f, (gemm_kernels)kernels);
    fwd_set_prefix_sharing(L->f, !opts->no_prefix_cache);
    fwd_set_kv_budget(L->f, (size_t)imax(opts->kv_budget_mb, 0) << 20);
    L->max_len = m->hp.pos_embd ? m->hp.ctx_len : imax(m->hp.ctx_len, MIN_CONTEXT);
    L->gen_batch = opts->gen_batch > 0 ? opts->gen_batch : DEFAULT_GEN_BATCH;
    L->chat_prompts = opts->chat_prompts;
    L->info = (runner_info){.path = m->path,
                            .format = m->format,
                            .arch = m->arch,
                            .n_params = m->n_params,
                            .dtype = m->dtype,
                            .ctx_len = m->hp.ctx_len,
                            .tokenizer = tok_describe(m->tok),
                            .kernels = gemm_kernels_name((gemm_kernels)kernels)};
    memcpy(L->info.sha256, m->sha256, sizeof L->info.sha256);
    runner *r = cj_xmalloc(sizeof *r);
    r->vt = &LOCAL_VT;
    r->impl = L;
    return r;
}
