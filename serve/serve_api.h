/* serve_api — the OpenAI-compatible routes of `chaejeom serve`, apart from
 * any HTTP library: a method, a path and a body in; a status and a JSON body
 * out.
 *
 *   POST /v1/completions   vLLM's semantics (serve_req.h), log-probs as "%.17g"
 *   POST /v1/chat/completions  the model's chat template over the messages, then
 *                          generation as `chaejeom run --apply-chat-template` (serve_chat.c)
 *   GET  /v1/models        the one model, named as the server was told
 *   POST /tokenize         {"tokens": [...], "count": n, "max_model_len": ctx}; of a text, or
 *                          (vLLM's chat form) of the rendering chat completions give messages
 *   POST /detokenize       {"prompt": text}
 *   GET  /tokenizer_info   eos_token, bos_token, ... (lm-eval's remote tokenizer)
 *   GET  /health           200, empty body
 *
 * With "stream": true, completions and chat completions answer as
 * server-sent events: the whole answer is generated first (the local
 * runner generates in batches, not token by token), then sent as chunks,
 * an optional usage chunk and "data: [DONE]".
 *
 * A bad request is a 4xx with {"error": {"message", "type", "code"}}; a failure
 * of the model a 500 of the same shape. Never a crash, whatever the body.
 *
 * Ownership: *reply is malloc'd, the caller frees it. Any number of threads
 * may handle requests at once. */
#ifndef CJ_SERVE_API_H
#define CJ_SERVE_API_H

#include <stddef.h>

#include "serve_engine.h"

#include "../tasks/task.h"

typedef struct {
    serve_engine *engine;
    const char *model_name; /* what /v1/models and replies call the model */
    const task_chat *chat;  /* what /v1/chat/completions renders; NULL: it answers 400 with no_chat */
    const char *no_chat;    /* why there is no template */
} serve_api;

/* Returns the HTTP status; *sse is 1 when *reply is server-sent events
 * ("stream": true), 0 when it is JSON (or empty). */
int serve_api_handle(const serve_api *a, const char *method, const char *path, const char *body, size_t len,
                     char **reply, int *sse);

#endif
