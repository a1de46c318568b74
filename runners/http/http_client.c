/* http_client — see http_client.h. One multi handle per pool keeps the
 * connections alive between calls; an easy handle lives for one attempt. */
#include "http_client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../../common/sb.h"
#include "http_sse.h"

#define MAX_REPLY (256u << 20) /* a reply larger than this is refused, not buffered */

struct http_pool {
    http_pool_opts o;
    char **ep;
    double *down_until; /* an endpoint that failed to connect is skipped until then */
    int rr;             /* next endpoint, round-robin */
    struct curl_slist *headers;
    CURLM *multi;
    unsigned rng;
};

typedef enum { JOB_WAIT, JOB_FLIGHT, JOB_DONE } job_state;

typedef struct {
    job_state st;
    int attempts;
    double ready_at, t0, retry_after;
    int ep, stream;
    size_t scan;  /* stream: bytes of the body already looked at for the first text */
    double first; /* stream: seconds to the first text chunk; 0 until then */
    CURL *h;
    char *url;
    sb body;
    char errbuf[CURL_ERROR_SIZE];
} slot;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int curl_ready(cj_err *e) {
    static int done;
    if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return cj_fail(e, "http: libcurl failed to start");
    done = 1;
    return 0;
}

int http_pool_new(const http_pool_opts *o, http_pool **out, cj_err *e) {
    *out = NULL;
    if (o->n_endpoints < 1 || o->concurrency < 1 || o->retries < 0 || !(o->timeout_s > 0))
        return cj_fail(e, "http: bad pool options");
    if (curl_ready(e)) return -1;
    http_pool *p = cj_xcalloc(1, sizeof *p);
    p->o = *o;
    p->o.endpoints = NULL;
    p->o.api_key = NULL;
    p->ep = cj_xcalloc((size_t)o->n_endpoints, sizeof *p->ep);
    p->down_until = cj_xcalloc((size_t)o->n_endpoints, sizeof *p->down_until);
    for (int i = 0; i < o->n_endpoints; i++) p->ep[i] = cj_xstrdup(o->endpoints[i]);
    p->headers = curl_slist_append(NULL, "Content-Type: application/json");
    p->headers = curl_slist_append(p->headers, "Expect:");
    if (o->api_key && *o->api_key) {
        sb h;
        sb_init(&h);
        sb_printf(&h, "Authorization: Bearer %s", o->api_key);
        p->headers = curl_slist_append(p->headers, h.s);
        memset(h.s, 0, h.len);
        sb_free(&h);
    }
    p->multi = curl_multi_init();
    p->rng = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (!p->multi || !p->headers) {
        http_pool_free(p);
        return cj_fail(e, "http: libcurl could not allocate");
    }
    *out = p;
    return 0;
}

void http_pool_free(http_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->o.n_endpoints; i++) free(p->ep[i]);
    free(p->ep);
    free(p->down_until);
    curl_slist_free_all(p->headers);
    if (p->multi) curl_multi_cleanup(p->multi);
    free(p);
}

int http_pool_n_endpoints(const http_pool *p) { return p->o.n_endpoints; }
const char *http_pool_endpoint(const http_pool *p, int i) { return p->ep[i]; }

/* --- one attempt ------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
    slot *s = ctx;
    size_t n = size * nmemb;
    if (s->body.len + n > MAX_REPLY) return 0; /* curl then fails with CURLE_WRITE_ERROR */
    sb_putn(&s->body, data, n);
    if (s->stream && s->first == 0 && http_sse_first_text(s->body.s, s->body.len, &s->scan)) s->first = now_s() - s->t0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx) {
    slot *s = ctx;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
        char buf[32];
        size_t m = n - 12 < sizeof buf - 1 ? n - 12 : sizeof buf - 1;
        memcpy(buf, data + 12, m);
        buf[m] = 0;
        char *end;
        double v = strtod(buf, &end);
        /* an HTTP-date is not honoured: the backoff applies */
        if (end != buf && v >= 0) s->retry_after = v;
    }
    return n;
}

/* The endpoint for the next attempt: the next one up, round-robin; when
 * every one is down, the one back first (the job then waits for it). */
static int pick_endpoint(http_pool *p, double now, double *ready_at) {
    int n = p->o.n_endpoints, best = -1;
    for (int k = 0; k < n; k++) {
        int i = (p->rr + k) % n;
        if (p->down_until[i] <= now) {
            p->rr = (i + 1) % n;
            return i;
        }
        if (best < 0 || p->down_until[i] < p->down_until[best]) best = i;
    }
    if (p->down_until[best] > *ready_at) *ready_at = p->down_until[best];
    return best;
}

static int start(http_pool *p, http_job *j, slot *s, double now, cj_err *e) {
    s->ep = pick_endpoint(p, now, &s->ready_at);
    if (s->ready_at > now) return 0; /* every endpoint is down: wait */
    free(s->url);
    size_t n = strlen(p->ep[s->ep]) + strlen(j->path) + 1;
    s->url = cj_xmalloc(n);
    snprintf(s->url, n, "%s%s", p->ep[s->ep], j->path);
    sb_clear(&s->body);
    s->stream = j->stream;
    s->scan = 0;
    s->first = 0;
    s->retry_after = -1;
    s->errbuf[0] = 0;
    s->h = curl_easy_init();
    if (!s->h) return cj_fail(e, "http: libcurl could not allocate");
    curl_easy_setopt(s->h, CURLOPT_URL, s->url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, p->headers);
    if (j->body) curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, (long)(p->o.timeout_s * 1000));
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->o.connect_timeout_s * 1000));
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    if (curl_multi_add_handle(p->multi, s->h) != CURLM_OK) return cj_fail(e, "http: libcurl refused a request");
    s->st = JOB_FLIGHT;
    s->attempts++;
    s->t0 = now;
    return 0;
}

static void stop(http_pool *p, slot *s) {
    if (!s->h) return;
    curl_multi_remove_handle(p->multi, s->h);
    curl_easy_cleanup(s->h);
    s->h = NULL;
}

/* Exponential backoff with jitter in [1/2, 1] of the step, or Retry-After. */
static double backoff(http_pool *p, const slot *s) {
    double d = p->o.backoff_s;
    for (int i = 1; i < s->attempts && d < p->o.backoff_max_s; i++) d *= 2;
    d *= 0.5 + 0.5 * ((double)rand_r(&p->rng) / RAND_MAX);
    if (s->retry_after >= 0) d = s->retry_after;
    return d < p->o.backoff_max_s ? d : p->o.backoff_max_s;
}

static int fail_attempt(http_pool *p, const http_job *j, const slot *s, const char *why, cj_err *e) {
    const char *meth = j->body ? "POST" : "GET";
    if (p->o.n_endpoints > 1)
        return cj_fail(e, "%s %s: %s (after %d attempts over %d endpoints)", meth, s->url, why, s->attempts,
                       p->o.n_endpoints);
    return cj_fail(e, "%s %s: %s (after %d attempts)", meth, s->url, why, s->attempts);
}

/* Settles a finished attempt: done, waiting for a retry, or -1. */
static int finish(http_pool *p, http_job *j, slot *s, CURLcode rc, double now, cj_err *e) {
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    stop(p, s);
    char why[512];
    int retry;
    if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        retry = rc != CURLE_WRITE_ERROR && rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL;
        if (rc == CURLE_WRITE_ERROR) snprintf(why, sizeof why, "reply larger than %u MiB", MAX_REPLY >> 20);
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
            p->down_until[s->ep] = now + backoff(p, s);
    } else if (status >= 200 && status < 300) {
        j->reply_len = s->body.len;
        j->reply = sb_take(&s->body);
        sb_init(&s->body);
        j->wall_s = now - s->t0;
        j->ttft_s = s->first;
        j->endpoint = s->ep;
        s->st = JOB_DONE;
        return 0;
    } else {
        snprintf(why, sizeof why, "HTTP %ld: %.300s", status, s->body.s);
        retry = status == 429 || status == 408 || status >= 500;
    }
    if (!retry || s->attempts > p->o.retries) return fail_attempt(p, j, s, why, e);
    s->st = JOB_WAIT;
    s->ready_at = now + backoff(p, s);
    return 0;
}

/* --- the loop ------------------------------------------------------------------- */

/* Starts waiting jobs that are due while there is room; returns the
 * earliest time a waiting job becomes due (or a second from now). */
static int fill(http_pool *p, http_job *jobs, slot *sl, int n, int *in_flight, double *next_due, cj_err *e) {
    double now = now_s();
    *next_due = now + 1;
    for (int i = 0; i < n && *in_flight < p->o.concurrency; i++) {
        if (sl[i].st != JOB_WAIT) continue;
        if (sl[i].ready_at <= now) {
            if (start(p, &jobs[i], &sl[i], now, e)) return -1;
            if (sl[i].st == JOB_FLIGHT) (*in_flight)++;
        }
        if (sl[i].st == JOB_WAIT && sl[i].ready_at < *next_due) *next_due = sl[i].ready_at;
    }
    return 0;
}

static int drain(http_pool *p, http_job *jobs, slot *sl, int *in_flight, int *done, cj_err *e) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        slot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        (*in_flight)--;
        if (finish(p, &jobs[s - sl], s, m->data.result, now_s(), e)) return -1;
        if (s->st == JOB_DONE) (*done)++;
    }
    return 0;
}

int http_pool_run(http_pool *p, http_job *jobs, int n, cj_err *e) {
    slot *sl = cj_xcalloc((size_t)(n ? n : 1), sizeof *sl);
    for (int i = 0; i < n; i++) {
        sb_init(&sl[i].body);
        jobs[i].reply = NULL;
    }
    int in_flight = 0, done = 0, rc = 0;
    while (rc == 0 && done < n) {
        double due;
        if ((rc = fill(p, jobs, sl, n, &in_flight, &due, e))) break;
        int running;
        if (curl_multi_perform(p->multi, &running) != CURLM_OK) {
            rc = cj_fail(e, "http: libcurl's multi interface failed");
            break;
        }
        int before = in_flight;
        if ((rc = drain(p, jobs, sl, &in_flight, &done, e)) || done == n) break;
        if (in_flight < before) continue; /* room again: start the next job before waiting */
        double wait = due - now_s();
        int ms = wait < 0.001 ? 1 : wait > 1 ? 1000 : (int)(wait * 1000);
        curl_multi_poll(p->multi, NULL, 0, in_flight ? (ms < 100 ? ms : 100) : ms, NULL);
    }
    for (int i = 0; i < n; i++) {
        stop(p, &sl[i]);
        free(sl[i].url);
        sb_free(&sl[i].body);
        if (rc) {
            free(jobs[i].reply);
            jobs[i].reply = NULL;
        }
    }
    free(sl);
    return rc;
}

int http_pool_one(http_pool *p, int i, const char *path, const char *body, char **reply, size_t *len, cj_err *e) {
    http_pool one = *p;
    one.ep = &p->ep[i];
    one.o.n_endpoints = 1;
    one.o.retries = 0;
    double up = 0;
    one.down_until = &up;
    http_job j = {.path = path, .body = body};
    if (http_pool_run(&one, &j, 1, e)) return -1;
    *reply = j.reply;
    *len = j.reply_len;
    return 0;
}
