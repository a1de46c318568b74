/* http_tokenize — the server's own tokenizer, when no --tokenizer is given:
 * POST /tokenize at the server's root (beside /v1), which vLLM, SGLang,
 * llama.cpp's server and `chaejeom serve` have. One body serves them all:
 * vLLM and chaejeom read "prompt" and "add_special_tokens", llama.cpp's
 * server "content" and "add_special"; each ignores the others' fields.
 * The reply's "tokens" must be a list of non-negative integers. BOS is
 * whatever the server adds with its special tokens on, as its
 * /v1/completions does for a text prompt.
 *
 * With it, scoring prompts go as token ids cut at lm-eval's boundary
 * (http_calls.c), as with a local tokenizer; without it (404, or a reply
 * that is not a token list) they go as text, as before. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http_impl.h"

/* The path of /tokenize from an endpoint "…/v1": libcurl resolves the dot
 * segment, so the pool's "endpoint + path" reaches the server's root. */
static const char *tokenize_path(const http_runner *H) {
    const char *ep = http_pool_endpoint(H->pool, 0);
    size_t n = strlen(ep);
    return n >= 3 && !strcmp(ep + n - 3, "/v1") ? "/../tokenize" : "/tokenize";
}

static char *tokenize_body(const http_runner *H, const char *text, size_t len) {
    json_t *t = json_stringn(text, len);
    if (!t) t = json_string(""); /* invalid UTF-8: never sent broken */
    return http_dump(json_pack("{s:s, s:O, s:o, s:b, s:b}", "model", H->model, "prompt", t, "content", t,
                               "add_special_tokens", 1, "add_special", 1));
}

static int read_tokens(const char *body, size_t len, int **ids, int *n, cj_err *e) {
    json_t *root = json_loadb(body ? body : "", len, 0, NULL), *t = json_object_get(root, "tokens");
    int rc = 0;
    *ids = NULL;
    *n = 0;
    if (!json_is_array(t) || json_array_size(t) > (1u << 24)) rc = cj_fail(e, "/tokenize: no 'tokens' list in the reply");
    else {
        *ids = cj_xmalloc((json_array_size(t) + 1) * sizeof **ids);
        for (size_t i = 0; rc == 0 && i < json_array_size(t); i++) {
            json_t *v = json_array_get(t, i);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
                rc = cj_fail(e, "/tokenize: tokens[%zu] is not a token id", i);
            else (*ids)[(*n)++] = (int)json_integer_value(v);
        }
    }
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    json_decref(root);
    return rc;
}

/* The ids of text from endpoint 0, asked once; 0 or -1. */
static int ask_one(http_runner *H, const char *text, int **ids, int *n) {
    char *body = tokenize_body(H, text, strlen(text)), *reply = NULL;
    size_t len = 0;
    cj_err e;
    int rc = http_pool_one(H->pool, 0, tokenize_path(H), body, &reply, &len, &e) ? -1 : read_tokens(reply, len, ids, n, &e);
    free(reply);
    free(body);
    return rc;
}

int http_remote_probe(http_runner *H) {
    int *ids = NULL, n = 0, ok = ask_one(H, "a", &ids, &n) == 0 && n > 0;
    free(ids);
    ids = NULL;
    H->remote_bos = -1;
    if (ok && ask_one(H, "", &ids, &n) == 0 && n == 1) H->remote_bos = ids[0];
    free(ids);
    return ok;
}

int http_remote_encode(http_runner *H, const char *const *texts, const size_t *lens, int n, int **ids, int *nids,
                       cj_err *e) {
    http_job *jobs = cj_xcalloc((size_t)(n ? n : 1), sizeof *jobs);
    const char *path = tokenize_path(H);
    for (int i = 0; i < n; i++) {
        jobs[i] = (http_job){.path = path, .body = tokenize_body(H, texts[i], lens[i])};
        ids[i] = NULL;
    }
    int rc = http_pool_run(H->pool, jobs, n, e);
    for (int i = 0; rc == 0 && i < n; i++)
        if (read_tokens(jobs[i].reply, jobs[i].reply_len, &ids[i], &nids[i], e))
            rc = cj_wrap(e, "%s", http_pool_endpoint(H->pool, jobs[i].endpoint));
    for (int i = 0; i < n; i++) {
        free((char *)jobs[i].body);
        free(jobs[i].reply);
        if (rc) {
            free(ids[i]);
            ids[i] = NULL;
        }
    }
    free(jobs);
    return rc;
}
