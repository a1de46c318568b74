/* serve_req — parses the JSON bodies `chaejeom serve` accepts, untrusted.
 *
 * serve_parse_completion reads a /v1/completions body with vLLM's semantics
 * for the fields lm-eval's local-completions and OpenAI clients send: prompt
 * as a string, a list of strings, a list of token ids or a list of lists of
 * ids; echo, logprobs, prompt_logprobs, max_tokens, temperature, top_p, seed,
 * stop (string or list), n (1 only), stream, stream_options, model (ignored). Unknown fields are
 * ignored, as OpenAI servers do. Token ids are checked against n_vocab.
 *
 * Ownership: the request owns its strings and arrays; release with
 * serve_req_free. Errors: -1 with a message naming the field at fault in *e
 * (the server answers it as a 400), never a crash on any bytes. */
#ifndef CJ_SERVE_REQ_H
#define CJ_SERVE_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* Bounds on what one request may ask for. */
#define SERVE_MAX_PROMPTS 1024
#define SERVE_MAX_STOPS 16
#define SERVE_MAX_LOGPROBS 20 /* vLLM's default max_logprobs (FWD_MAX_TOP_K) */

typedef struct {
    char *text; /* the prompt as text, or NULL when given as ids */
    int *ids;   /* the prompt as token ids (NULL when given as text) */
    int n_ids;
} serve_prompt;

typedef struct {
    serve_prompt *prompts;
    int n_prompts;
    int echo;
    int logprobs;        /* -1: none; else 0..SERVE_MAX_LOGPROBS alternatives per position */
    int prompt_logprobs; /* -1: none; else 0..SERVE_MAX_LOGPROBS */
    int max_tokens;      /* default 16, as vLLM */
    float temperature;   /* default 1, as OpenAI */
    float top_p;         /* default 1 */
    uint64_t seed;       /* 0 when absent */
    char **stop;
    int n_stop;
    int stream;        /* "stream": true: the reply goes as server-sent events */
    int include_usage; /* stream_options.include_usage: a last chunk with the usage */
    char *messages;    /* chat: the messages as compact JSON, each content made a string */
} serve_req;

int serve_parse_completion(const char *body, size_t len, int n_vocab, serve_req *out, cj_err *e);

/* A /v1/chat/completions body: messages (a non-empty list of objects with a
 * string role and a content that is a string, null, or a list of
 * {"type": "text", "text": ...} parts, joined with "\n" as vLLM does),
 * max_tokens (or max_completion_tokens; -1 when absent: the server's
 * choice), temperature, top_p, seed, stop, n (1 only), stream,
 * stream_options; logprobs (true or false) with top_logprobs (0..SERVE_MAX_LOGPROBS,
 * only with logprobs true) into r->logprobs: -1 when off, else the count. */
#define SERVE_MAX_MESSAGES 4096
int serve_parse_chat(const char *body, size_t len, serve_req *out, cj_err *e);
void serve_req_free(serve_req *r);

/* /tokenize: {"prompt": TEXT, "add_special_tokens": BOOL (default true)}; "content" (llama.cpp's
 * server's name) when there is no "prompt". Or vLLM's chat form, {"messages": [...]} read as
 * /v1/chat/completions reads them: *messages is their compact JSON, *text NULL and *add_special 0
 * (the chat route adds no BOS: the template writes what it wants), so add_special_tokens may only
 * be false and add_generation_prompt only true (the chat route's rendering). Both malloc'd. */
int serve_parse_tokenize(const char *body, size_t len, char **text, char **messages, int *add_special, cj_err *e);

/* /detokenize: {"tokens": [id, ...]} with ids in [0, n_vocab). *ids is malloc'd (NULL when empty). */
int serve_parse_detokenize(const char *body, size_t len, int n_vocab, int **ids, int *n, cj_err *e);

#endif
