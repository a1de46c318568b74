/* http_client — many JSON requests over several OpenAI-compatible endpoints
 * with libcurl's multi interface.
 *
 * http_pool_run sends every job, at most `concurrency` in flight, spread
 * round-robin over the endpoints. A connection error, a timeout, 429 or a
 * 5xx is retried (up to `retries` more attempts) after an exponential
 * backoff with jitter, or after the server's Retry-After; an endpoint that
 * fails to connect is skipped for the backoff period and its jobs go to the
 * others. Any other status (a 4xx: the request is wrong) fails at once.
 * After the last attempt the call fails with a message naming the endpoint,
 * the path and what went wrong.
 *
 * The API key goes into one Authorization header and nowhere else: it is
 * not kept in any other field and no message contains it.
 *
 * Ownership: the pool copies the endpoints and the key. Jobs belong to the
 * caller; a successful call fills each job's reply (malloc'd, NUL-terminated,
 * the caller frees it). On failure no reply is left allocated. */
#ifndef CJ_HTTP_CLIENT_H
#define CJ_HTTP_CLIENT_H

#include <stddef.h>

#include "../../common/err.h"

typedef struct {
    const char *const *endpoints; /* base URLs, e.g. "http://127.0.0.1:8000/v1" (no trailing '/') */
    int n_endpoints;
    const char *api_key;   /* NULL or "": no Authorization header */
    int concurrency;       /* requests in flight, >= 1 */
    double timeout_s;      /* whole request, > 0 */
    double connect_timeout_s;
    int retries;           /* further attempts after the first, >= 0 */
    double backoff_s;      /* first retry delay (before jitter), > 0 */
    double backoff_max_s;  /* cap on a delay, Retry-After included */
} http_pool_opts;

typedef struct {
    const char *path;  /* appended to the endpoint, e.g. "/completions" */
    const char *body;  /* JSON to POST; NULL: GET */
    int stream;        /* the reply is server-sent events: time the first text chunk */
    char *reply;       /* out: the 2xx body */
    size_t reply_len;
    double wall_s;     /* out: wall time of the successful attempt */
    double ttft_s;     /* out: stream: time to the first chunk with text (0 when none came) */
    int endpoint;      /* out: the endpoint that answered */
} http_job;

typedef struct http_pool http_pool;

int http_pool_new(const http_pool_opts *o, http_pool **out, cj_err *e);
void http_pool_free(http_pool *p);

/* Sends jobs[0..n). Returns 0 with every reply filled, or -1. */
int http_pool_run(http_pool *p, http_job *jobs, int n, cj_err *e);

/* GETs (body NULL) or POSTs path on endpoint i alone, once, without
 * retries (identity and capability queries). */
int http_pool_one(http_pool *p, int i, const char *path, const char *body, char **reply, size_t *len, cj_err *e);

int http_pool_n_endpoints(const http_pool *p);
const char *http_pool_endpoint(const http_pool *p, int i);

#endif
