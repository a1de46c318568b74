/* http_impl — what http.c (opening, identity) and http_calls.c (the three
 * runner calls) share. Private to runners/http/. */
#ifndef CJ_HTTP_IMPL_H
#define CJ_HTTP_IMPL_H

#include "../runner.h"
#include "../transformer/tokenizer/tokenizer.h"
#include "http_client.h"

typedef struct {
    http_pool *pool;
    char *model;        /* the "model" field of every request */
    tokenizer *tok;     /* NULL: the server's /tokenize (remote_tok), else prompts go as text */
    int remote_tok;     /* 1: scoring prompts are token ids from the server's /tokenize */
    int remote_bos;     /* the token its /tokenize starts every text with; -1: none */
    int per_request;    /* scoring prompts per request */
    int max_length;
    int chat, stream, chat_prompts; /* runner_http_opts */
    long text_scored, text_spanned; /* choices scored from text prompts, and those whose context's end a
                                       server token spans (runner_http_text_boundaries) */
    runner_info info;
    char *path, *desc, *tok_desc; /* owned strings behind info */
} http_runner;

int http_loglikelihood(runner *r, const runner_ll_item *items, int n, runner_ll_result *out, runner_timing *timings,
                       cj_err *e);
int http_rolling(runner *r, const char *const *texts, int n, runner_rolling_result *out, runner_timing *timings,
                 cj_err *e);
int http_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out, runner_timing *timings,
                  cj_err *e);

/* http_calls.c: a context's ids with the local tokenizer: BOS per the
 * vocabulary, or, for chat renderings, the special tokens they hold read as
 * such and no BOS (as the local runner reads them). */
int http_encode(const http_runner *H, const char *s, size_t n, int **ids, int *nid, cj_err *e);
/* http_calls.c: a list of token ids as JSON; a JSON value dumped compactly and released. */
struct json_t;
struct json_t *http_ids_json(const int *ids, int n);
char *http_dump(struct json_t *j);

/* http_tokenize.c: 1 if the server's /tokenize answers with token ids (and
 * H->remote_bos set: what it gives for "" when that is one token, else -1);
 * ids[i] (malloc'd) of texts[i] (lens[i] bytes) from it, BOS as it adds one. */
int http_remote_probe(http_runner *H);
int http_remote_encode(http_runner *H, const char *const *texts, const size_t *lens, int n, int **ids, int *nids,
                       cj_err *e);

#endif
