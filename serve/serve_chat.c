/* serve_chat — POST /v1/chat/completions of `chaejeom serve`, and the body
 * of streamed replies (contract in serve_api.h).
 *
 * The messages are rendered with the model's own chat template (or the
 * --chat-template file) by the same Jinja engine and the same variables as
 * `chaejeom run --apply-chat-template` (task_chat_render: bos_token,
 * eos_token, add_generation_prompt, the date), and the rendering is
 * generated from as run reads it (serve_engine_generate_chat), so a chat
 * request and a local chat run give the same text. A template that raises
 * (e.g. "roles must alternate") is the client's 400. /tokenize with
 * messages renders the same way and answers the ids generation starts from,
 * so a client can see what its conversation became. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"
#include "serve_api_impl.h"

static void sse_event(sb *out, json_t *chunk) {
    char *s = json_dumps(chunk, JSON_COMPACT | JSON_REAL_PRECISION(17));
    sb_puts(out, "data: ");
    sb_puts(out, s ? s : "{}");
    sb_puts(out, "\n\n");
    free(s);
}

static void stamp(json_t *c, const serve_api *a, const char *id, const char *object, json_int_t now) {
    json_object_set_new(c, "id", json_string(id));
    json_object_set_new(c, "object", json_string(object));
    json_object_set_new(c, "created", json_integer(now));
    json_object_set_new(c, "model", serve_jstr(a->model_name));
}

char *serve_sse_body(const serve_api *a, const serve_req *r, const char *id, const char *object, json_t *chunks,
                     json_t *usage) {
    json_int_t now = (json_int_t)time(NULL);
    sb out;
    sb_init(&out);
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) {
        stamp(c, a, id, object, now);
        sse_event(&out, c);
    }
    if (r->include_usage) {
        json_t *u = json_pack("{s:[],s:O}", "choices", "usage", usage);
        stamp(u, a, id, object, now);
        sse_event(&out, u);
        json_decref(u);
    }
    sb_puts(&out, "data: [DONE]\n\n");
    json_decref(chunks);
    json_decref(usage);
    return sb_take(&out);
}

static json_t *delta_chunk(json_t *delta, const char *finish) {
    return json_pack("{s:[{s:i,s:o,s:o}]}", "choices", "index", 0, "delta", delta, "finish_reason",
                     finish ? json_string(finish) : json_null());
}

/* A token's UTF-8 bytes, as OpenAI lists them (a token may hold part of a character). */
static json_t *token_bytes(const char *t) {
    json_t *b = json_array();
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) json_array_append_new(b, json_integer(*p));
    return b;
}

static json_t *lp_entry(serve_engine *s, int id, float lp) {
    char *t = serve_token_text(s, id);
    json_t *j = json_pack("{s:o,s:o,s:o}", "token", serve_jstr(t), "logprob", serve_jlp(lp), "bytes", token_bytes(t));
    free(t);
    return j;
}

/* OpenAI's chat logprobs over the generated tokens: {"content": [{token,
 * logprob, bytes, top_logprobs: [{token, logprob, bytes}, ...]}]}. */
static json_t *chat_logprobs(serve_engine *s, const serve_choice *c, int k) {
    json_t *content = json_array();
    for (int t = c->n_prompt; t < c->n; t++) {
        json_t *entry = lp_entry(s, c->ids[t], c->sc.lp[t - 1]), *tops = json_array();
        for (int i = 0; i < k; i++) {
            size_t at = (size_t)(t - 1) * c->sc.k + i;
            if (c->sc.top_ids[at] >= 0) json_array_append_new(tops, lp_entry(s, c->sc.top_ids[at], c->sc.top_lps[at]));
        }
        json_object_set_new(entry, "top_logprobs", tops);
        json_array_append_new(content, entry);
    }
    return json_pack("{s:o}", "content", content);
}

/* The reply; lp (taken) the choice's logprobs or NULL. */
static char *chat_reply(const serve_api *a, const serve_req *r, const runner_gen_result *g, int n_prompt, json_t *lp,
                        int *sse) {
    static atomic_ulong counter;
    char id[40];
    snprintf(id, sizeof id, "chatcmpl-%lu", atomic_fetch_add(&counter, 1) + 1);
    const char *finish = g->finish == RUNNER_FINISH_LENGTH ? "length" : "stop";
    const char *text = g->text ? g->text : "";
    json_t *u = json_pack("{s:i,s:i,s:i}", "prompt_tokens", n_prompt, "completion_tokens", g->n_tokens, "total_tokens",
                          n_prompt + g->n_tokens);
    if (!lp) lp = json_null();
    if (r->stream) {
        json_t *chunks = json_array();
        json_array_append_new(chunks, delta_chunk(json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL));
        json_t *body = delta_chunk(json_pack("{s:o}", "content", serve_jstr(text)), NULL);
        json_object_set_new(json_array_get(json_object_get(body, "choices"), 0), "logprobs", lp);
        if (*text || !json_is_null(lp)) json_array_append_new(chunks, body);
        else json_decref(body);
        json_array_append_new(chunks, delta_chunk(json_object(), finish));
        *sse = 1;
        return serve_sse_body(a, r, id, "chat.completion.chunk", chunks, u);
    }
    json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", serve_jstr(text));
    json_t *choice = json_pack("{s:i,s:o,s:s,s:o}", "index", 0, "message", msg, "finish_reason", finish, "logprobs", lp);
    return serve_dump(json_pack("{s:s,s:s,s:I,s:o,s:[o],s:o}", "id", id, "object", "chat.completion", "created",
                                (json_int_t)time(NULL), "model", serve_jstr(a->model_name), "choices", choice, "usage", u));
}

/* The rendering of messages (compact JSON, as serve_req reads them); NULL with e set. */
static char *chat_render(const serve_api *a, const char *messages, cj_err *e) {
    json_t *msgs = json_loads(messages, 0, NULL);
    char *text = task_chat_render(a->chat, msgs, e);
    json_decref(msgs);
    return text;
}

/* Renders and generates: through the local runner, or, when log-probs are
 * asked for, greedily through the scoring path (the same tokens; their
 * log-probs those of the tokens generated, as /v1/completions gives them).
 * 0, or the HTTP status of the failure (e set). */
static int chat_generate(const serve_api *a, const serve_req *r, serve_choice *c, cj_err *e) {
    char *text = chat_render(a, r->messages, e);
    if (!text) return 400;
    int st = serve_engine_encode_chat(a->engine, text, &c->ids, &c->n, e) ? 400 : 0;
    c->n_prompt = c->n;
    int room = serve_engine_ctx_len(a->engine) - c->n;
    serve_req q = *r; /* a view with the max_tokens used: nothing in it is freed */
    q.max_tokens = r->max_tokens >= 0 ? r->max_tokens : room > 1 ? room : 1;
    runner_gen_item it = {.context = text, .until = (const char *const *)r->stop, .n_until = r->n_stop,
                          .max_tokens = q.max_tokens, .temperature = r->temperature, .top_p = r->top_p, .seed = r->seed};
    if (!st && q.max_tokens == 0) {
        c->gen.finish = RUNNER_FINISH_LENGTH; /* nothing asked for: nothing run */
    } else if (!st && r->logprobs >= 0) {
        st = serve_generate_greedy(a->engine, &q, c, e);
        if (!st && serve_engine_score(a->engine, c->ids, c->n, r->logprobs, &c->sc, e)) st = 500;
    } else if (!st && serve_engine_generate_chat(a->engine, &it, &c->gen, e)) {
        st = 500;
    }
    free(text);
    return st;
}

int serve_chat_completions(const serve_api *a, const char *body, size_t len, char **reply, int *sse) {
    if (!a->chat) return serve_error_reply(400, a->no_chat ? a->no_chat : "this model has no chat template", reply);
    cj_err e;
    serve_req r;
    if (serve_parse_chat(body, len, &r, &e)) return serve_error_reply(400, e.msg, reply);
    serve_choice c = {0};
    int st = chat_generate(a, &r, &c, &e);
    if (st) serve_error_reply(st, e.msg, reply);
    else *reply = chat_reply(a, &r, &c.gen, c.n_prompt, r.logprobs >= 0 ? chat_logprobs(a->engine, &c, r.logprobs) : NULL, sse);
    serve_choice_free(&c);
    serve_req_free(&r);
    return st ? st : 200;
}

int serve_chat_tokenize(const serve_api *a, const char *messages, char **reply) {
    if (!a->chat) return serve_error_reply(400, a->no_chat ? a->no_chat : "this model has no chat template", reply);
    cj_err e;
    int *ids = NULL, n = 0;
    char *text = chat_render(a, messages, &e);
    if (!text || serve_engine_encode_chat(a->engine, text, &ids, &n, &e)) {
        free(text);
        return serve_error_reply(400, e.msg, reply);
    }
    *reply = serve_tokens_reply(a->engine, ids, n);
    free(ids);
    free(text);
    return 200;
}
