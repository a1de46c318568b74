/* http_sse — reading a streamed (`"stream": true`) completions or chat
 * completions reply: server-sent events, each "data: {json chunk}", ended
 * by "data: [DONE]".
 *
 * The body is untrusted: lines may end in \n, \r\n or \r; comments (":")
 * and other fields (event:, id:, retry:) are skipped; an event's several
 * data lines are joined with \n, as the SSE specification says. A chunk that
 * is not a JSON object, a choice with another index than 0, a text that is
 * not a string, an {"error": ...} event, or a stream that ends without
 * [DONE] (a connection cut mid-answer) gives -1 with a message, never a
 * crash; nothing after [DONE] is read.
 *
 * Ownership: http_sse_parse fills *out with malloc'd strings that
 * http_sse_reply_free releases (also after a failure). */
#ifndef CJ_HTTP_SSE_H
#define CJ_HTTP_SSE_H

#include <stddef.h>

#include "../../common/err.h"
#include "http_reply.h"

typedef struct {
    char *text;   /* the chunks' text (completions) or delta.content (chat), joined; "" when none */
    char *finish; /* the last finish_reason given; NULL when none */
    http_usage usage;
    int chunks;   /* JSON chunks read */
} http_sse_reply;

/* chat: chunks are chat.completion.chunk (choices[0].delta.content). */
int http_sse_parse(const char *body, size_t len, int chat, http_sse_reply *out, cj_err *e);
void http_sse_reply_free(http_sse_reply *r);

/* For timing the first token while the body arrives: scans the complete
 * lines of body[*scan, len) (advancing *scan past them) for a data line
 * whose chunk carries a non-empty text or delta.content; 1 once one is
 * found. Never fails: a line it cannot read is left to http_sse_parse. */
int http_sse_first_text(const char *body, size_t len, size_t *scan);

#endif
