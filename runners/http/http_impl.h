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
    tokenizer *tok;     /* NULL: prompts go as text */
    int per_request;    /* scoring prompts per request */
    int max_length;
    int chat, stream;   /* runner_http_opts */
    runner_info info;
    char *path, *desc, *tok_desc; /* owned strings behind info */
} http_runner;

int http_loglikelihood(runner *r, const runner_ll_item *items, int n, runner_ll_result *out, runner_timing *timings,
                       cj_err *e);
int http_rolling(runner *r, const char *const *texts, int n, runner_rolling_result *out, runner_timing *timings,
                 cj_err *e);
int http_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out, runner_timing *timings,
                  cj_err *e);

/* http_calls.c: a list of token ids as JSON; a JSON value dumped compactly and released. */
struct json_t;
struct json_t *http_ids_json(const int *ids, int n);
char *http_dump(struct json_t *j);

#endif
