/* http_reply — see http_reply.h. Servers differ in what they fill in
 * (vLLM, llama.cpp's server, SGLang, TGI's OpenAI layer): fields we do not
 * need are ignored, fields we need are checked before they are used. */
#include "http_reply.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/sb.h"

#define MAX_OFFSET_LEAD 4 /* a dummy-prefix space, in characters, with room; more is not a lead */

void http_choices_free(http_choice *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].lp);
        free(c[i].top_max);
        free(c[i].offset);
        free(c[i].text);
        free(c[i].finish);
        memset(&c[i], 0, sizeof c[i]);
    }
}

/* The largest value of one top_logprobs entry: an object {token: lp} (vLLM,
 * OpenAI) or an array of {"logprob": lp} objects (llama.cpp's newer form). */
static int top_max(json_t *top, int ci, int t, double *out, cj_err *e) {
    *out = NAN;
    if (json_is_null(top)) return 0;
    double best = -INFINITY;
    int any = 0;
    if (json_is_object(top)) {
        const char *k;
        json_t *v;
        json_object_foreach(top, k, v) {
            if (!json_is_number(v)) return cj_fail(e, "choices[%d].logprobs.top_logprobs[%d]['%.40s']: not a number", ci, t, k);
            double x = json_number_value(v);
            if (x > best) best = x;
            any = 1;
        }
    } else if (json_is_array(top)) {
        size_t i;
        json_t *v;
        json_array_foreach(top, i, v) {
            json_t *lp = json_is_object(v) ? json_object_get(v, "logprob") : NULL;
            if (!json_is_number(lp)) return cj_fail(e, "choices[%d].logprobs.top_logprobs[%d][%zu]: no logprob", ci, t, i);
            double x = json_number_value(lp);
            if (x > best) best = x;
            any = 1;
        }
    } else {
        return cj_fail(e, "choices[%d].logprobs.top_logprobs[%d]: expected an object", ci, t);
    }
    if (any) *out = best;
    return 0;
}

/* Characters (code points, as Python and text_offset count them) of a UTF-8 string. */
static long code_points(const char *s) {
    long k = 0;
    for (; *s; s++) k += ((unsigned char)*s & 0xc0) != 0x80;
    return k;
}

/* Where the last token ends in the offsets' text: its offset plus its length.
 * Only the lead reads it, so a reply without usable token texts leaves it
 * unknown (-1) rather than failing: scoring does not need them. */
static long last_token_end(json_t *lps, const http_choice *c) {
    json_t *toks = json_object_get(lps, "tokens"), *last = json_array_get(toks, (size_t)c->n - 1);
    if (!c->offset || c->n < 1 || json_array_size(toks) != (size_t)c->n || !json_is_string(last)) return -1;
    long len = code_points(json_string_value(last));
    return c->offset[c->n - 1] <= LONG_MAX - len ? c->offset[c->n - 1] + len : -1; /* an offset past reason: unknown */
}

static int parse_logprobs(json_t *lps, int ci, http_choice *c, cj_err *e) {
    json_t *tl = json_object_get(lps, "token_logprobs"), *top = json_object_get(lps, "top_logprobs"),
           *off = json_object_get(lps, "text_offset");
    if (!json_is_array(tl)) return cj_fail(e, "choices[%d].logprobs.token_logprobs: missing or not an array", ci);
    if (!json_is_array(top)) return cj_fail(e, "choices[%d].logprobs.top_logprobs: missing or not an array", ci);
    size_t n = json_array_size(tl);
    if (n > (1u << 24)) return cj_fail(e, "choices[%d].logprobs: %zu tokens is too many", ci, n);
    if (json_array_size(top) != n)
        return cj_fail(e, "choices[%d].logprobs: %zu top_logprobs for %zu token_logprobs", ci, json_array_size(top), n);
    if (off && !json_is_null(off) && (!json_is_array(off) || json_array_size(off) != n))
        return cj_fail(e, "choices[%d].logprobs.text_offset: expected an array of %zu offsets", ci, n);
    c->n = (int)n;
    c->lp = cj_xmalloc((n ? n : 1) * sizeof *c->lp);
    c->top_max = cj_xmalloc((n ? n : 1) * sizeof *c->top_max);
    if (json_is_array(off)) c->offset = cj_xmalloc((n ? n : 1) * sizeof *c->offset);
    for (size_t t = 0; t < n; t++) {
        json_t *v = json_array_get(tl, t);
        if (json_is_null(v)) c->lp[t] = NAN;
        else if (json_is_number(v) && isfinite(json_number_value(v))) c->lp[t] = json_number_value(v);
        else return cj_fail(e, "choices[%d].logprobs.token_logprobs[%zu]: not a number or null", ci, t);
        if (top_max(json_array_get(top, t), ci, (int)t, &c->top_max[t], e)) return -1;
        if (c->offset) {
            json_t *o = json_array_get(off, t);
            if (!json_is_integer(o) || json_integer_value(o) < 0)
                return cj_fail(e, "choices[%d].logprobs.text_offset[%zu]: not an offset", ci, t);
            c->offset[t] = (long)json_integer_value(o);
        }
    }
    c->last_end = last_token_end(lps, c);
    return 0;
}

static int parse_choice(json_t *ch, int ci, int want_logprobs, http_choice *c, cj_err *e) {
    json_t *text = json_object_get(ch, "text"), *fin = json_object_get(ch, "finish_reason"),
           *lps = json_object_get(ch, "logprobs");
    if (text && !json_is_string(text) && !json_is_null(text))
        return cj_fail(e, "choices[%d].text: not a string", ci);
    c->text = cj_xstrdup(json_is_string(text) ? json_string_value(text) : "");
    c->last_end = -1;
    if (json_is_string(fin)) c->finish = cj_xstrdup(json_string_value(fin));
    if (!want_logprobs) return 0;
    if (!json_is_object(lps)) return cj_fail(e, "choices[%d].logprobs: missing (does the server support echo?)", ci);
    return parse_logprobs(lps, ci, c, e);
}

static long usage_field(const json_t *usage, const char *key) {
    json_t *v = json_object_get(usage, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

void http_usage_read(const json_t *usage, http_usage *u) {
    u->prompt_tokens = usage_field(usage, "prompt_tokens");
    u->completion_tokens = usage_field(usage, "completion_tokens");
}

/* A server's own error object ({"error": {"message": ...}}) as the message. */
static int server_error(json_t *root, cj_err *e) {
    json_t *err = json_object_get(root, "error");
    json_t *msg = json_is_object(err) ? json_object_get(err, "message") : err;
    if (json_is_string(msg)) return cj_fail(e, "the server answered an error: %.300s", json_string_value(msg));
    return cj_fail(e, "no 'choices' array in the reply");
}

static int parse_choices(json_t *root, int n_prompts, int want_logprobs, http_choice *out, cj_err *e) {
    json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) return server_error(root, e);
    if (json_array_size(choices) != (size_t)n_prompts)
        return cj_fail(e, "%zu choices for %d prompts", json_array_size(choices), n_prompts);
    char *seen = cj_xcalloc((size_t)n_prompts, 1);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_prompts; i++) {
        json_t *ch = json_array_get(choices, (size_t)i), *ix = json_object_get(ch, "index");
        if (!json_is_object(ch)) {
            rc = cj_fail(e, "choices[%d]: not an object", i);
            break;
        }
        json_int_t k = ix ? (json_is_integer(ix) ? json_integer_value(ix) : -1) : i;
        if (k < 0 || k >= n_prompts || seen[k])
            rc = cj_fail(e, "choices[%d].index: expected a distinct index in [0, %d)", i, n_prompts);
        else {
            seen[k] = 1;
            rc = parse_choice(ch, i, want_logprobs, &out[k], e);
        }
    }
    free(seen);
    return rc;
}

/* A chat reply as a completions reply: message.content becomes the text. */
static json_t *chat_as_completion(json_t *root) {
    json_t *choices = json_object_get(root, "choices");
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        json_t *msg = json_object_get(ch, "message"), *c = json_object_get(msg, "content");
        if (json_is_object(ch) && json_is_object(msg)) json_object_set(ch, "text", c ? c : json_null());
        else if (json_is_object(ch)) json_object_set_new(ch, "text", json_integer(0)); /* refused below */
    }
    return root;
}

static int parse_body(const char *body, size_t len, int n_prompts, int want_logprobs, int chat, http_choice *out,
                      http_usage *usage, cj_err *e) {
    memset(out, 0, (size_t)n_prompts * sizeof *out);
    *usage = (http_usage){-1, -1};
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &je);
    if (!root) return cj_fail(e, "reply is not JSON (line %d: %s)", je.line, je.text);
    int rc = !json_is_object(root) ? cj_fail(e, "reply is not a JSON object")
                                   : parse_choices(chat ? chat_as_completion(root) : root, n_prompts, want_logprobs, out, e);
    if (rc == 0) http_usage_read(json_object_get(root, "usage"), usage);
    else http_choices_free(out, n_prompts);
    if (rc && chat && strstr(e->msg, ".text: not a string")) cj_wrap(e, "chat reply: choices[].message.content");
    json_decref(root);
    return rc;
}

int http_reply_parse(const char *body, size_t len, int n_prompts, int want_logprobs, http_choice *out,
                     http_usage *usage, cj_err *e) {
    return parse_body(body, len, n_prompts, want_logprobs, 0, out, usage, e);
}

int http_reply_parse_chat(const char *body, size_t len, http_choice *out, http_usage *usage, cj_err *e) {
    return parse_body(body, len, 1, 0, 1, out, usage, e);
}

/* Adds tokens [from, to) of a choice: each needs a log-prob and a top entry. */
static int sum_tokens(const http_choice *c, int from, int to, runner_ll_result *out, cj_err *e) {
    double sum = 0;
    int greedy = 1;
    for (int t = from; t < to; t++) {
        if (isnan(c->lp[t])) return cj_fail(e, "token_logprobs[%d]: null inside the scored tokens", t);
        if (isnan(c->top_max[t])) return cj_fail(e, "top_logprobs[%d]: empty inside the scored tokens", t);
        sum += c->lp[t];
        greedy &= c->lp[t] >= c->top_max[t];
    }
    *out = (runner_ll_result){sum, to - from, greedy};
    return 0;
}

int http_score_ids(const http_choice *c, int n_prompt, int n_cont, runner_ll_result *out, cj_err *e) {
    if (n_cont < 0 || (n_cont > 0 && n_cont >= n_prompt))
        return cj_fail(e, "%d continuation tokens in a prompt of %d", n_cont, n_prompt);
    if (c->n != n_prompt && c->n != n_prompt + 1)
        return cj_fail(e, "%d tokens echoed for a prompt of %d token ids", c->n, n_prompt);
    return sum_tokens(c, n_prompt - n_cont, n_prompt, out, e);
}

/* Characters the server's offsets run ahead of the prompt's: llama-cpp-python
 * counts them in its detokenized prompt, which starts with SentencePiece's
 * dummy-prefix space. The echoed text (prompt + generated text) and the
 * echoed tokens end at the same character, so the last token's end less the
 * text's length is the lead, generated token or not: llama-cpp-python
 * echoes none when it samples EOS for max_tokens 1, and reading the last
 * prompt token as the generated one gave a lead of 0 there, cutting the
 * continuation one token early (33 of 318 HellaSwag / ARC choices on
 * stories260K). Without the token texts: the generated token after the
 * prompt sits at that text's end, so its offset less prompt_len. */
static long offset_lead(const http_choice *c, long prompt_len, int n_generated) {
    long lead = c->last_end >= 0 ? c->last_end - code_points(c->text ? c->text : "") : -1;
    if (lead >= 0 && lead <= MAX_OFFSET_LEAD) return lead;
    if (n_generated < 1 || c->n <= n_generated) return 0;
    lead = c->offset[c->n - n_generated] - prompt_len;
    return lead > 0 && lead <= MAX_OFFSET_LEAD ? lead : 0;
}

int http_text_boundary_spanned(const http_choice *c, long prompt_len, long cont_from) {
    if (!c->offset || cont_from <= 0) return 0;
    long lead = offset_lead(c, prompt_len, 1);
    for (int t = 0; t < c->n && c->offset[t] < prompt_len + lead; t++)
        if (c->offset[t] == cont_from + lead) return 0;
    return 1;
}

int http_score_text(const http_choice *c, long prompt_len, long cont_from, runner_ll_result *out, cj_err *e) {
    if (!c->offset) return cj_fail(e, "no logprobs.text_offset: text prompts need it (or give --tokenizer)");
    int from = -1, to = 0;
    long lead = offset_lead(c, prompt_len, 1);
    cont_from += lead;
    prompt_len += lead;
    for (int t = 0; t < c->n; t++) {
        if (t > 0 && c->offset[t] < c->offset[t - 1]) return cj_fail(e, "text_offset[%d]: goes backwards", t);
        if (c->offset[t] >= prompt_len) break;
        to = t + 1;
        if (from < 0 && c->offset[t] >= cont_from && (cont_from > 0 || !isnan(c->lp[t]))) from = t;
    }
    if (from < 0) from = to;
    if (from == 0 && cont_from > 0) return cj_fail(e, "the continuation starts at the first token: no context");
    return sum_tokens(c, from, to, out, e);
}

/* --- /v1/models -------------------------------------------------------------------- */

static char *model_desc(json_t *m) {
    json_t *d = json_object();
    const char *keys[] = {"id", "root", "max_model_len"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(m, keys[i]);
        if (json_is_string(v) || json_is_integer(v)) json_object_set(d, keys[i], v);
    }
    char *s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    if (!s) abort();
    return s;
}

static void list_ids(json_t *data, sb *ids) {
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m) {
        json_t *id = json_object_get(m, "id");
        if (json_is_string(id)) sb_printf(ids, "%s'%.80s'", ids->len ? ", " : "", json_string_value(id));
    }
}

int http_models_find(const char *body, size_t len, const char *model, char **desc, char **id_out, cj_err *e) {
    *desc = NULL;
    if (id_out) *id_out = NULL;
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &je);
    if (!root) return cj_fail(e, "/models reply is not JSON (line %d: %s)", je.line, je.text);
    json_t *data = json_object_get(root, "data"), *found = NULL;
    int rc = 0;
    if (!json_is_array(data)) {
        rc = cj_fail(e, "/models reply has no 'data' array");
    } else if (!model) {
        json_t *id = json_object_get(json_array_get(data, 0), "id");
        if (json_array_size(data) != 1 || !json_is_string(id)) {
            sb ids;
            sb_init(&ids);
            list_ids(data, &ids);
            rc = cj_fail(e, "the server lists %zu models (%s): name one with --model-name", json_array_size(data), ids.s);
            sb_free(&ids);
        } else {
            found = json_array_get(data, 0);
            if (id_out) *id_out = cj_xstrdup(json_string_value(id));
        }
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(data, i, m) {
            json_t *id = json_object_get(m, "id");
            if (json_is_string(id) && !strcmp(json_string_value(id), model)) found = m;
        }
        if (!found) {
            sb ids;
            sb_init(&ids);
            list_ids(data, &ids);
            rc = cj_fail(e, "model '%s' is not served (the server lists: %s)", model, ids.len ? ids.s : "none");
            sb_free(&ids);
        }
    }
    if (found) *desc = model_desc(found);
    json_decref(root);
    return rc;
}
