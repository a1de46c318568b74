/* http_args — see http_args.h. Prints its own messages (cli/ only). */
#include "http_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int http_args_is_url(const char *model) {
    return !strncmp(model, "http://", 7) || !strncmp(model, "https://", 8);
}

/* A number in [lo, hi] or -1 with a message. */
static int number(const char *name, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    *out = strtod(val, &end);
    if (!errno && end != val && !*end && *out >= lo && *out <= hi) return 0;
    fprintf(stderr, "chaejeom run: %s: expected a number in [%g, %g], got '%s'\n", name, lo, hi, val);
    return -1;
}

int http_args_take(const char *name, const char *val, runner_http_opts *o) {
    double v;
    if (!strcmp(name, "--model-name")) o->model_name = val;
    else if (!strcmp(name, "--api-key-env")) o->api_key_env = val;
    else if (!strcmp(name, "--concurrency")) {
        if (number(name, val, 1, 4096, &v)) return -1;
        o->concurrency = (int)v;
    } else if (!strcmp(name, "--prompts-per-request")) {
        if (number(name, val, 1, 4096, &v)) return -1;
        o->prompts_per_request = (int)v;
    } else if (!strcmp(name, "--timeout")) {
        if (number(name, val, 0.001, 86400, &o->timeout_s)) return -1;
    } else if (!strcmp(name, "--retries")) {
        if (number(name, val, 0, 100, &v)) return -1;
        o->retries = (int)v;
    } else if (!strcmp(name, "--retry-delay")) {
        if (number(name, val, 0.001, 60, &o->backoff_s)) return -1;
    } else if (!strcmp(name, "--max-length")) {
        if (number(name, val, 1, 1 << 24, &v)) return -1;
        o->max_length = (int)v;
    } else return 0;
    return 1;
}

void http_args_usage(FILE *f) {
    fputs("\na model on an OpenAI-compatible server (-m http[s]://HOST[:PORT]/v1[,URL2,...]):\n"
          "      --model-name NAME  the served model (default: the one /v1/models lists)\n"
          "      --tokenizer PATH   send prompts as token ids from this tokenizer (default: as text)\n"
          "      --concurrency N    requests in flight (default 4), spread over the endpoints\n"
          "      --prompts-per-request N  scoring prompts per request (default 1)\n"
          "      --timeout S        per request (default 600)\n"
          "      --retries N        on connection errors, timeouts, 429 and 5xx (default 5)\n"
          "      --retry-delay S    first retry delay, doubled each time, with jitter (default 0.5)\n"
          "      --max-length N     with --tokenizer: truncation and rolling window (default 2048)\n"
          "      --api-key-env VAR  the API key's variable (default OPENAI_API_KEY)\n"
          "      --stream           stream generations (SSE), recording the time to the first token\n"
          "      --apply-chat-template (no FILE): generate through /v1/chat/completions, the server\n"
          "                         applying its own template (log-likelihood tasks are then refused)\n"
          "without --tokenizer, prompts go as token ids from the server's /tokenize when it has one.\n",
          f);
}
