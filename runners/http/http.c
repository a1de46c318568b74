/* http — the runner over an OpenAI-compatible server (vLLM, SGLang,
 * llama.cpp's server, TGI, chaejeom serve): opening, identity, the vtable.
 * The calls themselves are in http_calls.c.
 *
 * Identity: /v1/models is asked of every endpoint; those that answer must
 * describe the model the same way (id, root, max_model_len), and at least
 * one must answer. The weights "sha256" of the run is sha256 of "http\n" and
 * that description, so the request cache and resume work across restarts
 * and across fleets of the same model, and never mix two models. The API key
 * lives only in the client's Authorization header.
 *
 * Ownership: the runner owns its pool, tokenizer and strings; runner_free
 * releases them. Errors: NULL with a message naming the endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../common/sha256.h"
#include "../transformer/formats/gguf.h"
#include "http_impl.h"
#include "http_reply.h"

static const runner_info *http_info(runner *r) { return &((http_runner *)r->impl)->info; }

static void http_free_impl(http_runner *H) {
    http_pool_free(H->pool);
    if (H->tok) tok_free(H->tok);
    free(H->model);
    free(H->path);
    free(H->desc);
    free(H->tok_desc);
    free(H);
}

static void http_free(runner *r) {
    http_free_impl(r->impl);
    free(r);
}

static const runner_vtable HTTP_VT = {http_loglikelihood, http_rolling, http_generate, http_info, http_free};

/* --- the tokenizer ----------------------------------------------------------------- */

/* A llama2.c tokenizer.bin does not store its size: count its records
 * (int max_len, then per token: float score, int len, len bytes). */
static int llama2c_vocab_size(const char *path, int *n, cj_err *e) {
    char *d;
    size_t len;
    if (cj_read_file(path, &d, &len, e)) return -1;
    size_t at = 4;
    *n = 0;
    while (at + 8 <= len) {
        int l;
        memcpy(&l, d + at + 4, 4);
        if (l < 0 || (size_t)l > len - at - 8) break;
        at += 8 + (size_t)l;
        (*n)++;
    }
    free(d);
    if (at != len || *n == 0) return cj_fail(e, "%s: not a llama2.c tokenizer (records end at byte %zu of %zu)", path, at, len);
    return 0;
}

static int load_tokenizer(const char *path, tokenizer **t, cj_err *e) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return tok_load_hf_json(path, t, e);
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return cj_fail(e, "%s: cannot open the tokenizer", path);
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) {
        gguf_ctx *g;
        if (gguf_open(path, &g, e)) return -1;
        int rc = tok_load_gguf(g, t, e);
        gguf_close(g);
        return rc;
    }
    int vocab;
    return llama2c_vocab_size(path, &vocab, e) ? -1 : tok_load_llama2c(path, vocab, t, e);
}

/* --- endpoints and identity ------------------------------------------------------------ */

/* Splits "URL1,URL2" into base URLs without a trailing '/'. */
static int split_urls(const char *urls, char ***out, int *n, cj_err *e) {
    *out = NULL;
    *n = 0;
    for (const char *p = urls; *p;) {
        size_t l = strcspn(p, ",");
        char *u = cj_xstrndup(p, l);
        while (*u && u[strlen(u) - 1] == '/') u[strlen(u) - 1] = 0;
        *out = cj_xrealloc(*out, sizeof **out * (size_t)(*n + 1));
        (*out)[(*n)++] = u;
        if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
            return cj_fail(e, "-m '%s': an endpoint must start with http:// or https://", u);
        p += l + (p[l] == ',');
    }
    if (*n == 0) return cj_fail(e, "-m: no endpoint given");
    return 0;
}

/* Asks every endpoint for /models; fills H->model (when not given) and
 * H->desc. An endpoint that does not answer is left to the pool's retries. */
static int identify(http_runner *H, const char *asked, cj_err *e) {
    int n = http_pool_n_endpoints(H->pool), answered = 0;
    cj_err first = {{0}};
    for (int i = 0; i < n; i++) {
        char *body = NULL, *desc = NULL, *id = NULL;
        size_t len = 0;
        cj_err ie;
        if (http_pool_one(H->pool, i, "/models", NULL, &body, &len, &ie) ||
            http_models_find(body, len, asked ? asked : H->model, &desc, H->model ? NULL : &id, &ie)) {
            cj_wrap(&ie, "%s", http_pool_endpoint(H->pool, i));
            if (!first.msg[0]) first = ie;
            free(body);
            if (body) return cj_fail(e, "%s", first.msg); /* it answered, and not with our model */
            continue;
        }
        free(body);
        if (id) H->model = id;
        if (H->desc && strcmp(H->desc, desc)) {
            cj_fail(e, "%s serves %s, but %s serves %s", http_pool_endpoint(H->pool, 0), H->desc,
                    http_pool_endpoint(H->pool, i), desc);
            free(desc);
            return -1;
        }
        if (!H->desc) H->desc = desc;
        else free(desc);
        answered++;
    }
    if (!answered) return cj_fail(e, "no endpoint answered /models: %s", first.msg);
    if (!H->model) H->model = cj_xstrdup(asked);
    return 0;
}

static void fill_info(http_runner *H, const runner_http_opts *o) {
    sb k;
    sb_init(&k);
    sb_printf(&k, "http\n%s", H->desc);
    sha256_hex(k.s, k.len, H->info.sha256);
    sb_free(&k);
    H->path = cj_xstrdup(o->urls);
    sb t;
    sb_init(&t);
    if (H->tok) sb_printf(&t, "%s, prompts as token ids", tok_describe(H->tok));
    else if (H->remote_tok) sb_puts(&t, "the server's /tokenize, scoring prompts as token ids");
    else sb_puts(&t, "the server's, prompts as text");
    H->tok_desc = sb_take(&t);
    H->info.path = H->path;
    H->info.format = "http";
    H->info.arch = H->desc;
    H->info.tokenizer = H->tok_desc;
}

static int open_pool(http_runner *H, const runner_http_opts *o, cj_err *e) {
    char **urls;
    int n;
    int rc = split_urls(o->urls, &urls, &n, e);
    const char *var = o->api_key_env ? o->api_key_env : "OPENAI_API_KEY";
    const char *key = getenv(var);
    if (o->api_key_env && (!key || !*key) && rc == 0) rc = cj_fail(e, "--api-key-env %s: the variable is not set", var);
    http_pool_opts po = {
        .endpoints = (const char *const *)urls,
        .n_endpoints = n,
        .api_key = key,
        .concurrency = o->concurrency > 0 ? o->concurrency : 4,
        .timeout_s = o->timeout_s > 0 ? o->timeout_s : 600,
        .connect_timeout_s = 10,
        .retries = o->retries >= 0 ? o->retries : 5,
        .backoff_s = o->backoff_s > 0 ? o->backoff_s : 0.5,
        .backoff_max_s = 30,
    };
    if (rc == 0) rc = http_pool_new(&po, &H->pool, e);
    for (int i = 0; i < n; i++) free(urls[i]);
    free(urls);
    return rc;
}

void runner_http_text_boundaries(runner *r, long *scored, long *spanned) {
    const http_runner *H = r && r->vt == &HTTP_VT ? r->impl : NULL;
    *scored = H ? H->text_scored : 0;
    *spanned = H ? H->text_spanned : 0;
}

runner *runner_http_open(const runner_http_opts *o, cj_err *e) {
    if (!o || !o->urls) {
        cj_fail(e, "http: no endpoint");
        return NULL;
    }
    http_runner *H = cj_xcalloc(1, sizeof *H);
    H->per_request = o->prompts_per_request > 0 ? o->prompts_per_request : 1;
    H->max_length = o->max_length > 0 ? o->max_length : 2048;
    H->chat = o->chat;
    H->stream = o->stream;
    H->chat_prompts = o->chat_prompts;
    if (open_pool(H, o, e) || (o->tokenizer_path && load_tokenizer(o->tokenizer_path, &H->tok, e)) ||
        identify(H, o->model_name, e)) {
        http_free_impl(H);
        return NULL;
    }
    /* Chat generation sends messages: no token ids to build. */
    if (!H->tok && !H->chat) H->remote_tok = http_remote_probe(H);
    fill_info(H, o);
    runner *r = cj_xmalloc(sizeof *r);
    r->vt = &HTTP_VT;
    r->impl = H;
    return r;
}
