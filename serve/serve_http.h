/* serve_http — `chaejeom serve`'s HTTP/1.1 server, over libmicrohttpd.
 *
 * libmicrohttpd does the HTTP (request lines, headers, keep-alive, chunked
 * bodies, slow or broken clients); this module reads each request's body,
 * hands it to serve_api and sends the JSON back. Each connection has its own
 * thread (at most 256 connections), so requests are handled concurrently and
 * the engine folds their scoring into shared forward calls. A body over
 * max_body bytes is answered 413 without being kept.
 *
 * Ownership: the engine, the model name and the chat template must outlive the server;
 * serve_http_stop closes the socket and joins the thread. Errors: -1 with a
 * message naming the address in *e (bad host, port in use). */
#ifndef CJ_SERVE_HTTP_H
#define CJ_SERVE_HTTP_H

#include <stddef.h>

#include "serve_api.h"

typedef struct {
    const char *host;       /* a numeric address or a name; "127.0.0.1" by default */
    int port;               /* 0: any free port (serve_http_port tells which) */
    const char *model_name; /* what /v1/models and replies call the model */
    const task_chat *chat;  /* what /v1/chat/completions renders; NULL: it answers 400 with no_chat */
    const char *no_chat;
    size_t max_body;        /* 0: 64 MiB */
} serve_http_opts;

typedef struct serve_http serve_http;

int serve_http_start(serve_engine *s, const serve_http_opts *o, serve_http **out, cj_err *e);
int serve_http_port(const serve_http *h);
void serve_http_stop(serve_http *h);

#endif
