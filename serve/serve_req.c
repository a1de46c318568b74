/* serve_req — request bodies of `chaejeom serve` (contract in serve_req.h). */
#include "serve_req.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

static int load(const char *body, size_t len, json_t **root, cj_err *e) {
    json_error_t je;
    *root = json_loadb(body ? body : "", len, 0, &je);
    if (!*root) return cj_fail(e, "request body: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        return cj_fail(e, "request body: not a JSON object");
    }
    return 0;
}

static int is_id_list(const json_t *a) { return json_is_array(a) && json_array_size(a) > 0 && json_is_integer(json_array_get(a, 0)); }

/* A JSON list of token ids into ids (n of them, caller-allocated); what names the list in messages. */
static int fill_ids(const json_t *a, int n_vocab, int *ids, const char *what, cj_err *e) {
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v)) return cj_fail(e, "%s[%zu]: not an integer token id", what, i);
        json_int_t id = json_integer_value(v);
        if (id < 0 || id >= n_vocab)
            return cj_fail(e, "%s[%zu]: token id %lld outside the vocabulary [0, %d)", what, i, (long long)id, n_vocab);
        ids[i] = (int)id;
    }
    return 0;
}

static int read_ids(const json_t *a, int n_vocab, serve_prompt *p, int idx, cj_err *e) {
    size_t n = json_array_size(a);
    if (n == 0) return cj_fail(e, "prompt[%d]: empty list of token ids", idx);
    if (n > (size_t)1 << 24) return cj_fail(e, "prompt[%d]: %zu token ids, more than 2^24", idx, n);
    p->ids = cj_xmalloc(n * sizeof *p->ids);
    p->n_ids = (int)n;
    char what[32];
    snprintf(what, sizeof what, "prompt[%d]", idx);
    return fill_ids(a, n_vocab, p->ids, what, e);
}

static int read_prompt(const json_t *v, int n_vocab, serve_prompt *p, int idx, cj_err *e) {
    if (json_is_string(v)) {
        p->text = cj_xstrndup(json_string_value(v), json_string_length(v));
        return 0;
    }
    if (json_is_array(v)) return read_ids(v, n_vocab, p, idx, e);
    return cj_fail(e, "prompt[%d]: neither a string nor a list of token ids", idx);
}

/* prompt: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] */
static int read_prompts(const json_t *root, int n_vocab, serve_req *r, cj_err *e) {
    const json_t *p = json_object_get(root, "prompt");
    if (!p) return cj_fail(e, "prompt: missing");
    if (json_is_string(p) || is_id_list(p)) {
        r->prompts = cj_xcalloc(1, sizeof *r->prompts);
        r->n_prompts = 1;
        return read_prompt(p, n_vocab, &r->prompts[0], 0, e);
    }
    if (!json_is_array(p) || json_array_size(p) == 0) return cj_fail(e, "prompt: not a string or a non-empty list");
    size_t n = json_array_size(p);
    if (n > SERVE_MAX_PROMPTS) return cj_fail(e, "prompt: %zu prompts, more than %d", n, SERVE_MAX_PROMPTS);
    r->prompts = cj_xcalloc(n, sizeof *r->prompts);
    r->n_prompts = (int)n;
    for (size_t i = 0; i < n; i++)
        if (read_prompt(json_array_get(p, i), n_vocab, &r->prompts[i], (int)i, e)) return -1;
    return 0;
}

/* An optional number field in [lo, hi]; null counts as absent. */
static int opt_real(const json_t *root, const char *key, double lo, double hi, double *out, cj_err *e) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return cj_fail(e, "%s: not a number", key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return cj_fail(e, "%s: %g outside [%g, %g]", key, x, lo, hi);
    *out = x;
    return 0;
}

static int opt_int(const json_t *root, const char *key, int lo, int hi, int *out, cj_err *e) {
    const json_t *v = json_object_get(root, key);
    if (v && !json_is_null(v) && !json_is_integer(v)) return cj_fail(e, "%s: not an integer", key);
    double x = *out;
    if (opt_real(root, key, lo, hi, &x, e)) return -1;
    *out = (int)x;
    return 0;
}

static int opt_float(const json_t *root, const char *key, double lo, double hi, float *out, cj_err *e) {
    double x = *out;
    if (opt_real(root, key, lo, hi, &x, e)) return -1;
    *out = (float)x;
    return 0;
}

static int opt_bool(const json_t *root, const char *key, int *out, cj_err *e) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return cj_fail(e, "%s: not true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int add_stop(serve_req *r, const json_t *s, cj_err *e) {
    if (!json_is_string(s) || json_string_length(s) == 0) return cj_fail(e, "stop: not a non-empty string");
    if (r->n_stop >= SERVE_MAX_STOPS) return cj_fail(e, "stop: more than %d strings", SERVE_MAX_STOPS);
    if (!r->stop) r->stop = cj_xcalloc(SERVE_MAX_STOPS, sizeof *r->stop);
    r->stop[r->n_stop++] = cj_xstrndup(json_string_value(s), json_string_length(s));
    return 0;
}

static int read_stop(const json_t *root, serve_req *r, cj_err *e) {
    const json_t *v = json_object_get(root, "stop");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) return add_stop(r, v, e);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (add_stop(r, json_array_get(v, i), e)) return -1;
    return 0;
}

static int read_seed(const json_t *root, serve_req *r, cj_err *e) {
    const json_t *v = json_object_get(root, "seed");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return cj_fail(e, "seed: not an integer");
    r->seed = (uint64_t)json_integer_value(v);
    return 0;
}

/* logprobs: vLLM takes an integer; chat-style `true` means 0 alternatives. */
static int read_logprobs(const json_t *root, const char *key, int *out, cj_err *e) {
    const json_t *v = json_object_get(root, key);
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? 0 : -1;
        return 0;
    }
    return opt_int(root, key, 0, SERVE_MAX_LOGPROBS, out, e);
}

static int read_stream(const json_t *root, serve_req *r, cj_err *e) {
    const json_t *so = json_object_get(root, "stream_options");
    if (opt_bool(root, "stream", &r->stream, e)) return -1;
    if (so && !json_is_null(so) && !json_is_object(so)) return cj_fail(e, "stream_options: not an object");
    return opt_bool(so, "include_usage", &r->include_usage, e);
}

/* What completions and chat share: sampling, stops, n, stream. */
static int read_common(const json_t *root, serve_req *r, cj_err *e) {
    int n = 1;
    if (opt_int(root, "n", 1, 1, &n, e) || opt_int(root, "best_of", 1, 1, &n, e) ||
        opt_int(root, "max_tokens", 0, 1 << 20, &r->max_tokens, e) ||
        opt_float(root, "temperature", 0, 100, &r->temperature, e) || opt_float(root, "top_p", 0, 1, &r->top_p, e) ||
        read_seed(root, r, e) || read_stop(root, r, e) || read_stream(root, r, e))
        return -1;
    if (r->top_p <= 0) return cj_fail(e, "top_p: must be above 0");
    return 0;
}

static int read_fields(const json_t *root, int n_vocab, serve_req *r, cj_err *e) {
    return read_prompts(root, n_vocab, r, e) || opt_bool(root, "echo", &r->echo, e) ||
                   read_logprobs(root, "logprobs", &r->logprobs, e) ||
                   read_logprobs(root, "prompt_logprobs", &r->prompt_logprobs, e) || read_common(root, r, e)
               ? -1
               : 0;
}

int serve_parse_completion(const char *body, size_t len, int n_vocab, serve_req *out, cj_err *e) {
    *out = (serve_req){.logprobs = -1, .prompt_logprobs = -1, .max_tokens = 16, .temperature = 1, .top_p = 1};
    json_t *root;
    if (load(body, len, &root, e)) return -1;
    int rc = read_fields(root, n_vocab, out, e);
    json_decref(root);
    if (rc) serve_req_free(out);
    return rc;
}

/* A message's content as one string: a string, null (""), or text parts joined with "\n". */
static json_t *content_text(const json_t *c, int i, cj_err *e) {
    if (!c || json_is_null(c)) return json_string("");
    if (json_is_string(c)) return json_copy((json_t *)c);
    if (!json_is_array(c)) return cj_fail(e, "messages[%d].content: not a string or a list of parts", i), NULL;
    sb t;
    sb_init(&t);
    for (size_t k = 0; k < json_array_size(c); k++) {
        const json_t *part = json_array_get(c, k), *type = json_object_get(part, "type"), *txt = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(txt)) {
            sb_free(&t);
            return cj_fail(e, "messages[%d].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are served", i, k), NULL;
        }
        if (k) sb_putc(&t, '\n');
        sb_putn(&t, json_string_value(txt), json_string_length(txt));
    }
    json_t *r = json_stringn(t.s ? t.s : "", t.len);
    sb_free(&t);
    return r ? r : (cj_fail(e, "messages[%d].content: not UTF-8", i), NULL);
}

/* The messages, each content made a string, as compact JSON in r->messages. */
static int read_messages(const json_t *root, serve_req *r, cj_err *e) {
    const json_t *m = json_object_get(root, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0) return cj_fail(e, "messages: missing, or not a non-empty list");
    if (json_array_size(m) > SERVE_MAX_MESSAGES) return cj_fail(e, "messages: more than %d", SERVE_MAX_MESSAGES);
    json_t *out = json_array();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(m); i++) {
        const json_t *msg = json_array_get(m, i);
        json_t *c = NULL;
        if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "role")))
            rc = cj_fail(e, "messages[%zu]: not an object with a string role", i);
        else if (!(c = content_text(json_object_get(msg, "content"), (int)i, e))) rc = -1;
        else {
            json_t *copy = json_deep_copy(msg);
            json_object_set_new(copy, "content", c);
            json_array_append_new(out, copy);
        }
    }
    if (rc == 0 && !(r->messages = json_dumps(out, JSON_COMPACT))) rc = cj_fail(e, "messages: cannot be encoded");
    json_decref(out);
    return rc;
}

static int read_chat(const json_t *root, serve_req *r, cj_err *e) {
    /* OpenAI's chat form: logprobs true, top_logprobs the alternatives */
    int on = 0, k = 0;
    if (opt_bool(root, "logprobs", &on, e) || opt_int(root, "top_logprobs", 0, SERVE_MAX_LOGPROBS, &k, e)) return -1;
    const json_t *tk = json_object_get(root, "top_logprobs");
    if (!on && tk && !json_is_null(tk)) return cj_fail(e, "top_logprobs: needs logprobs true");
    r->logprobs = on ? k : -1;
    if (read_messages(root, r, e) || read_common(root, r, e)) return -1;
    return json_object_get(root, "max_completion_tokens") ? opt_int(root, "max_completion_tokens", 0, 1 << 20, &r->max_tokens, e)
                                                          : 0;
}

int serve_parse_chat(const char *body, size_t len, serve_req *out, cj_err *e) {
    *out = (serve_req){.logprobs = -1, .prompt_logprobs = -1, .max_tokens = -1, .temperature = 1, .top_p = 1};
    json_t *root;
    if (load(body, len, &root, e)) return -1;
    int rc = read_chat(root, out, e);
    json_decref(root);
    if (rc) serve_req_free(out);
    return rc;
}

void serve_req_free(serve_req *r) {
    for (int i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->messages);
    free(r->prompts);
    free(r->stop);
    memset(r, 0, sizeof *r);
}

/* The chat form of /tokenize: what /v1/chat/completions would render and generate from. */
static int read_tokenize_chat(const json_t *root, char **messages, cj_err *e) {
    serve_req r = {0};
    int gen = 1, special = 0;
    if (read_messages(root, &r, e) || opt_bool(root, "add_generation_prompt", &gen, e) ||
        opt_bool(root, "add_special_tokens", &special, e)) {
        serve_req_free(&r);
        return -1;
    }
    if (!gen || special) {
        serve_req_free(&r);
        return cj_fail(e, "%s", !gen ? "add_generation_prompt: only true is served with messages (as chat completions render)"
                                     : "add_special_tokens: only false is served with messages (the template writes its own)");
    }
    *messages = r.messages;
    return 0;
}

int serve_parse_tokenize(const char *body, size_t len, char **text, char **messages, int *add_special, cj_err *e) {
    *text = NULL;
    *messages = NULL;
    *add_special = 1;
    json_t *root;
    if (load(body, len, &root, e)) return -1;
    if (json_object_get(root, "messages")) {
        *add_special = 0;
        int rc = json_object_get(root, "prompt") ? cj_fail(e, "prompt and messages: one or the other")
                                                 : read_tokenize_chat(root, messages, e);
        json_decref(root);
        return rc;
    }
    const json_t *p = json_object_get(root, "prompt");
    if (!p) p = json_object_get(root, "content"); /* llama.cpp's server's name for it */
    int rc = 0;
    if (!json_is_string(p)) rc = cj_fail(e, "prompt: missing or not a string");
    else rc = opt_bool(root, "add_special_tokens", add_special, e);
    if (rc == 0) *text = cj_xstrndup(json_string_value(p), json_string_length(p));
    json_decref(root);
    return rc;
}

int serve_parse_detokenize(const char *body, size_t len, int n_vocab, int **ids, int *n, cj_err *e) {
    *ids = NULL;
    *n = 0;
    json_t *root;
    if (load(body, len, &root, e)) return -1;
    const json_t *t = json_object_get(root, "tokens");
    size_t k = json_array_size(t);
    int rc = 0;
    if (!json_is_array(t)) rc = cj_fail(e, "tokens: missing or not a list");
    else if (k > (size_t)1 << 24) rc = cj_fail(e, "tokens: %zu ids, more than 2^24", k);
    else if (k > 0) {
        *ids = cj_xmalloc(k * sizeof **ids);
        rc = fill_ids(t, n_vocab, *ids, "tokens", e);
        *n = (int)k;
    }
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    json_decref(root);
    return rc;
}
