/* serve_api — the OpenAI-compatible routes of `chaejeom serve`, apart from
 * any HTTP library: a method, a path and a body in; a status and a JSON body
 * out.
 *
 *   POST /v1/completions   vLLM's semantics (serve_req.h), log-probs as "%.17g"
 *   GET  /v1/models        the one model, named as the server was told
 *   POST /tokenize         {"tokens": [...], "count": n, "max_model_len": ctx}
 *   POST /detokenize       {"prompt": text}
 *   GET  /tokenizer_info   eos_token, bos_token, ... (lm-eval's remote tokenizer)
 *   GET  /health           200, empty body
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

/* Returns the HTTP status. */
int serve_api_handle(serve_engine *s, const char *model_name, const char *method, const char *path, const char *body,
                     size_t len, char **reply);

#endif
