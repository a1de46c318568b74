/* http_sse — see http_sse.h. */
#include "http_sse.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/sb.h"

void http_sse_reply_free(http_sse_reply *r) {
    free(r->text);
    free(r->finish);
    memset(r, 0, sizeof *r);
}

/* The next line of b[*at, len): its bytes [*start, *end); *at moves past its
 * terminator (\n, \r\n or \r). 0 at the end; *complete is 0 for a last line
 * with no terminator (still arriving, or cut). */
static int next_line(const char *b, size_t len, size_t *at, size_t *start, size_t *end, int *complete) {
    if (*at >= len) return 0;
    size_t i = *at;
    while (i < len && b[i] != '\n' && b[i] != '\r') i++;
    *start = *at;
    *end = i;
    *complete = i < len;
    if (i < len && b[i] == '\r' && i + 1 < len && b[i + 1] == '\n') i++;
    *at = i < len ? i + 1 : i;
    return 1;
}

/* The value of a "data:" line (one optional space after the colon), or NULL. */
static const char *data_value(const char *line, size_t n, size_t *vlen) {
    if (n < 5 || memcmp(line, "data:", 5)) return NULL;
    size_t k = n > 5 && line[5] == ' ' ? 6 : 5;
    *vlen = n - k;
    return line + k;
}

/* The text a chunk's choice carries: choices[i].text, or .delta.content for chat. */
static json_t *choice_text(json_t *ch, int chat) {
    return chat ? json_object_get(json_object_get(ch, "delta"), "content") : json_object_get(ch, "text");
}

static int take_choices(json_t *choices, int chat, int k, sb *text, http_sse_reply *out, cj_err *e) {
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch) {
        json_t *ix = json_object_get(ch, "index"), *t = choice_text(ch, chat), *fin = json_object_get(ch, "finish_reason");
        if (!json_is_object(ch)) return cj_fail(e, "stream chunk %d: choices[%zu] is not an object", k, i);
        if (ix && (!json_is_integer(ix) || json_integer_value(ix) != 0))
            return cj_fail(e, "stream chunk %d: choices[%zu].index is not 0 (one choice was asked for)", k, i);
        if (t && !json_is_null(t) && !json_is_string(t))
            return cj_fail(e, "stream chunk %d: choices[%zu].%s is not a string", k, i, chat ? "delta.content" : "text");
        if (json_is_string(t)) sb_putn(text, json_string_value(t), json_string_length(t));
        if (json_is_string(fin)) {
            free(out->finish);
            out->finish = cj_xstrdup(json_string_value(fin));
        }
    }
    return 0;
}

static int take_chunk(const char *d, size_t n, int chat, sb *text, http_sse_reply *out, cj_err *e) {
    json_error_t je;
    int k = out->chunks++;
    json_t *root = json_loadb(d, n, JSON_REJECT_DUPLICATES, &je), *choices = json_object_get(root, "choices");
    int rc = 0;
    if (!json_is_object(root)) rc = cj_fail(e, "stream chunk %d: not a JSON object (%.60s)", k, root ? "" : je.text);
    else if (json_object_get(root, "error")) {
        json_t *err = json_object_get(root, "error"), *msg = json_is_object(err) ? json_object_get(err, "message") : err;
        rc = cj_fail(e, "the server answered an error mid-stream: %.300s", json_is_string(msg) ? json_string_value(msg) : "?");
    } else if (choices && !json_is_array(choices)) rc = cj_fail(e, "stream chunk %d: 'choices' is not an array", k);
    else rc = take_choices(choices, chat, k, text, out, e);
    if (rc == 0 && json_is_object(json_object_get(root, "usage"))) http_usage_read(json_object_get(root, "usage"), &out->usage);
    json_decref(root);
    return rc;
}

/* Dispatches an event's data: 1 at [DONE], 0 to go on, -1 on an error. */
static int dispatch(sb *data, int chat, sb *text, http_sse_reply *out, cj_err *e) {
    if (!data->len) return 0;
    int rc = data->len == 6 && !memcmp(data->s, "[DONE]", 6) ? 1 : take_chunk(data->s, data->len, chat, text, out, e);
    sb_clear(data);
    return rc;
}

static int parse_lines(const char *body, size_t len, int chat, sb *data, sb *text, http_sse_reply *out, cj_err *e) {
    size_t at = 0, s, t, vlen;
    int complete, rc = 0;
    while (rc == 0 && next_line(body, len, &at, &s, &t, &complete)) {
        if (s == t) {
            rc = dispatch(data, chat, text, out, e);
            continue;
        }
        const char *v = data_value(body + s, t - s, &vlen);
        if (!v) continue; /* a comment, or a field we do not use */
        if (data->len) sb_putc(data, '\n');
        sb_putn(data, v, vlen);
    }
    if (rc == 0) rc = dispatch(data, chat, text, out, e); /* an event the body ends in without a blank line */
    return rc;
}

int http_sse_parse(const char *body, size_t len, int chat, http_sse_reply *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    out->usage = (http_usage){-1, -1};
    sb data, text;
    sb_init(&data);
    sb_init(&text);
    int rc = parse_lines(body ? body : "", body ? len : 0, chat, &data, &text, out, e);
    if (rc == 0) rc = cj_fail(e, "stream ended without 'data: [DONE]' after %d chunks (cut short?)", out->chunks);
    out->text = text.s ? sb_take(&text) : cj_xstrdup("");
    sb_free(&text);
    sb_free(&data);
    return rc < 0 ? -1 : 0;
}

/* 1 if a chunk's first choice carries text (a cheap look, no checks). */
static int has_text(const char *d, size_t n) {
    json_t *root = json_loadb(d, n, 0, NULL), *ch = json_array_get(json_object_get(root, "choices"), 0);
    json_t *t = json_is_string(json_object_get(ch, "text")) ? json_object_get(ch, "text")
                                                            : json_object_get(json_object_get(ch, "delta"), "content");
    int yes = json_is_string(t) && json_string_length(t) > 0;
    json_decref(root);
    return yes;
}

int http_sse_first_text(const char *body, size_t len, size_t *scan) {
    size_t at = *scan, s, t, vlen;
    int complete;
    while (next_line(body, len, &at, &s, &t, &complete) && complete) {
        *scan = at;
        const char *v = data_value(body + s, t - s, &vlen);
        if (v && !(vlen == 6 && !memcmp(v, "[DONE]", 6)) && has_text(v, vlen)) return 1;
    }
    return 0;
}
