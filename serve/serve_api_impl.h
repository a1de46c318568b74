/* serve_api_impl — what serve_api.c (completions, tokenizer routes) and
 * serve_chat.c (chat completions, server-sent events) share. Private to
 * serve/. */
#ifndef CJ_SERVE_API_IMPL_H
#define CJ_SERVE_API_IMPL_H

#include <jansson.h>

#include "serve_api.h"
#include "serve_engine.h"
#include "serve_req.h"

/* One prompt's tokens: the prompt's, then the generated text's. */
typedef struct {
    int *ids;
    int n, n_prompt;
    int hidden; /* 1: ids[0] is a BOS the client did not send (--add-bos), scored from but not echoed */
    char *prompt_text;
    runner_gen_result gen;
    serve_scores sc;
} serve_choice;

void serve_choice_free(serve_choice *c);

/* Greedy tokens appended to c->ids one by one through the scoring path (so
 * their log-probs are those of the very tokens generated), up to
 * r->max_tokens, EOS or a stop string (the text cut there). Refuses
 * temperature > 0. 0, or the HTTP status of the failure (e filled). */
int serve_generate_greedy(serve_engine *s, const serve_req *r, serve_choice *c, cj_err *e);

/* A token's text (malloc'd; may be part of a UTF-8 character). */
char *serve_token_text(serve_engine *s, int id);
/* A log-prob as JSON: null for -inf, which JSON cannot hold. */
json_t *serve_jlp(double v);

/* A JSON string of s, invalid UTF-8 replaced (a token's text may be a part of a character). */
json_t *serve_jstr(const char *s);
/* j dumped with 17 significant digits and released; malloc'd. */
char *serve_dump(json_t *j);
/* /tokenize's reply: {"tokens": ids, "count": n, "max_model_len"}; malloc'd. */
char *serve_tokens_reply(const serve_engine *s, const int *ids, int n);
/* {"error": {...}} in *reply; returns status. */
int serve_error_reply(int status, const char *msg, char **reply);

/* The SSE body of a streamed reply: one "data:" event per chunk in chunks
 * (released), then the usage chunk when asked for, then [DONE]. Each chunk
 * gets id, object, created and model. */
char *serve_sse_body(const serve_api *a, const serve_req *r, const char *id, const char *object, json_t *chunks,
                     json_t *usage);

/* POST /v1/chat/completions (serve_chat.c). */
int serve_chat_completions(const serve_api *a, const char *body, size_t len, char **reply, int *sse);
/* POST /tokenize with messages (serve_chat.c): the ids chat completions generate from. */
int serve_chat_tokenize(const serve_api *a, const char *messages, char **reply);

#endif
