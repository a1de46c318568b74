/* serve_api — the routes of `chaejeom serve` (contract in serve_api.h). */
#include "serve_api.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../metrics/textmetrics.h"
#include "serve_api_impl.h"

/* 17 significant digits: every float log-prob reads back as the same double. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

json_t *serve_jstr(const char *s) {
    char *v = tm_utf8_sanitize(s ? s : "");
    json_t *j = json_string(v);
    free(v);
    return j;
}

json_t *serve_jlp(double v) {
    json_t *j = json_real(v); /* NULL for -inf, which JSON cannot hold */
    return j ? j : json_null();
}

char *serve_dump(json_t *j) {
    char *s = json_dumps(j, DUMP_FLAGS);
    json_decref(j);
    return s;
}

int serve_error_reply(int status, const char *msg, char **reply) {
    json_t *err = json_pack("{s:o,s:s,s:i}", "message", serve_jstr(msg), "type",
                            status >= 500 ? "internal_server_error" : "invalid_request_error", "code", status);
    *reply = serve_dump(json_pack("{s:o}", "error", err));
    return status;
}

char *serve_token_text(serve_engine *s, int id) {
    sb b;
    sb_init(&b);
    serve_engine_decode(s, &id, 1, 0, &b);
    char *t = sb_take(&b);
    return t ? t : cj_xstrdup("");
}

void serve_choice_free(serve_choice *c) {
    free(c->ids);
    free(c->prompt_text);
    free(c->gen.text);
    serve_scores_free(&c->sc);
}

/* Returns 0, or the HTTP status of the failure (e filled). */
static int prepare(serve_engine *s, const serve_prompt *p, int idx, serve_choice *c, cj_err *e) {
    if (p->ids) {
        int bos = serve_engine_bos(s);
        c->hidden = serve_engine_add_bos(s) && bos >= 0 && p->ids[0] != bos;
        c->n = p->n_ids + c->hidden;
        c->ids = cj_xmalloc((size_t)c->n * sizeof *c->ids);
        c->ids[0] = bos;
        memcpy(c->ids + c->hidden, p->ids, (size_t)p->n_ids * sizeof *c->ids);
        sb b;
        sb_init(&b);
        serve_engine_decode(s, c->ids, c->n, 1, &b);
        c->prompt_text = sb_take(&b);
        if (!c->prompt_text) c->prompt_text = cj_xstrdup("");
    } else {
        if (serve_engine_encode(s, p->text, strlen(p->text), 1, &c->ids, &c->n, e)) return 400;
        c->prompt_text = cj_xstrdup(p->text);
    }
    c->n_prompt = c->n;
    if (c->n > SERVE_MAX_PROMPT_TOKENS) {
        cj_fail(e, "prompt[%d]: %d tokens, more than %d", idx, c->n, SERVE_MAX_PROMPT_TOKENS);
        return 400;
    }
    return 0;
}

/* Cuts the text at the earliest stop string; 1 if one was found. */
static int cut_at_stop(char *text, const serve_req *r) {
    char *cut = NULL;
    for (int i = 0; i < r->n_stop; i++) {
        char *p = strstr(text, r->stop[i]);
        if (p && (!cut || p < cut)) cut = p;
    }
    if (cut) *cut = 0;
    return cut != NULL;
}

/* Greedy tokens appended to c->ids one by one, so that their log-probs are
 * those of the very tokens generated (re-tokenizing the text would not be). */
int serve_generate_greedy(serve_engine *s, const serve_req *r, serve_choice *c, cj_err *e) {
    if (r->temperature > 0) {
        cj_fail(e, "logprobs: with max_tokens > 0, only greedy generation (temperature 0) is served");
        return 400;
    }
    c->gen.finish = RUNNER_FINISH_LENGTH;
    int cap = c->n + r->max_tokens, eos = serve_engine_eos(s);
    if (c->n < 1 || cap > SERVE_MAX_PROMPT_TOKENS) {
        cj_fail(e, "prompt: empty, or max_tokens past %d tokens in all", SERVE_MAX_PROMPT_TOKENS);
        return 400;
    }
    c->ids = cj_xrealloc(c->ids, (size_t)cap * sizeof *c->ids);
    sb text;
    sb_init(&text);
    while (c->n < cap) {
        int tok;
        if (serve_engine_greedy_next(s, c->ids, c->n, &tok, e)) {
            sb_free(&text);
            return 500;
        }
        /* EOS is a generated token (with its log-prob, as vLLM gives it) but no text. */
        c->ids[c->n++] = tok;
        c->gen.n_tokens++;
        if (tok == eos) {
            c->gen.finish = RUNNER_FINISH_EOS;
            break;
        }
        sb_clear(&text);
        serve_engine_decode(s, c->ids + c->n_prompt, c->n - c->n_prompt, 0, &text);
        if (cut_at_stop(text.s, r)) {
            c->gen.finish = RUNNER_FINISH_STOP;
            break;
        }
    }
    c->gen.text = sb_take(&text);
    return 0;
}

static int generate(serve_engine *s, const serve_req *r, serve_choice *c, cj_err *e) {
    if (r->logprobs >= 0) return serve_generate_greedy(s, r, c, e);
    runner_gen_item it = {.context = c->prompt_text, .until = (const char *const *)r->stop, .n_until = r->n_stop,
                          .max_tokens = r->max_tokens, .temperature = r->temperature, .top_p = r->top_p,
                          .seed = r->seed};
    return serve_engine_generate(s, &it, &c->gen, e) ? 500 : 0;
}

/* Adds token id's text -> lp to d unless that text is a key already (two
 * ids can read alike; the first, the actual token's, keeps its value). */
static void dict_add(serve_engine *s, json_t *d, int id, float lp) {
    char *tok = serve_token_text(s, id);
    char *v = tm_utf8_sanitize(tok);
    if (!json_object_get(d, v)) json_object_set_new(d, v, serve_jlp(lp));
    free(v);
    free(tok);
}

/* OpenAI's top_logprobs at position t: the actual token, then the k most
 * likely (vLLM's and llama-cpp-python's k + 1 entries at most). */
static json_t *top_dict(serve_engine *s, const serve_choice *c, int t, int k) {
    json_t *d = json_object();
    dict_add(s, d, c->ids[t], c->sc.lp[t - 1]);
    for (int i = 0; i < k; i++) {
        size_t at = (size_t)(t - 1) * c->sc.k + i;
        if (c->sc.top_ids[at] >= 0) dict_add(s, d, c->sc.top_ids[at], c->sc.top_lps[at]);
    }
    return d;
}

/* OpenAI's completion logprobs over tokens [from, n). */
static json_t *logprobs_obj(serve_engine *s, const serve_choice *c, int from, int k) {
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t off = 0;
    for (int t = from; t < c->n; t++) {
        char *tok = serve_token_text(s, c->ids[t]);
        json_array_append_new(toks, serve_jstr(tok));
        json_array_append_new(offs, json_integer((json_int_t)off));
        for (const char *q = tok; *q; q++) off += ((unsigned char)*q & 0xc0) != 0x80; /* characters, as vLLM counts */
        free(tok);
        json_array_append_new(lps, t == 0 ? json_null() : serve_jlp(c->sc.lp[t - 1]));
        json_array_append_new(tops, t == 0 ? json_null() : top_dict(s, c, t, k));
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset",
                     offs);
}

static json_t *prompt_entry(serve_engine *s, int id, double lp, int rank) {
    char *tok = serve_token_text(s, id);
    json_t *j = json_pack("{s:o,s:o,s:o}", "logprob", serve_jlp(lp), "rank", json_integer(rank),
                          "decoded_token", serve_jstr(tok));
    free(tok);
    return j;
}

/* vLLM's prompt_logprobs: null, then {"<id>": {logprob, rank, decoded_token}}
 * per position: the prompt's token, then the k most likely. */
static json_t *prompt_logprobs_obj(serve_engine *s, const serve_choice *c, int k) {
    json_t *a = json_array();
    if (!c->hidden) json_array_append_new(a, json_null());
    for (int t = 1; t < c->n_prompt; t++) {
        json_t *d = json_object();
        char key[16];
        snprintf(key, sizeof key, "%d", c->ids[t]);
        json_object_set_new(d, key, prompt_entry(s, c->ids[t], c->sc.lp[t - 1], c->sc.rank[t - 1]));
        for (int i = 0; i < k; i++) {
            size_t at = (size_t)(t - 1) * c->sc.k + i;
            int id = c->sc.top_ids[at];
            snprintf(key, sizeof key, "%d", id);
            if (id >= 0 && !json_object_get(d, key))
                json_object_set_new(d, key, prompt_entry(s, id, c->sc.top_lps[at], i + 1));
        }
        json_array_append_new(a, d);
    }
    return a;
}

static const char *finish_name(const serve_choice *c, int max_tokens) {
    if (max_tokens == 0) return "length";
    return c->gen.finish == RUNNER_FINISH_LENGTH ? "length" : "stop";
}

static json_t *choice_obj(serve_engine *s, const serve_req *r, const serve_choice *c, int idx) {
    sb text;
    sb_init(&text);
    if (r->echo) sb_puts(&text, c->prompt_text);
    if (c->gen.text) sb_puts(&text, c->gen.text);
    char *t = sb_take(&text);
    json_t *j = json_pack("{s:i,s:o,s:s}", "index", idx, "text", serve_jstr(t), "finish_reason", finish_name(c, r->max_tokens));
    free(t);
    /* each list its own count of alternatives, out of the larger one scored */
    json_object_set_new(j, "logprobs",
                        r->logprobs < 0 ? json_null() : logprobs_obj(s, c, r->echo ? c->hidden : c->n_prompt, r->logprobs));
    if (r->prompt_logprobs >= 0) json_object_set_new(j, "prompt_logprobs", prompt_logprobs_obj(s, c, r->prompt_logprobs));
    return j;
}

static int one_prompt(serve_engine *s, const serve_req *r, int idx, json_t *choices, int usage[2], cj_err *e) {
    serve_choice c = {0};
    int st = prepare(s, &r->prompts[idx], idx, &c, e);
    if (!st && r->max_tokens > 0) st = generate(s, r, &c, e);
    int want = r->prompt_logprobs >= 0 || (r->logprobs >= 0 && (r->echo || c.n > c.n_prompt));
    int k = r->logprobs > r->prompt_logprobs ? r->logprobs : r->prompt_logprobs;
    if (!st && want && serve_engine_score(s, c.ids, c.n, k < 0 ? 0 : k, &c.sc, e)) st = 500;
    if (!st) {
        json_array_append_new(choices, choice_obj(s, r, &c, idx));
        usage[0] += c.n_prompt - c.hidden;
        usage[1] += c.gen.n_tokens;
    }
    serve_choice_free(&c);
    return st;
}

static int completions(const serve_api *a, const char *body, size_t len, char **reply, int *sse) {
    static atomic_ulong counter;
    serve_engine *s = a->engine;
    cj_err e;
    serve_req r;
    if (serve_parse_completion(body, len, serve_engine_n_vocab(s), &r, &e)) return serve_error_reply(400, e.msg, reply);
    json_t *choices = json_array();
    int usage[2] = {0, 0}, st = 0;
    for (int i = 0; i < r.n_prompts && !st; i++) st = one_prompt(s, &r, i, choices, usage, &e);
    if (st) {
        serve_req_free(&r);
        json_decref(choices);
        return serve_error_reply(st, e.msg, reply);
    }
    char id[32];
    snprintf(id, sizeof id, "cmpl-%lu", atomic_fetch_add(&counter, 1) + 1);
    json_t *u = json_pack("{s:i,s:i,s:i}", "prompt_tokens", usage[0], "completion_tokens", usage[1], "total_tokens",
                          usage[0] + usage[1]);
    if (r.stream) { /* one chunk per choice, whole */
        json_t *chunks = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(choices, i, c) json_array_append_new(chunks, json_pack("{s:[O]}", "choices", c));
        json_decref(choices);
        *reply = serve_sse_body(a, &r, id, "text_completion", chunks, u);
        *sse = 1;
    } else {
        *reply = serve_dump(json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", id, "object", "text_completion", "created",
                                      (json_int_t)time(NULL), "model", a->model_name, "choices", choices, "usage", u));
    }
    serve_req_free(&r);
    return 200;
}

char *serve_tokens_reply(const serve_engine *s, const int *ids, int n) {
    json_t *t = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(t, json_integer(ids[i]));
    return serve_dump(json_pack("{s:o,s:i,s:i}", "tokens", t, "count", n, "max_model_len", serve_engine_ctx_len(s)));
}

static int tokenize(const serve_api *api, const char *body, size_t len, char **reply) {
    serve_engine *s = api->engine;
    cj_err e;
    char *text, *messages;
    int add_special, *ids = NULL, n = 0;
    if (serve_parse_tokenize(body, len, &text, &messages, &add_special, &e) == 0 && messages) {
        int st = serve_chat_tokenize(api, messages, reply);
        free(messages);
        return st;
    }
    if (!text || serve_engine_encode(s, text, strlen(text), add_special, &ids, &n, &e)) {
        free(text);
        return serve_error_reply(400, e.msg, reply);
    }
    *reply = serve_tokens_reply(s, ids, n);
    free(ids);
    free(text);
    return 200;
}

static int detokenize(serve_engine *s, const char *body, size_t len, char **reply) {
    cj_err e;
    int *ids, n;
    if (serve_parse_detokenize(body, len, serve_engine_n_vocab(s), &ids, &n, &e)) return serve_error_reply(400, e.msg, reply);
    sb b;
    sb_init(&b);
    serve_engine_decode(s, ids, n, 0, &b);
    *reply = serve_dump(json_pack("{s:o}", "prompt", serve_jstr(b.s)));
    sb_free(&b);
    free(ids);
    return 200;
}

static json_t *piece_or_null(serve_engine *s, int id) {
    const char *p = serve_engine_piece(s, id);
    return p ? serve_jstr(p) : json_null();
}

/* What lm-eval's remote tokenizer reads (vLLM's /tokenizer_info). */
static int tokenizer_info(serve_engine *s, char **reply) {
    *reply = serve_dump(json_pack("{s:o,s:o,s:n,s:i,s:s}", "eos_token", piece_or_null(s, serve_engine_eos(s)), "bos_token",
                            piece_or_null(s, serve_engine_bos(s)), "pad_token", "model_max_length",
                            serve_engine_ctx_len(s), "tokenizer_class", "chaejeom"));
    return 200;
}

static int models(serve_engine *s, const char *name, char **reply) {
    json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:i}", "id", name, "object", "model", "created", (json_int_t)time(NULL),
                          "owned_by", "chaejeom", "max_model_len", serve_engine_ctx_len(s));
    *reply = serve_dump(json_pack("{s:s,s:[o]}", "object", "list", "data", m));
    return 200;
}

int serve_api_handle(const serve_api *a, const char *method, const char *path, const char *body, size_t len,
                     char **reply, int *sse) {
    serve_engine *s = a->engine;
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    *sse = 0;
    if (!strcmp(path, "/health")) {
        if (!get) return serve_error_reply(405, "/health: use GET", reply);
        *reply = cj_xstrdup("");
        return 200;
    }
    if (!strcmp(path, "/v1/models")) return get ? models(s, a->model_name, reply) : serve_error_reply(405, "/v1/models: use GET", reply);
    if (!strcmp(path, "/tokenize")) return post ? tokenize(a, body, len, reply) : serve_error_reply(405, "/tokenize: use POST", reply);
    if (!strcmp(path, "/detokenize"))
        return post ? detokenize(s, body, len, reply) : serve_error_reply(405, "/detokenize: use POST", reply);
    if (!strcmp(path, "/tokenizer_info")) return get ? tokenizer_info(s, reply) : serve_error_reply(405, "/tokenizer_info: use GET", reply);
    if (!strcmp(path, "/v1/completions"))
        return post ? completions(a, body, len, reply, sse) : serve_error_reply(405, "/v1/completions: use POST", reply);
    if (!strcmp(path, "/v1/chat/completions"))
        return post ? serve_chat_completions(a, body, len, reply, sse)
                    : serve_error_reply(405, "/v1/chat/completions: use POST", reply);
    char msg[400];
    snprintf(msg, sizeof msg, "%.200s: no such route (served: /v1/completions, /v1/chat/completions, /v1/models, /tokenize, /detokenize, /tokenizer_info, /health)", path);
    return serve_error_reply(404, msg, reply);
}
