/* serve_http — the HTTP server of `chaejeom serve` (contract in serve_http.h). */
#include "serve_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve_api.h"

#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define IDLE_TIMEOUT_S 60
#define MAX_CONNECTIONS 256 /* one thread each */

struct serve_http {
    struct MHD_Daemon *d;
    serve_api api;
    size_t max_body;
    int port;
};

/* One request's body as it arrives. */
typedef struct {
    sb body;
    int too_big;
} upload;

static enum MHD_Result send_reply(struct MHD_Connection *c, int status, char *reply, int sse) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(reply), reply, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(reply);
        return MHD_NO;
    }
    if (sse) {
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else if (reply[0]) {
        MHD_add_response_header(r, "Content-Type", "application/json");
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    serve_http *h = cls;
    (void)version;
    upload *u = *con_cls;
    if (!u) { /* headers only so far: the body (if any) comes in later calls */
        u = cj_xcalloc(1, sizeof *u);
        sb_init(&u->body);
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (u->body.len + *data_size > h->max_body) u->too_big = 1;
        else sb_putn(&u->body, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    char *reply;
    int status, sse = 0;
    if (u->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "{\"error\":{\"message\":\"request body over %zu bytes\",\"code\":413}}", h->max_body);
        reply = cj_xstrdup(msg);
        status = 413;
    } else {
        status = serve_api_handle(&h->api, method, url, u->body.s ? u->body.s : "", u->body.len, &reply, &sse);
    }
    return send_reply(c, status, reply ? reply : cj_xstrdup("{}"), sse && reply);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)cls, (void)c, (void)code;
    upload *u = *con_cls;
    if (!u) return;
    sb_free(&u->body);
    free(u);
    *con_cls = NULL;
}

static int resolve(const char *host, int port, struct sockaddr_storage *sa, cj_err *e) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc) return cj_fail(e, "serve: host '%s': %s", host, gai_strerror(rc));
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int serve_http_start(serve_engine *s, const serve_http_opts *o, serve_http **out, cj_err *e) {
    const char *host = o->host ? o->host : "127.0.0.1";
    struct sockaddr_storage sa;
    *out = NULL;
    if (o->port < 0 || o->port > 65535) return cj_fail(e, "serve: port %d outside [0, 65535]", o->port);
    if (resolve(host, o->port, &sa, e)) return -1;
    serve_http *h = cj_xcalloc(1, sizeof *h);
    *h = (serve_http){.api = {s, o->model_name, o->chat, o->no_chat}, .max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY};
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)MAX_CONNECTIONS, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return cj_fail(e, "serve: cannot listen on %s:%d (address in use, or not this machine's?)", host, o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    *out = h;
    return 0;
}

int serve_http_port(const serve_http *h) { return h->port; }

void serve_http_stop(serve_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
