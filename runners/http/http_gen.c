/* http_gen — generate over /v1/completions or /v1/chat/completions.
 *
 * One request per item, with stop, max_tokens, temperature, top_p and seed.
 * Completions: the prompt goes as ids with BOS when a tokenizer is given,
 * else as text. Chat (runner_http_opts.chat): the context is the JSON list
 * of messages the task built (task_chat.as_messages) and the server applies
 * its own template, as lm-eval's local-chat-completions sends it; stop
 * strings go at most 4 (OpenAI's limit; lm-eval sends stop[:4]) and every
 * one is applied here anyway. The text is cut again at the earliest stop
 * string, since servers differ on whether they include it.
 *
 * Streaming (runner_http_opts.stream): "stream": true, usage asked for in
 * the last chunk; the reply's events are read by http_sse, and the time to
 * the first chunk with text becomes the item's ttft_s (the harness records
 * it as prefill time, the rest as decode). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http_impl.h"
#include "http_reply.h"
#include "http_sse.h"

#define CHAT_MAX_STOPS 4

static json_t *stop_list(const runner_gen_item *it, int max) {
    json_t *stop = json_array();
    for (int s = 0; s < it->n_until && (int)json_array_size(stop) < max; s++)
        if (it->until[s] && *it->until[s]) json_array_append_new(stop, json_string(it->until[s]));
    return stop;
}

/* Sets the "prompt" or "messages" of an item's body b; -1 (e set) when it has none. */
static int gen_input(const http_runner *H, const runner_gen_item *it, json_t *b, cj_err *e) {
    const char *c = it->context ? it->context : "";
    if (H->chat) {
        json_t *m = json_loads(c, 0, NULL);
        if (!json_is_array(m) || json_array_size(m) == 0) {
            json_decref(m);
            return cj_fail(e, "the context is not a list of chat messages (/v1/chat/completions needs them)");
        }
        json_object_set_new(b, "messages", m);
        return 0;
    }
    if (!H->tok) {
        json_t *p = json_string(c);
        json_object_set_new(b, "prompt", p ? p : json_string("")); /* invalid UTF-8: never sent broken */
        return 0;
    }
    int *ids = NULL, nid = 0;
    if (http_encode(H, c, strlen(c), &ids, &nid, e)) return -1;
    json_object_set_new(b, "prompt", http_ids_json(ids, nid));
    free(ids);
    return 0;
}

static char *gen_body(const http_runner *H, const runner_gen_item *it, cj_err *e) {
    json_t *b = json_pack("{s:s, s:i, s:f, s:f, s:I}", "model", H->model, "max_tokens", it->max_tokens, "temperature",
                          (double)it->temperature, "top_p", it->top_p > 0 ? (double)it->top_p : 1.0, "seed",
                          (json_int_t)(it->seed & INT64_MAX));
    if (gen_input(H, it, b, e)) {
        json_decref(b);
        return NULL;
    }
    if (it->n_until > 0) json_object_set_new(b, "stop", stop_list(it, H->chat ? CHAT_MAX_STOPS : it->n_until));
    if (H->stream) {
        json_object_set_new(b, "stream", json_true());
        json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return http_dump(b);
}

/* Cuts text at the earliest stop string; 1 if one was found. */
static int cut_at_stop(char *text, const runner_gen_item *it) {
    char *best = NULL;
    for (int s = 0; s < it->n_until; s++) {
        char *m = it->until[s] && *it->until[s] ? strstr(text, it->until[s]) : NULL;
        if (m && (!best || m < best)) best = m;
    }
    if (best) *best = 0;
    return best != NULL;
}

/* The reply's text, finish_reason and usage, whichever form it has. */
static int read_reply(const http_runner *H, const http_job *j, char **text, char **finish, http_usage *u, cj_err *e) {
    size_t lead = j->reply ? strspn(j->reply, " \t\r\n") : 0;
    /* A server that ignores "stream" answers one JSON object: read it as such (no first-token time). */
    if (H->stream && !(j->reply && j->reply[lead] == '{')) {
        http_sse_reply r;
        int rc = http_sse_parse(j->reply, j->reply_len, H->chat, &r, e);
        *text = r.text, *finish = r.finish, *u = r.usage;
        r.text = r.finish = NULL;
        http_sse_reply_free(&r);
        return rc;
    }
    http_choice ch;
    if (H->chat ? http_reply_parse_chat(j->reply, j->reply_len, &ch, u, e)
                : http_reply_parse(j->reply, j->reply_len, 1, 0, &ch, u, e))
        return -1;
    *text = ch.text, *finish = ch.finish;
    ch.text = ch.finish = NULL;
    http_choices_free(&ch, 1);
    return 0;
}

static int gen_reply(const http_runner *H, const http_job *j, const runner_gen_item *it, runner_gen_result *out,
                     runner_timing *tm, cj_err *e) {
    char *text = NULL, *finish = NULL;
    http_usage u;
    if (read_reply(H, j, &text, &finish, &u, e)) {
        free(text);
        free(finish);
        return -1;
    }
    int stopped = cut_at_stop(text, it);
    out->text = text;
    out->n_tokens = u.completion_tokens > 0 ? (int)u.completion_tokens : 0;
    out->finish = stopped                                ? RUNNER_FINISH_STOP
                  : finish && !strcmp(finish, "length") ? RUNNER_FINISH_LENGTH
                                                         : RUNNER_FINISH_EOS;
    free(finish);
    *tm = (runner_timing){u.prompt_tokens > 0 ? (int)u.prompt_tokens : 0, out->n_tokens, j->wall_s, j->ttft_s};
    return 0;
}

int http_generate(runner *r, const runner_gen_item *items, int n, runner_gen_result *out, runner_timing *timings,
                  cj_err *e) {
    http_runner *H = r->impl;
    const char *path = H->chat ? "/chat/completions" : "/completions";
    memset(timings, 0, (size_t)n * sizeof *timings);
    memset(out, 0, (size_t)n * sizeof *out);
    http_job *jobs = cj_xcalloc((size_t)(n ? n : 1), sizeof *jobs);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        jobs[i] = (http_job){.path = path, .body = gen_body(H, &items[i], e), .stream = H->stream};
        if (!jobs[i].body) rc = cj_wrap(e, "generate: item %d", i);
    }
    if (rc == 0) rc = http_pool_run(H->pool, jobs, n, e);
    for (int i = 0; rc == 0 && i < n; i++)
        if (gen_reply(H, &jobs[i], &items[i], &out[i], &timings[i], e))
            rc = cj_wrap(e, "%s%s: item %d", http_pool_endpoint(H->pool, jobs[i].endpoint), path, i);
    for (int i = 0; i < n; i++) {
        free((char *)jobs[i].body);
        free(jobs[i].reply);
        if (rc) {
            free(out[i].text);
            out[i].text = NULL;
        }
    }
    free(jobs);
    return rc;
}
