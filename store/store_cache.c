/* store_cache — the request cache and the generation cache, keyed by the
 * model's hash and a hash of the request, and the request hashes
 * themselves. Shared by every run of a model, unlike the per-run rows. */
#include "store_impl.h"

#include <string.h>

#include "../common/sha256.h"

/* --- request cache ----------------------------------------------------------- */

int store_cache_get(store *s, const char *model_sha256, const char *request_hash, store_cached *out, int *found,
                    cj_err *e) {
    *found = 0;
    sqlite3_stmt *st = store_stmt_cached(s, ST_CACHE_GET,
                                         "SELECT logprob, n_tokens, is_greedy FROM request_cache"
                                         " WHERE model_sha256 = ? AND request_hash = ?",
                                         e);
    if (!st) return -1;
    if (store_bind_text(s, st, 1, model_sha256, e) || store_bind_text(s, st, 2, request_hash, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->logprob = sqlite3_column_double(st, 0);
        out->n_tokens = sqlite3_column_int(st, 1);
        out->is_greedy = sqlite3_column_int(st, 2);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        store_db_fail(s, e, "read request cache");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int store_cache_put(store *s, const char *model_sha256, const char *request_hash, const store_cached *c, cj_err *e) {
    sqlite3_stmt *st =
        store_stmt_cached(s, ST_CACHE_PUT,
                          "INSERT OR IGNORE INTO request_cache (model_sha256, request_hash, logprob, n_tokens,"
                          " is_greedy) VALUES (?, ?, ?, ?, ?)",
                          e);
    if (!st) return -1;
    int bad = store_bind_text(s, st, 1, model_sha256, e) || store_bind_text(s, st, 2, request_hash, e) ||
              store_bind_real(s, st, 3, c->logprob, e) || store_bind_int(s, st, 4, c->n_tokens, e) ||
              store_bind_int(s, st, 5, c->is_greedy ? 1 : 0, e);
    if (bad) return -1;
    return store_step_done(s, st, "insert request cache", e);
}

void store_request_hash(const char *context, const char *continuation, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, context, strlen(context));
    sha256_update(&c, "", 1);
    sha256_update(&c, continuation, strlen(continuation));
    sha256_final_hex(&c, hex);
}

void store_rolling_hash(const char *text, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, "rolling", 8); /* includes the NUL */
    sha256_update(&c, text, strlen(text));
    sha256_update(&c, "", 1);
    sha256_final_hex(&c, hex);
}

void store_generate_hash(const char *context, const char *params, char hex[65]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, "generate", 9); /* includes the NUL */
    sha256_update(&c, context, strlen(context));
    sha256_update(&c, "", 1);
    sha256_update(&c, params, strlen(params));
    sha256_update(&c, "", 1);
    sha256_final_hex(&c, hex);
}

/* --- generation cache -------------------------------------------------------- */

static const char *finish_name(const char *s) {
    static const char *const names[] = {"stop", "length", "eos"};
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) return names[i];
    return NULL;
}

int store_gen_cache_get(store *s, const char *model_sha256, const char *request_hash, store_gen_cached *out,
                        int *found, cj_err *e) {
    *found = 0;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_stmt_cached(s, ST_GEN_GET,
                                         "SELECT text, n_tokens, finish_reason FROM generation_cache"
                                         " WHERE model_sha256 = ? AND request_hash = ?",
                                         e);
    if (!st) return -1;
    if (store_bind_text(s, st, 1, model_sha256, e) || store_bind_text(s, st, 2, request_hash, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *finish = finish_name(store_col_text(st, 2));
        if (!store_col_text(st, 0) || !finish) {
            sqlite3_reset(st);
            return cj_fail(e, "%s: generation_cache entry %s has no text or an unknown finish reason", s->path,
                           request_hash);
        }
        out->text = store_col_dup(st, 0);
        out->n_tokens = sqlite3_column_int(st, 1);
        out->finish = finish;
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        store_db_fail(s, e, "read generation cache");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int store_gen_cache_put(store *s, const char *model_sha256, const char *request_hash, const char *text,
                        int n_tokens, const char *finish, cj_err *e) {
    sqlite3_stmt *st =
        store_stmt_cached(s, ST_GEN_PUT,
                          "INSERT OR IGNORE INTO generation_cache (model_sha256, request_hash, text, n_tokens,"
                          " finish_reason) VALUES (?, ?, ?, ?, ?)",
                          e);
    if (!st) return -1;
    int bad = store_bind_text(s, st, 1, model_sha256, e) || store_bind_text(s, st, 2, request_hash, e) ||
              store_bind_text(s, st, 3, text, e) || store_bind_int(s, st, 4, n_tokens, e) ||
              store_bind_text(s, st, 5, finish, e);
    if (bad) return -1;
    return store_step_done(s, st, "insert generation cache", e);
}
