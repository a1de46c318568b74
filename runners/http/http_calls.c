/* http_calls — loglikelihood, loglikelihood_rolling and generate over
 * /v1/completions, the way lm-eval's local-completions and vLLM do it.
 *
 * Scoring sends context + continuation with echo, logprobs 1, max_tokens 1
 * and temperature 0, and reads the prompt's echoed log-probs (the one
 * generated token after them is ignored). With a tokenizer the prompt goes
 * as token ids built by lm-eval's rule (trailing whitespace of the context
 * moves to the continuation; whole = tok(context + continuation) and ctx =
 * tok(context), BOS per the vocabulary; the continuation is whole[len(ctx):];
 * left-truncated to max_length + 1 tokens), so the token boundary is ours
 * and not the server's; without one it goes as text and the continuation is
 * the tokens whose text_offset (in characters) is at or past the context's end (a choice
 * where no token starts there is counted: runner_http_text_boundaries). Rolling
 * log-likelihoods use lm-eval's disjoint windows of max_length tokens with a
 * tokenizer or the server's /tokenize (when it starts texts with a BOS),
 * and the whole text in one request without.
 *
 * Generation is in http_gen.c.
 *
 * Timings: each request's wall time, split evenly over its prompts. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/sb.h"
#include "http_impl.h"
#include "http_reply.h"

typedef struct {
    json_t *prompt; /* a string or an array of token ids (owned) */
    int owner;      /* the item (for timings) */
    int out;        /* the result it adds to */
    int n_prompt;   /* ids: the prompt's tokens; text: its bytes */
    int n_cont;     /* ids: continuation tokens (the last ones) */
    long cont_from; /* text: the byte the continuation starts at */
    int ids;        /* 1: the prompt is token ids, 0: text */
} prompt;

static void prompts_free(prompt *p, int n) {
    for (int i = 0; i < n; i++) json_decref(p[i].prompt);
    free(p);
}

json_t *http_ids_json(const int *ids, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

char *http_dump(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s) abort();
    json_decref(j);
    return s;
}

/* Bytes of s[0..n) left once trailing whitespace (Python's str.isspace,
 * which lm-eval's rstrip uses) is removed; scans forward, code point by
 * code point, remembering where the last non-space one ended. */
static size_t rstrip_len(const char *s, size_t n) {
    static const unsigned ranges[][2] = {{0x09, 0x0d}, {0x1c, 0x20}, {0x85, 0x85},     {0xa0, 0xa0},
                                         {0x1680, 0x1680}, {0x2000, 0x200a}, {0x2028, 0x2029}, {0x202f, 0x202f},
                                         {0x205f, 0x205f}, {0x3000, 0x3000}};
    const unsigned char *u = (const unsigned char *)s;
    size_t keep = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i], len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        int ok = i + len <= n;
        unsigned cp = len == 1 ? c : c & (0x7fu >> len);
        for (unsigned k = 1; ok && k < len; k++) {
            ok = (u[i + k] & 0xc0) == 0x80;
            cp = cp << 6 | (u[i + k] & 0x3fu);
        }
        if (!ok) len = 1; /* not well-formed: a byte that is not whitespace */
        int space = 0;
        for (size_t r = 0; ok && r < sizeof ranges / sizeof *ranges; r++)
            space |= cp >= ranges[r][0] && cp <= ranges[r][1];
        i += len;
        if (!space) keep = i;
    }
    return keep;
}

/* lm-eval's local-chat-completions refuses it too: a chat reply has no prompt log-probs. */
static int http_no_chat_scoring(cj_err *e) {
    return cj_fail(e, "log-likelihood over /v1/chat/completions is not possible: chat replies carry no log-probs "
                      "of the prompt (lm-eval refuses it too). Score through /v1/completions: drop "
                      "--apply-chat-template, or give --apply-chat-template FILE to render the prompts here");
}

/* The token that conditions a text with no context: BOS, else EOS. */
static int prefix_token(const tokenizer *t, cj_err *e) {
    int p = tok_bos(t) >= 0 ? tok_bos(t) : tok_eos(t);
    if (p < 0) return cj_fail(e, "http: the tokenizer has neither BOS nor EOS to start a text with");
    return p;
}

/* lm-eval's token boundary from whole = tok(context + continuation) (nw
 * ids, freed here) and n_ctx = len(tok(rstrip(context))); with no context
 * tokens the text is conditioned on pre. */
static void boundary_prompt(int *whole, int nw, int n_ctx, int pre, int max_length, prompt *p) {
    if (n_ctx == 0) { /* no BOS and no context: condition on the prefix token */
        whole = cj_xrealloc(whole, (size_t)(nw + 1) * sizeof *whole);
        memmove(whole + 1, whole, (size_t)nw * sizeof *whole);
        whole[0] = pre;
        nw++;
        n_ctx = 1;
    }
    int n_cont = nw > n_ctx ? nw - n_ctx : 0, off = nw > max_length + 1 ? nw - (max_length + 1) : 0;
    p->n_prompt = nw - off;
    p->n_cont = n_cont < p->n_prompt - 1 ? n_cont : p->n_prompt - 1;
    p->prompt = http_ids_json(whole + off, p->n_prompt);
    p->ids = 1;
    free(whole);
}

int http_encode(const http_runner *H, const char *s, size_t n, int **ids, int *nid, cj_err *e) {
    if (H->chat_prompts) return tok_encode_ex(H->tok, s, n, 0, 1, ids, nid, e);
    return tok_encode(H->tok, s, n, tok_add_bos(H->tok), ids, nid, e);
}

/* lm-eval's token boundary for one (context, continuation), with the local tokenizer. */
static int ids_prompt(const http_runner *H, const char *ctx, const char *cont, prompt *p, cj_err *e) {
    const tokenizer *t = H->tok;
    size_t nc = strlen(ctx), nk = strlen(cont);
    int *whole = NULL, *c = NULL, nw = 0, n_ctx = 0, pre = 0, max_length = H->max_length;
    char *text = cj_xmalloc(nc + nk + 1);
    memcpy(text, ctx, nc);
    memcpy(text + nc, cont, nk + 1);
    int rc = http_encode(H, text, nc + nk, &whole, &nw, e);
    if (rc == 0) rc = http_encode(H, ctx, rstrip_len(ctx, nc), &c, &n_ctx, e);
    if (rc == 0 && n_ctx == 0 && (pre = prefix_token(t, e)) < 0) rc = -1;
    free(text);
    free(c);
    if (rc) {
        free(whole);
        return -1;
    }
    boundary_prompt(whole, nw, n_ctx, pre, max_length, p);
    return 0;
}

/* The same boundary with the server's /tokenize: every context (without
 * its trailing whitespace) and every context + continuation in one go. */
static int remote_prompts(http_runner *H, const runner_ll_item *items, int n, prompt *p, int total, cj_err *e) {
    int nt = n + total, k = 0;
    const char **texts = cj_xcalloc((size_t)nt + 1, sizeof *texts);
    size_t *lens = cj_xcalloc((size_t)nt + 1, sizeof *lens);
    int **ids = cj_xcalloc((size_t)nt + 1, sizeof *ids), *nids = cj_xcalloc((size_t)nt + 1, sizeof *nids);
    for (int i = 0; i < n; i++) {
        const char *ctx = items[i].context ? items[i].context : "";
        texts[i] = ctx;
        lens[i] = rstrip_len(ctx, strlen(ctx));
        for (int c = 0; c < items[i].n_cont; c++, k++) {
            sb w;
            sb_init(&w);
            sb_puts(&w, ctx);
            sb_puts(&w, items[i].continuations[c] ? items[i].continuations[c] : "");
            lens[n + k] = w.len;
            texts[n + k] = w.s ? sb_take(&w) : cj_xstrdup("");
        }
    }
    int rc = http_remote_encode(H, texts, lens, nt, ids, nids, e);
    for (int i = 0, k2 = 0; i < n; i++)
        for (int c = 0; c < items[i].n_cont; c++, k2++) {
            if (rc == 0 && nids[i] == 0)
                rc = cj_fail(e, "item %d: an empty context the server's tokenizer adds no BOS to: give --tokenizer", i);
            if (rc == 0) boundary_prompt(ids[n + k2], nids[n + k2], nids[i], 0, H->max_length, &p[k2]);
            else free(ids[n + k2]);
            free((char *)texts[n + k2]);
        }
    for (int i = 0; i < n; i++) free(ids[i]);
    free(texts);
    free(lens);
    free(ids);
    free(nids);
    return rc;
}

/* Code points in s[0..n): OpenAI-compatible servers (vLLM, llama-cpp-python)
 * count text_offset in Python characters, not bytes. */
static long code_points(const char *s, size_t n) {
    long k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

static void text_prompt(const char *ctx, const char *cont, prompt *p) {
    sb s;
    sb_init(&s);
    sb_puts(&s, ctx);
    sb_puts(&s, cont);
    p->n_prompt = (int)code_points(s.s ? s.s : "", s.len);
    p->cont_from = code_points(ctx, rstrip_len(ctx, strlen(ctx)));
    p->prompt = json_stringn(s.s, s.len);
    sb_free(&s);
    if (!p->prompt) p->prompt = json_string(""); /* invalid UTF-8: scored as nothing, never sent broken */
}

/* --- sending scoring prompts ------------------------------------------------------------ */

static char *score_body(const http_runner *H, const prompt *p, int n) {
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append(arr, p[i].prompt);
    return http_dump(json_pack("{s:s, s:o, s:i, s:b, s:i, s:i}", "model", H->model, "prompt", arr, "max_tokens", 1, "echo",
                          1, "logprobs", 1, "temperature", 0));
}

static int score_reply(http_runner *H, const http_job *j, const prompt *p, int n, runner_ll_result *res,
                       runner_timing *tm, cj_err *e) {
    http_choice *ch = cj_xcalloc((size_t)n, sizeof *ch);
    http_usage u;
    int rc = http_reply_parse(j->reply, j->reply_len, n, 1, ch, &u, e);
    for (int i = 0; rc == 0 && i < n; i++) {
        runner_ll_result r;
        rc = p[i].ids ? http_score_ids(&ch[i], p[i].n_prompt, p[i].n_cont, &r, e)
                    : http_score_text(&ch[i], p[i].n_prompt, p[i].cont_from, &r, e);
        if (rc) {
            cj_wrap(e, "prompt %d of the request", i);
            break;
        }
        if (!p[i].ids && p[i].cont_from > 0) { /* a choice, not a rolling text */
            H->text_scored++;
            H->text_spanned += http_text_boundary_spanned(&ch[i], p[i].n_prompt, p[i].cont_from);
        }
        res[p[i].out].logprob += r.logprob;
        res[p[i].out].n_tokens += r.n_tokens;
        res[p[i].out].is_greedy &= r.is_greedy;
        tm[p[i].owner].wall_s += j->wall_s / n;
        tm[p[i].owner].prefill_tokens += p[i].ids ? p[i].n_prompt : u.prompt_tokens > 0 ? (int)(u.prompt_tokens / n) : 0;
    }
    if (rc) cj_wrap(e, "%s/completions", http_pool_endpoint(H->pool, j->endpoint));
    http_choices_free(ch, n);
    free(ch);
    return rc;
}

/* Scores prompts p[0..np) into res (zeroed here, is_greedy 1). */
static int score_all(http_runner *H, const prompt *p, int np, runner_ll_result *res, int nres, runner_timing *tm,
                     cj_err *e) {
    for (int i = 0; i < nres; i++) res[i] = (runner_ll_result){0, 0, 1};
    int per = H->per_request, nj = (np + per - 1) / per;
    http_job *jobs = cj_xcalloc((size_t)(nj ? nj : 1), sizeof *jobs);
    for (int k = 0; k < nj; k++) {
        int n = np - k * per < per ? np - k * per : per;
        jobs[k] = (http_job){.path = "/completions", .body = score_body(H, p + k * per, n)};
    }
    int rc = http_pool_run(H->pool, jobs, nj, e);
    for (int k = 0; rc == 0 && k < nj; k++) {
        int n = np - k * per < per ? np - k * per : per;
        rc = score_reply(H, &jobs[k], p + k * per, n, res, tm, e);
    }
    for (int k = 0; k < nj; k++) {
        free((char *)jobs[k].body);
        free(jobs[k].reply);
    }
    free(jobs);
    return rc;
}

int http_loglikelihood(runner *r, const runner_ll_item *items, int n, runner_ll_result *out, runner_timing *timings,
                       cj_err *e) {
    http_runner *H = r->impl;
    memset(timings, 0, (size_t)n * sizeof *timings);
    if (H->chat) return http_no_chat_scoring(e);
    int total = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].n_cont < 0 || (items[i].n_cont > 0 && !items[i].continuations))
            return cj_fail(e, "loglikelihood: item %d has %d continuations", i, items[i].n_cont);
        total += items[i].n_cont;
    }
    prompt *p = cj_xcalloc((size_t)(total ? total : 1), sizeof *p);
    if (H->remote_tok) {
        for (int i = 0, k = 0; i < n; i++)
            for (int c = 0; c < items[i].n_cont; c++, k++) p[k].owner = i, p[k].out = k;
        rc = remote_prompts(H, items, n, p, total, e);
    }
    for (int i = 0, k = 0; rc == 0 && !H->remote_tok && i < n; i++) {
        const char *ctx = items[i].context ? items[i].context : "";
        for (int c = 0; rc == 0 && c < items[i].n_cont; c++, k++) {
            const char *cont = items[i].continuations[c] ? items[i].continuations[c] : "";
            p[k].owner = i;
            p[k].out = k;
            if (!H->tok) text_prompt(ctx, cont, &p[k]);
            else if (ids_prompt(H, ctx, cont, &p[k], e))
                rc = cj_wrap(e, "loglikelihood: item %d continuation %d", i, c);
        }
    }
    if (rc == 0) rc = score_all(H, p, total, out, total, timings, e);
    prompts_free(p, total);
    return rc;
}

/* lm-eval's rolling windows with context_len 1 over F = [prefix] + ids
 * (N tokens after the prefix): the first window scores F[0 .. min(L, N)];
 * each next one predicts the following (up to) L tokens, ending at F[end],
 * after the L tokens before them. */
static void rolling_windows(const int *F, int N, int L, int owner, prompt **p, int *np) {
    for (int predicted = 0; predicted < N;) {
        int len = N - predicted < L ? N - predicted : L, end = predicted + len;
        int start = predicted == 0 ? 0 : end - L;
        *p = cj_xrealloc(*p, (size_t)(*np + 1) * sizeof **p);
        (*p)[(*np)++] = (prompt){http_ids_json(F + start, end + 1 - start), owner, owner, end + 1 - start, len, 0, 1};
        predicted = end;
    }
}

/* Rolling windows over the server's tokens: each text tokenized by its
 * /tokenize, which starts it with its BOS, the windows' prefix token. */
static int remote_rolling(http_runner *H, const char *const *texts, int n, prompt **p, int *np, cj_err *e) {
    const char **tx = cj_xcalloc((size_t)n + 1, sizeof *tx);
    size_t *lens = cj_xcalloc((size_t)n + 1, sizeof *lens);
    int **ids = cj_xcalloc((size_t)n + 1, sizeof *ids), *nids = cj_xcalloc((size_t)n + 1, sizeof *nids);
    for (int i = 0; i < n; i++) {
        tx[i] = texts[i] ? texts[i] : "";
        lens[i] = strlen(tx[i]);
    }
    int rc = http_remote_encode(H, tx, lens, n, ids, nids, e);
    for (int i = 0; i < n; i++) {
        if (rc == 0 && (nids[i] < 1 || ids[i][0] != H->remote_bos))
            rc = cj_fail(e, "loglikelihood_rolling: text %d: the server's /tokenize did not start it with BOS %d", i,
                         H->remote_bos);
        if (rc == 0) rolling_windows(ids[i], nids[i] - 1, H->max_length, i, p, np);
        free(ids[i]);
    }
    free(tx);
    free(lens);
    free(ids);
    free(nids);
    return rc;
}

int http_rolling(runner *r, const char *const *texts, int n, runner_rolling_result *out, runner_timing *timings,
                 cj_err *e) {
    http_runner *H = r->impl;
    memset(timings, 0, (size_t)n * sizeof *timings);
    if (H->chat) return http_no_chat_scoring(e);
    prompt *p = NULL;
    int np = 0, rc = 0, remote = !H->tok && H->remote_tok && H->remote_bos >= 0;
    if (remote) rc = remote_rolling(H, texts, n, &p, &np, e);
    for (int i = 0; rc == 0 && !remote && i < n; i++) {
        const char *t = texts[i] ? texts[i] : "";
        if (!H->tok) {
            p = cj_xrealloc(p, (size_t)(np + 1) * sizeof *p);
            p[np] = (prompt){.owner = i, .out = i};
            text_prompt("", t, &p[np++]);
            continue;
        }
        int *ids = NULL, nid = 0, pre = prefix_token(H->tok, e);
        if (pre < 0 || tok_encode(H->tok, t, strlen(t), 0, &ids, &nid, e)) {
            rc = cj_wrap(e, "loglikelihood_rolling: text %d", i);
            free(ids);
            break;
        }
        int *F = cj_xmalloc((size_t)(nid + 1) * sizeof *F);
        F[0] = pre;
        memcpy(F + 1, ids, (size_t)nid * sizeof *F);
        rolling_windows(F, nid, H->max_length, i, &p, &np);
        free(F);
        free(ids);
    }
    runner_ll_result *res = cj_xcalloc((size_t)(n ? n : 1), sizeof *res);
    if (rc == 0) rc = score_all(H, p, np, res, n, timings, e);
    for (int i = 0; rc == 0 && i < n; i++) out[i] = (runner_rolling_result){res[i].logprob, res[i].n_tokens};
    free(res);
    prompts_free(p, np);
    return rc;
}
