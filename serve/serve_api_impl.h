/* serve_api_impl — what serve_api.c (completions, tokenizer routes) and
 * serve_chat.c (chat completions, server-sent events) share. Private to
 * serve/. */
#ifndef CJ_SERVE_API_IMPL_H
#define CJ_SERVE_API_IMPL_H

#include <jansson.h>

#include "serve_api.h"
#include "serve_req.h"

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
