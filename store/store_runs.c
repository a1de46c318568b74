/* store_runs — the run-level records: a run's row in runs (insert, read,
 * status, claim, request counts), its tags, and the bench table, which
 * records a speed test as runs records an evaluation. One row per command,
 * so these statements are prepared per call. */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

/* --- runs ------------------------------------------------------------------ */

int store_run_insert(store *s, const store_run *r, int64_t *id, cj_err *e) {
    static const char *sql =
        "INSERT INTO runs (status, model_path, model_sha256, model_format, model_arch, model_params,"
        " model_dtype, tokenizer, tokenizer_sha256, tasks, task_hashes, data_hashes, seed, threads, batch, shots,"
        " \"limit\", harness_version, git_commit, host, started_at, config_hash, tags, pid, kernels)"
        " VALUES ('running', ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?, ?,?,?,?)";
    sqlite3_stmt *st;
    char now[32];
    store_now(now);
    if (store_prepare(s, sql, &st, e)) return -1;
    int i = 1;
    int bad = store_bind_text(s, st, i++, r->model_path, e) || store_bind_text(s, st, i++, r->model_sha256, e) ||
              store_bind_text(s, st, i++, r->model_format, e) || store_bind_text(s, st, i++, r->model_arch, e) ||
              store_bind_int(s, st, i++, r->model_params, e) || store_bind_text(s, st, i++, r->model_dtype, e) ||
              store_bind_text(s, st, i++, r->tokenizer, e) || store_bind_text(s, st, i++, r->tokenizer_sha256, e) ||
              store_bind_text(s, st, i++, r->tasks ? r->tasks : "[]", e) ||
              store_bind_text(s, st, i++, r->task_hashes, e) || store_bind_text(s, st, i++, r->data_hashes, e) ||
              store_bind_int(s, st, i++, r->seed, e) || store_bind_int(s, st, i++, r->threads, e) ||
              store_bind_int(s, st, i++, r->batch, e) ||
              (r->shots >= 0 ? store_bind_int(s, st, i, r->shots, e) : store_bind_null(s, st, i, e)) ||
              (r->limit > 0 ? store_bind_int(s, st, i + 1, r->limit, e) : store_bind_null(s, st, i + 1, e));
    i += 2;
    bad = bad || store_bind_text(s, st, i++, r->harness_version, e) || store_bind_text(s, st, i++, r->git_commit, e) ||
          store_bind_text(s, st, i++, r->host, e) || store_bind_text(s, st, i++, now, e) ||
          store_bind_text(s, st, i++, r->config_hash, e) || store_bind_text(s, st, i++, r->tags, e) ||
          store_bind_int(s, st, i++, r->pid, e) || store_bind_text(s, st, i++, r->kernels, e);
    if (bad || store_step_done(s, st, "insert run", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

#define RUN_COLUMNS                                                                                               \
    "id, status, model_path, model_sha256, model_format, model_arch, model_params, model_dtype, tokenizer,"   \
    " tokenizer_sha256, tasks, task_hashes, data_hashes, seed, threads, batch, shots, \"limit\","            \
    " harness_version, git_commit, host,"                                                                     \
    " started_at, finished_at, config_hash, tags, pid, requests_cached, requests_computed, kernels"

/* Fills r from a row of RUN_COLUMNS; strings malloc'd. */
static void run_from_row(sqlite3_stmt *st, store_run *r) {
    int i = 0;
    r->id = sqlite3_column_int64(st, i++);
    r->status = store_col_dup(st, i++);
    r->model_path = store_col_dup(st, i++);
    r->model_sha256 = store_col_dup(st, i++);
    r->model_format = store_col_dup(st, i++);
    r->model_arch = store_col_dup(st, i++);
    r->model_params = sqlite3_column_int64(st, i++);
    r->model_dtype = store_col_dup(st, i++);
    r->tokenizer = store_col_dup(st, i++);
    r->tokenizer_sha256 = store_col_dup(st, i++);
    r->tasks = store_col_dup(st, i++);
    r->task_hashes = store_col_dup(st, i++);
    r->data_hashes = store_col_dup(st, i++);
    r->seed = sqlite3_column_int64(st, i++);
    r->threads = sqlite3_column_int(st, i++);
    r->batch = sqlite3_column_int(st, i++);
    r->shots = store_col_int_or(st, i++, -1);
    r->limit = store_col_int_or(st, i++, 0);
    r->harness_version = store_col_dup(st, i++);
    r->git_commit = store_col_dup(st, i++);
    r->host = store_col_dup(st, i++);
    r->started_at = store_col_dup(st, i++);
    r->finished_at = store_col_dup(st, i++);
    r->config_hash = store_col_dup(st, i++);
    r->tags = store_col_dup(st, i++);
    r->pid = sqlite3_column_int64(st, i++);
    r->requests_cached = sqlite3_column_int64(st, i++);
    r->requests_computed = sqlite3_column_int64(st, i++);
    r->kernels = store_col_dup(st, i++);
}

void store_run_clear(store_run *r) {
    const char **strs[] = {&r->status,       &r->model_path,  &r->model_sha256, &r->model_format, &r->model_arch,
                           &r->model_dtype,  &r->tokenizer, &r->tokenizer_sha256,   &r->tasks,        &r->task_hashes,  &r->data_hashes,
                           &r->harness_version, &r->git_commit, &r->host,       &r->started_at,   &r->finished_at,
                           &r->config_hash,  &r->tags, &r->kernels};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free((void *)*strs[i]);
        *strs[i] = NULL;
    }
}

int store_run_get(store *s, int64_t id, store_run *out, int *found, cj_err *e) {
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    *found = 0;
    if (store_prepare(s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", &st, e)) return -1;
    if (store_bind_int(s, st, 1, id, e)) goto fail;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        run_from_row(st, out);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        store_db_fail(s, e, "read run");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_runs_each(store *s, const char *config_hash, int (*cb)(const store_run *r, void *ctx), void *ctx,
                    cj_err *e) {
    sqlite3_stmt *st;
    const char *sql = config_hash ? "SELECT " RUN_COLUMNS " FROM runs WHERE config_hash = ? ORDER BY id DESC"
                                  : "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC";
    if (store_prepare(s, sql, &st, e)) return -1;
    if (config_hash && store_bind_text(s, st, 1, config_hash, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_run r;
        run_from_row(st, &r);
        int stop = cb(&r, ctx);
        store_run_clear(&r);
        if (stop) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "list runs");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* Runs a one-off UPDATE with the given binders already applied by the caller. */
static int run_update(store *s, sqlite3_stmt *st, int bad, int64_t id, const char *what, cj_err *e) {
    if (bad || store_step_done(s, st, what, e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    if (sqlite3_changes(s->db) != 1) return cj_fail(e, "%s: no run with id %lld", s->path, (long long)id);
    return 0;
}

int store_run_set_status(store *s, int64_t id, const char *status, cj_err *e) {
    sqlite3_stmt *st;
    char now[32];
    store_now(now);
    int finished = strcmp(status, "running") != 0;
    if (store_prepare(s, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", &st, e)) return -1;
    int bad = store_bind_text(s, st, 1, status, e) || store_bind_text(s, st, 2, finished ? now : NULL, e) ||
              store_bind_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "set run status", e);
}

int store_run_claim(store *s, int64_t id, int64_t pid, const char *host, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, "UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, host = ? WHERE id = ?", &st,
                      e))
        return -1;
    int bad = store_bind_int(s, st, 1, pid, e) || store_bind_text(s, st, 2, host, e) || store_bind_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "claim run", e);
}

int store_run_add_requests(store *s, int64_t id, int64_t cached_n, int64_t computed, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "UPDATE runs SET requests_cached = requests_cached + ?,"
                      " requests_computed = requests_computed + ? WHERE id = ?",
                      &st, e))
        return -1;
    int bad = store_bind_int(s, st, 1, cached_n, e) || store_bind_int(s, st, 2, computed, e) ||
              store_bind_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "count requests", e);
}

int store_tag_put(store *s, int64_t run_id, const char *key, const char *value, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)", &st, e)) return -1;
    int bad =
        store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, key, e) || store_bind_text(s, st, 3, value, e);
    if (bad || store_step_done(s, st, "insert tag", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}
/* --- bench ------------------------------------------------------------------- */

int store_bench_insert(store *s, const store_bench *b, int64_t *id, cj_err *e) {
    sqlite3_stmt *st;
    char now[32];
    store_now(now);
    if (store_prepare(
            s,
            "INSERT INTO bench (created_at, host, cpu, threads, harness_version, git_commit, model_path,"
            " model_sha256, model_format, model_dtype, model_params, tokenizer_sha256, prompt_tokens, gen_tokens,"
            " batch, reps, pp_tok_s, pp_tok_s_sd, tg_tok_s, tg_tok_s_sd, peak_rss_bytes, results)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &st, e))
        return -1;
    int i = 1;
    int bad = store_bind_text(s, st, i++, now, e) || store_bind_text(s, st, i++, b->host, e) ||
              store_bind_text(s, st, i++, b->cpu, e) || store_bind_int(s, st, i++, b->threads, e) ||
              store_bind_text(s, st, i++, b->harness_version, e) || store_bind_text(s, st, i++, b->git_commit, e) ||
              store_bind_text(s, st, i++, b->model_path, e) || store_bind_text(s, st, i++, b->model_sha256, e) ||
              store_bind_text(s, st, i++, b->model_format, e) || store_bind_text(s, st, i++, b->model_dtype, e) ||
              store_bind_int(s, st, i++, b->model_params, e) || store_bind_text(s, st, i++, b->tokenizer_sha256, e) ||
              store_bind_int(s, st, i++, b->prompt_tokens, e) || store_bind_int(s, st, i++, b->gen_tokens, e) ||
              store_bind_int(s, st, i++, b->batch, e) || store_bind_int(s, st, i++, b->reps, e) ||
              store_bind_real(s, st, i++, b->pp_tok_s, e) || store_bind_real(s, st, i++, b->pp_tok_s_sd, e) ||
              store_bind_real(s, st, i++, b->tg_tok_s, e) || store_bind_real(s, st, i++, b->tg_tok_s_sd, e);
    bad =
        bad || (b->peak_rss_bytes >= 0 ? store_bind_int(s, st, i, b->peak_rss_bytes, e) : store_bind_null(s, st, i, e));
    bad = bad || store_bind_text(s, st, i + 1, b->results, e);
    if (bad || store_step_done(s, st, "insert bench", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}
