/* store — see store.h. */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"
#include "../common/sha256.h"

/* Migration i takes the schema from user_version i to i + 1. Append only:
 * a released migration never changes. Columns without a declared type
 * (docs.target, docs.pred) keep what was bound: an integer choice index, or
 * text for anything else. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1: the initial schema */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  status TEXT NOT NULL CHECK (status IN ('running','done','interrupted','failed')),"
    "  model_path TEXT, model_sha256 TEXT, model_format TEXT, model_arch TEXT,"
    "  model_params INTEGER, model_dtype TEXT, tokenizer TEXT, tokenizer_sha256 TEXT,"
    "  tasks TEXT NOT NULL, task_hashes TEXT, data_hashes TEXT,"
    "  seed INTEGER, threads INTEGER, batch INTEGER, shots INTEGER, \"limit\" INTEGER,"
    "  harness_version TEXT, git_commit TEXT, host TEXT,"
    "  started_at TEXT NOT NULL, finished_at TEXT, config_hash TEXT, tags TEXT,"
    "  pid INTEGER, requests_cached INTEGER NOT NULL DEFAULT 0,"
    "  requests_computed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_config ON runs(config_hash);"
    "CREATE TABLE docs ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  task TEXT NOT NULL, doc_id TEXT NOT NULL, doc_hash TEXT, prompt_hash TEXT,"
    "  target, pred,"
    "  PRIMARY KEY (run_id, task, doc_id));"
    "CREATE TABLE choices ("
    "  run_id INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL,"
    "  choice_idx INTEGER NOT NULL, logprob REAL NOT NULL, n_tokens INTEGER,"
    "  n_chars INTEGER, n_bytes INTEGER, is_greedy INTEGER, label INTEGER, n_words INTEGER,"
    "  PRIMARY KEY (run_id, task, doc_id, choice_idx),"
    "  FOREIGN KEY (run_id, task, doc_id) REFERENCES docs(run_id, task, doc_id) ON DELETE CASCADE);"
    "CREATE TABLE metrics ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  task TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('task','group')),"
    "  metric TEXT NOT NULL, value REAL, stderr REAL, n INTEGER,"
    "  PRIMARY KEY (run_id, task, metric));"
    "CREATE TABLE latency ("
    "  run_id INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL,"
    "  prefill_tokens INTEGER, decode_tokens INTEGER, wall_s REAL,"
    "  PRIMARY KEY (run_id, task, doc_id),"
    "  FOREIGN KEY (run_id, task, doc_id) REFERENCES docs(run_id, task, doc_id) ON DELETE CASCADE);"
    "CREATE TABLE tags ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY (run_id, key));"
    "CREATE TABLE request_cache ("
    "  model_sha256 TEXT NOT NULL, request_hash TEXT NOT NULL,"
    "  logprob REAL NOT NULL, n_tokens INTEGER NOT NULL, is_greedy INTEGER NOT NULL,"
    "  PRIMARY KEY (model_sha256, request_hash)) WITHOUT ROWID;",
    /* 1 -> 2: generations, latency split and summaries, bench */
    "ALTER TABLE latency ADD COLUMN prefill_s REAL;"
    "ALTER TABLE latency ADD COLUMN decode_s REAL;"
    "ALTER TABLE latency ADD COLUMN ttft_s REAL;"
    "ALTER TABLE latency ADD COLUMN prefill_tok_s REAL;"
    "ALTER TABLE latency ADD COLUMN decode_tok_s REAL;"
    "CREATE TABLE generations ("
    "  run_id INTEGER NOT NULL, task TEXT NOT NULL, doc_id TEXT NOT NULL,"
    "  text TEXT NOT NULL, n_tokens INTEGER, finish_reason TEXT, answer TEXT,"
    "  exact_match REAL, f1 REAL, abstained INTEGER, correct INTEGER, scores TEXT, refs TEXT,"
    "  PRIMARY KEY (run_id, task, doc_id),"
    "  FOREIGN KEY (run_id, task, doc_id) REFERENCES docs(run_id, task, doc_id) ON DELETE CASCADE);"
    "CREATE TABLE generation_cache ("
    "  model_sha256 TEXT NOT NULL, request_hash TEXT NOT NULL,"
    "  text TEXT NOT NULL, n_tokens INTEGER NOT NULL, finish_reason TEXT NOT NULL,"
    "  PRIMARY KEY (model_sha256, request_hash)) WITHOUT ROWID;"
    "CREATE TABLE latency_summary ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, task TEXT NOT NULL,"
    "  docs INTEGER, prefill_tokens INTEGER, decode_tokens INTEGER,"
    "  wall_s REAL, prefill_s REAL, decode_s REAL, prefill_tok_s REAL, decode_tok_s REAL,"
    "  ttft_mean_s REAL, ttft_p95_s REAL, p50_s REAL, p95_s REAL, p99_s REAL, docs_per_s REAL,"
    "  peak_rss_bytes INTEGER,"
    "  PRIMARY KEY (run_id, task));"
    "CREATE TABLE bench ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, host TEXT, cpu TEXT, threads INTEGER,"
    "  harness_version TEXT, git_commit TEXT, model_path TEXT, model_sha256 TEXT, model_format TEXT,"
    "  model_dtype TEXT, model_params INTEGER, tokenizer_sha256 TEXT,"
    "  prompt_tokens INTEGER, gen_tokens INTEGER, batch INTEGER, reps INTEGER,"
    "  pp_tok_s REAL, pp_tok_s_sd REAL, tg_tok_s REAL, tg_tok_s_sd REAL, peak_rss_bytes INTEGER,"
    "  results TEXT);",
    /* 2 -> 3: which kernels computed the weight products */
    "ALTER TABLE runs ADD COLUMN kernels TEXT;",
};
#define N_MIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

/* Statements prepared once and reused (the per-batch hot path). */
enum { ST_DOC, ST_CHOICE, ST_LATENCY, ST_CACHE_GET, ST_CACHE_PUT, ST_GEN, ST_GEN_GET, ST_GEN_PUT, ST_COUNT };

struct store {
    sqlite3 *db;
    char *path;
    int in_tx;
    sqlite3_stmt *st[ST_COUNT];
};

/* What SQLite's message leaves out when the file system refused: the
 * system's reason where SQLite kept it, that a write failed (SQLite says
 * only "disk I/O error" when a file-size limit stops a write), or that the
 * file or folder is read-only. */
static const char *os_reason(store *s) {
    int ext = sqlite3_extended_errcode(s->db), err = sqlite3_system_errno(s->db);
    switch (ext & 0xff) {
    case SQLITE_IOERR:
        if (err) return strerror(err);
        return ext == SQLITE_IOERR_WRITE || ext == SQLITE_IOERR_TRUNCATE || ext == SQLITE_IOERR_SHMSIZE
                   ? "a write failed: full disk or file-size limit?"
                   : NULL;
    case SQLITE_CANTOPEN: return err ? strerror(err) : NULL;
    case SQLITE_READONLY: return "read-only file or folder";
    default: return NULL;
    }
}

static int db_fail(store *s, cj_err *e, const char *what) {
    const char *why = os_reason(s);
    return cj_fail(e, "%s: %s: %s%s%s%s", s->path, what, sqlite3_errmsg(s->db), why ? " (" : "", why ? why : "",
                   why ? ")" : "");
}

/* Runs SQL that carries no outside values (schema, pragmas, BEGIN); with
 * busy_wait, retries for up to STORE_BUSY_MS while SQLite answers
 * SQLITE_BUSY: the busy handler does not cover everything (a connection that
 * switches a new database to WAL while another opens it can get SQLITE_BUSY
 * at once). */
static int exec_retry(store *s, const char *sql, int busy_wait, cj_err *e) {
    for (int waited = 0;; waited += 5) {
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK) return 0;
        if (busy_wait && (rc & 0xff) == SQLITE_BUSY && waited < STORE_BUSY_MS) {
            sqlite3_free(msg);
            sqlite3_sleep(5);
            continue;
        }
        const char *why = os_reason(s);
        cj_fail(e, "%s: %s%s%s%s", s->path, msg ? msg : sqlite3_errmsg(s->db), why ? " (" : "", why ? why : "",
                why ? ")" : "");
        sqlite3_free(msg);
        return -1;
    }
}

static int exec(store *s, const char *sql, cj_err *e) { return exec_retry(s, sql, 0, e); }
static int exec_wait(store *s, const char *sql, cj_err *e) { return exec_retry(s, sql, 1, e); }

static int prepare(store *s, const char *sql, sqlite3_stmt **st, cj_err *e) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(s, e, "prepare");
    }
    return 0;
}

/* A cached statement, reset and with bindings cleared, ready to bind. */
static sqlite3_stmt *cached(store *s, int which, const char *sql, cj_err *e) {
    if (!s->st[which] && prepare(s, sql, &s->st[which], e)) return NULL;
    sqlite3_reset(s->st[which]);
    sqlite3_clear_bindings(s->st[which]);
    return s->st[which];
}

/* Binding helpers: each returns 0 or -1 (with the message in e). */
static int b_text(store *s, sqlite3_stmt *st, int i, const char *v, cj_err *e) {
    int rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    return rc == SQLITE_OK ? 0 : db_fail(s, e, "bind");
}
static int b_int(store *s, sqlite3_stmt *st, int i, int64_t v, cj_err *e) {
    return sqlite3_bind_int64(st, i, v) == SQLITE_OK ? 0 : db_fail(s, e, "bind");
}
static int b_null(store *s, sqlite3_stmt *st, int i, cj_err *e) {
    return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : db_fail(s, e, "bind");
}
static int b_real(store *s, sqlite3_stmt *st, int i, double v, cj_err *e) {
    int rc = isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
    return rc == SQLITE_OK ? 0 : db_fail(s, e, "bind");
}

/* Steps a statement that returns no rows. */
static int step_done(store *s, sqlite3_stmt *st, const char *what, cj_err *e) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        db_fail(s, e, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }
static char *col_dup(sqlite3_stmt *st, int i) {
    const char *t = col_text(st, i);
    return t ? cj_xstrdup(t) : NULL;
}
static int col_int_or(sqlite3_stmt *st, int i, int dflt) {
    return sqlite3_column_type(st, i) == SQLITE_INTEGER ? sqlite3_column_int(st, i) : dflt;
}
static double col_real_or_nan(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int store_user_version(store *s, int *version, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s, "PRAGMA user_version", &st, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_fail(s, e, "read user_version");
        sqlite3_finalize(st);
        return -1;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(store *s, cj_err *e) {
    int v;
    if (store_user_version(s, &v, e)) return -1;
    if (v > N_MIGRATIONS)
        return cj_fail(e, "%s: schema version %d is newer than this chaejeom knows (%d)", s->path, v, N_MIGRATIONS);
    if (v == N_MIGRATIONS) return 0;
    if (store_begin(s, e)) return -1;
    /* Re-read under the write lock: another process may have migrated meanwhile. */
    if (store_user_version(s, &v, e)) goto fail;
    for (; v < N_MIGRATIONS; v++) {
        if (exec(s, MIGRATIONS[v], e)) {
            cj_wrap(e, "migration %d", v + 1);
            goto fail;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(s, pragma, e)) goto fail;
    }
    return store_commit(s, e);
fail:
    store_rollback(s);
    return -1;
}

int store_open(const char *path, store **out, cj_err *e) {
    *out = NULL;
    store *s = cj_xcalloc(1, sizeof *s);
    s->path = cj_xstrdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        const char *why = s->db ? os_reason(s) : NULL;
        cj_fail(e, "%s: cannot open database: %s%s%s%s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory",
                why ? " (" : "", why ? why : "", why ? ")" : "");
        store_close(s);
        return -1;
    }
    if (sqlite3_busy_timeout(s->db, STORE_BUSY_MS) != SQLITE_OK) {
        db_fail(s, e, "busy timeout");
        store_close(s);
        return -1;
    }
    /* WAL lets readers (ls, show, report) work while a run writes; NORMAL
     * sync in WAL mode still never corrupts, it may only lose the last
     * commits on power loss, which a resume recomputes. A file SQLite could
     * open only read-only (permissions, read-only medium) is left as it is:
     * it can be read, and the first write fails (store_begin). */
    int ro = sqlite3_db_readonly(s->db, "main") == 1;
    if (exec_wait(s, "PRAGMA foreign_keys = ON", e) || (!ro && exec_wait(s, "PRAGMA journal_mode = WAL", e)) ||
        exec_wait(s, "PRAGMA synchronous = NORMAL", e) || migrate(s, e)) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(store *s) {
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    if (s->in_tx) store_rollback(s);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_begin(store *s, cj_err *e) {
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return cj_fail(e, "%s: the database is read-only (file or folder permissions, or a read-only medium)", s->path);
    if (exec(s, "BEGIN IMMEDIATE", e)) return -1;
    s->in_tx = 1;
    return 0;
}

int store_commit(store *s, cj_err *e) {
    if (exec(s, "COMMIT", e)) {
        store_rollback(s);
        return -1;
    }
    s->in_tx = 0;
    return 0;
}

void store_rollback(store *s) {
    if (!s->in_tx) return;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* fails only if SQLite already rolled back */
    s->in_tx = 0;
}

void store_now(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

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
    if (prepare(s, sql, &st, e)) return -1;
    int i = 1;
    int bad = b_text(s, st, i++, r->model_path, e) || b_text(s, st, i++, r->model_sha256, e) ||
              b_text(s, st, i++, r->model_format, e) || b_text(s, st, i++, r->model_arch, e) ||
              b_int(s, st, i++, r->model_params, e) || b_text(s, st, i++, r->model_dtype, e) ||
              b_text(s, st, i++, r->tokenizer, e) || b_text(s, st, i++, r->tokenizer_sha256, e) ||
              b_text(s, st, i++, r->tasks ? r->tasks : "[]", e) ||
              b_text(s, st, i++, r->task_hashes, e) || b_text(s, st, i++, r->data_hashes, e) ||
              b_int(s, st, i++, r->seed, e) || b_int(s, st, i++, r->threads, e) || b_int(s, st, i++, r->batch, e) ||
              (r->shots >= 0 ? b_int(s, st, i, r->shots, e) : b_null(s, st, i, e)) ||
              (r->limit > 0 ? b_int(s, st, i + 1, r->limit, e) : b_null(s, st, i + 1, e));
    i += 2;
    bad = bad || b_text(s, st, i++, r->harness_version, e) || b_text(s, st, i++, r->git_commit, e) ||
          b_text(s, st, i++, r->host, e) || b_text(s, st, i++, now, e) || b_text(s, st, i++, r->config_hash, e) ||
          b_text(s, st, i++, r->tags, e) || b_int(s, st, i++, r->pid, e) || b_text(s, st, i++, r->kernels, e);
    if (bad || step_done(s, st, "insert run", e)) {
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
    r->status = col_dup(st, i++);
    r->model_path = col_dup(st, i++);
    r->model_sha256 = col_dup(st, i++);
    r->model_format = col_dup(st, i++);
    r->model_arch = col_dup(st, i++);
    r->model_params = sqlite3_column_int64(st, i++);
    r->model_dtype = col_dup(st, i++);
    r->tokenizer = col_dup(st, i++);
    r->tokenizer_sha256 = col_dup(st, i++);
    r->tasks = col_dup(st, i++);
    r->task_hashes = col_dup(st, i++);
    r->data_hashes = col_dup(st, i++);
    r->seed = sqlite3_column_int64(st, i++);
    r->threads = sqlite3_column_int(st, i++);
    r->batch = sqlite3_column_int(st, i++);
    r->shots = col_int_or(st, i++, -1);
    r->limit = col_int_or(st, i++, 0);
    r->harness_version = col_dup(st, i++);
    r->git_commit = col_dup(st, i++);
    r->host = col_dup(st, i++);
    r->started_at = col_dup(st, i++);
    r->finished_at = col_dup(st, i++);
    r->config_hash = col_dup(st, i++);
    r->tags = col_dup(st, i++);
    r->pid = sqlite3_column_int64(st, i++);
    r->requests_cached = sqlite3_column_int64(st, i++);
    r->requests_computed = sqlite3_column_int64(st, i++);
    r->kernels = col_dup(st, i++);
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
    if (prepare(s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", &st, e)) return -1;
    if (b_int(s, st, 1, id, e)) goto fail;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        run_from_row(st, out);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, e, "read run");
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
    if (prepare(s, sql, &st, e)) return -1;
    if (config_hash && b_text(s, st, 1, config_hash, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_run r;
        run_from_row(st, &r);
        int stop = cb(&r, ctx);
        store_run_clear(&r);
        if (stop) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "list runs");
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
    if (bad || step_done(s, st, what, e)) {
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
    if (prepare(s, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", &st, e)) return -1;
    int bad = b_text(s, st, 1, status, e) || b_text(s, st, 2, finished ? now : NULL, e) || b_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "set run status", e);
}

int store_run_claim(store *s, int64_t id, int64_t pid, const char *host, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s, "UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, host = ? WHERE id = ?", &st, e))
        return -1;
    int bad = b_int(s, st, 1, pid, e) || b_text(s, st, 2, host, e) || b_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "claim run", e);
}

int store_run_add_requests(store *s, int64_t id, int64_t cached_n, int64_t computed, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "UPDATE runs SET requests_cached = requests_cached + ?,"
                " requests_computed = requests_computed + ? WHERE id = ?",
                &st, e))
        return -1;
    int bad = b_int(s, st, 1, cached_n, e) || b_int(s, st, 2, computed, e) || b_int(s, st, 3, id, e);
    return run_update(s, st, bad, id, "count requests", e);
}

int store_tag_put(store *s, int64_t run_id, const char *key, const char *value, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s, "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)", &st, e)) return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, key, e) || b_text(s, st, 3, value, e);
    if (bad || step_done(s, st, "insert tag", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* --- per-doc rows ------------------------------------------------------------ */

int store_put_doc(store *s, int64_t run_id, const store_doc *d, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_DOC,
                              "INSERT INTO docs (run_id, task, doc_id, doc_hash, prompt_hash, target, pred)"
                              " VALUES (?, ?, ?, ?, ?, ?, ?)",
                              e);
    if (!st) return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, d->task, e) || b_text(s, st, 3, d->doc_id, e) ||
              b_text(s, st, 4, d->doc_hash, e) || b_text(s, st, 5, d->prompt_hash, e) ||
              (d->target >= 0 ? b_int(s, st, 6, d->target, e) : b_text(s, st, 6, d->target_text, e)) ||
              (d->pred >= 0 ? b_int(s, st, 7, d->pred, e) : b_null(s, st, 7, e));
    if (bad) return -1;
    if (step_done(s, st, "insert doc", e)) return cj_wrap(e, "task %s doc %s", d->task, d->doc_id);
    return 0;
}

int store_put_choice(store *s, int64_t run_id, const store_choice *c, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_CHOICE,
                              "INSERT INTO choices (run_id, task, doc_id, choice_idx, logprob, n_tokens, n_chars,"
                              " n_bytes, is_greedy, label, n_words) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                              e);
    if (!st) return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, c->task, e) || b_text(s, st, 3, c->doc_id, e) ||
              b_int(s, st, 4, c->choice_idx, e) || b_real(s, st, 5, c->logprob, e) ||
              b_int(s, st, 6, c->n_tokens, e) || b_int(s, st, 7, c->n_chars, e) || b_int(s, st, 8, c->n_bytes, e) ||
              b_int(s, st, 9, c->is_greedy ? 1 : 0, e) ||
              (c->label >= 0 ? b_int(s, st, 10, c->label, e) : b_null(s, st, 10, e)) ||
              (c->n_words >= 0 ? b_int(s, st, 11, c->n_words, e) : b_null(s, st, 11, e));
    if (bad) return -1;
    if (step_done(s, st, "insert choice", e))
        return cj_wrap(e, "task %s doc %s choice %d", c->task, c->doc_id, c->choice_idx);
    return 0;
}

/* tokens / seconds, or NAN when the time is not positive or unknown. */
static double rate(double tokens, double seconds) { return seconds > 0 ? tokens / seconds : NAN; }

int store_put_latency_row(store *s, int64_t run_id, const store_latency *l, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_LATENCY,
                              "INSERT INTO latency (run_id, task, doc_id, prefill_tokens, decode_tokens, wall_s,"
                              " prefill_s, decode_s, ttft_s, prefill_tok_s, decode_tok_s)"
                              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              e);
    if (!st) return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, l->task, e) || b_text(s, st, 3, l->doc_id, e) ||
              b_int(s, st, 4, l->prefill_tokens, e) || b_int(s, st, 5, l->decode_tokens, e) ||
              b_real(s, st, 6, l->wall_s, e) || b_real(s, st, 7, l->prefill_s, e) ||
              b_real(s, st, 8, l->decode_s, e) || b_real(s, st, 9, l->ttft_s, e) ||
              b_real(s, st, 10, rate(l->prefill_tokens, l->prefill_s), e) ||
              b_real(s, st, 11, rate(l->decode_tokens, l->decode_s), e);
    if (bad) return -1;
    return step_done(s, st, "insert latency", e);
}

int store_put_latency(store *s, int64_t run_id, const char *task, const char *doc_id, int prefill_tokens,
                      int decode_tokens, double wall_s, cj_err *e) {
    store_latency l = {task, doc_id, prefill_tokens, decode_tokens, wall_s, NAN, NAN, NAN};
    if (decode_tokens == 0) {
        l.prefill_s = wall_s;
        l.decode_s = 0;
    }
    return store_put_latency_row(s, run_id, &l, e);
}

int store_latency_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_latency *l, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT task, doc_id, prefill_tokens, decode_tokens, wall_s, prefill_s, decode_s, ttft_s FROM latency"
                " WHERE run_id = ?1 AND (?2 IS NULL OR task = ?2) ORDER BY task, doc_id",
                &st, e))
        return -1;
    if (b_int(s, st, 1, run_id, e) || b_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_latency l = {
            .task = col_text(st, 0),
            .doc_id = col_text(st, 1),
            .prefill_tokens = sqlite3_column_int(st, 2),
            .decode_tokens = sqlite3_column_int(st, 3),
            .wall_s = col_real_or_nan(st, 4),
            .prefill_s = col_real_or_nan(st, 5),
            .decode_s = col_real_or_nan(st, 6),
            .ttft_s = col_real_or_nan(st, 7),
        };
        if (!l.task || !l.doc_id) {
            cj_fail(e, "%s: latency row without task or doc_id", s->path);
            goto fail;
        }
        if (cb(&l, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read latency");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_put_latency_summary(store *s, int64_t run_id, const store_latency_summary *l, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "INSERT OR REPLACE INTO latency_summary (run_id, task, docs, prefill_tokens, decode_tokens, wall_s,"
                " prefill_s, decode_s, prefill_tok_s, decode_tok_s, ttft_mean_s, ttft_p95_s, p50_s, p95_s, p99_s,"
                " docs_per_s, peak_rss_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &st, e))
        return -1;
    int i = 1;
    int bad = b_int(s, st, i++, run_id, e) || b_text(s, st, i++, l->task, e) || b_int(s, st, i++, l->docs, e) ||
              b_int(s, st, i++, l->prefill_tokens, e) || b_int(s, st, i++, l->decode_tokens, e) ||
              b_real(s, st, i++, l->wall_s, e) || b_real(s, st, i++, l->prefill_s, e) ||
              b_real(s, st, i++, l->decode_s, e) || b_real(s, st, i++, l->prefill_tok_s, e) ||
              b_real(s, st, i++, l->decode_tok_s, e) || b_real(s, st, i++, l->ttft_mean_s, e) ||
              b_real(s, st, i++, l->ttft_p95_s, e) || b_real(s, st, i++, l->p50_s, e) ||
              b_real(s, st, i++, l->p95_s, e) || b_real(s, st, i++, l->p99_s, e) ||
              b_real(s, st, i++, l->docs_per_s, e);
    bad = bad || (l->peak_rss_bytes >= 0 ? b_int(s, st, i, l->peak_rss_bytes, e) : b_null(s, st, i, e));
    if (bad || step_done(s, st, "insert latency summary", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_latency_summaries_each(store *s, int64_t run_id, int (*cb)(const store_latency_summary *l, void *ctx),
                                 void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT task, docs, prefill_tokens, decode_tokens, wall_s, prefill_s, decode_s, prefill_tok_s,"
                " decode_tok_s, ttft_mean_s, ttft_p95_s, p50_s, p95_s, p99_s, docs_per_s, peak_rss_bytes"
                " FROM latency_summary WHERE run_id = ? ORDER BY task = '" STORE_ALL_TASKS "', task",
                &st, e))
        return -1;
    if (b_int(s, st, 1, run_id, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int i = 0;
        store_latency_summary l;
        l.task = col_text(st, i++);
        l.docs = sqlite3_column_int(st, i++);
        l.prefill_tokens = sqlite3_column_int64(st, i++);
        l.decode_tokens = sqlite3_column_int64(st, i++);
        l.wall_s = col_real_or_nan(st, i++);
        l.prefill_s = col_real_or_nan(st, i++);
        l.decode_s = col_real_or_nan(st, i++);
        l.prefill_tok_s = col_real_or_nan(st, i++);
        l.decode_tok_s = col_real_or_nan(st, i++);
        l.ttft_mean_s = col_real_or_nan(st, i++);
        l.ttft_p95_s = col_real_or_nan(st, i++);
        l.p50_s = col_real_or_nan(st, i++);
        l.p95_s = col_real_or_nan(st, i++);
        l.p99_s = col_real_or_nan(st, i++);
        l.docs_per_s = col_real_or_nan(st, i++);
        l.peak_rss_bytes = sqlite3_column_type(st, i) == SQLITE_INTEGER ? sqlite3_column_int64(st, i) : -1;
        if (!l.task) {
            cj_fail(e, "%s: latency_summary row without task", s->path);
            goto fail;
        }
        if (cb(&l, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read latency summary");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* --- generations ------------------------------------------------------------- */

int store_put_generation(store *s, int64_t run_id, const store_generation *g, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_GEN,
                              "INSERT INTO generations (run_id, task, doc_id, text, n_tokens, finish_reason, answer,"
                              " exact_match, f1, abstained, correct, scores, refs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                              e);
    if (!st) return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, g->task, e) || b_text(s, st, 3, g->doc_id, e) ||
              b_text(s, st, 4, g->text ? g->text : "", e) || b_int(s, st, 5, g->n_tokens, e) ||
              b_text(s, st, 6, g->finish, e) || b_text(s, st, 7, g->answer, e) ||
              b_real(s, st, 8, g->exact_match, e) || b_real(s, st, 9, g->f1, e) ||
              (g->abstained >= 0 ? b_int(s, st, 10, g->abstained, e) : b_null(s, st, 10, e)) ||
              (g->correct >= 0 ? b_int(s, st, 11, g->correct, e) : b_null(s, st, 11, e)) ||
              b_text(s, st, 12, g->scores, e) || b_text(s, st, 13, g->refs, e);
    if (bad) return -1;
    if (step_done(s, st, "insert generation", e)) return cj_wrap(e, "task %s doc %s", g->task, g->doc_id);
    return 0;
}

int store_generations_each(store *s, int64_t run_id, const char *task,
                           int (*cb)(const store_generation *g, void *ctx), void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT task, doc_id, text, n_tokens, finish_reason, answer, exact_match, f1, abstained, correct,"
                " scores, refs FROM generations WHERE run_id = ? AND task = ? ORDER BY doc_id",
                &st, e))
        return -1;
    if (b_int(s, st, 1, run_id, e) || b_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_generation g = {
            .task = col_text(st, 0),
            .doc_id = col_text(st, 1),
            .text = col_text(st, 2),
            .n_tokens = sqlite3_column_int(st, 3),
            .finish = col_text(st, 4),
            .answer = col_text(st, 5),
            .exact_match = col_real_or_nan(st, 6),
            .f1 = col_real_or_nan(st, 7),
            .abstained = col_int_or(st, 8, -1),
            .correct = col_int_or(st, 9, -1),
            .scores = col_text(st, 10),
            .refs = col_text(st, 11),
        };
        if (!g.task || !g.doc_id || !g.text) {
            cj_fail(e, "%s: generations row without task, doc_id or text", s->path);
            goto fail;
        }
        if (cb(&g, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read generations");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_doc_ids_each(store *s, int64_t run_id, const char *task, int (*cb)(const char *doc_id, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT doc_id FROM docs WHERE run_id = ? AND task = ? ORDER BY doc_id", &st, e)) return -1;
    if (b_int(s, st, 1, run_id, e) || b_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(col_text(st, 0), ctx)) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read docs");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_choices_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_choice_row *row, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT c.doc_id, d.target, c.choice_idx, c.logprob, c.n_tokens, c.n_chars, c.n_bytes,"
                " c.is_greedy, c.label, c.n_words FROM choices c JOIN docs d USING (run_id, task, doc_id)"
                " WHERE c.run_id = ? AND c.task = ? ORDER BY c.doc_id, c.choice_idx",
                &st, e))
        return -1;
    if (b_int(s, st, 1, run_id, e) || b_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_choice_row r = {
            .doc_id = col_text(st, 0),
            .target = col_int_or(st, 1, -1),
            .choice_idx = sqlite3_column_int(st, 2),
            .logprob = sqlite3_column_double(st, 3),
            .n_tokens = sqlite3_column_int(st, 4),
            .n_chars = sqlite3_column_int(st, 5),
            .n_bytes = sqlite3_column_int(st, 6),
            .is_greedy = sqlite3_column_int(st, 7),
            .label = col_int_or(st, 8, -1),
            .n_words = sqlite3_column_type(st, 9) == SQLITE_INTEGER ? (long)sqlite3_column_int64(st, 9) : -1,
        };
        if (!r.doc_id) {
            cj_fail(e, "%s: choices row without doc_id", s->path);
            goto fail;
        }
        if (cb(&r, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read choices");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* --- metrics ----------------------------------------------------------------- */

int store_put_metric(store *s, int64_t run_id, const char *task, const char *kind, const char *metric, double value,
                     double stderr_, int n, cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "INSERT OR REPLACE INTO metrics (run_id, task, kind, metric, value, stderr, n)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                &st, e))
        return -1;
    int bad = b_int(s, st, 1, run_id, e) || b_text(s, st, 2, task, e) || b_text(s, st, 3, kind, e) ||
              b_text(s, st, 4, metric, e) || b_real(s, st, 5, value, e) || b_real(s, st, 6, stderr_, e) ||
              b_int(s, st, 7, n, e);
    if (bad || step_done(s, st, "insert metric", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_metrics_each(store *s, int64_t run_id, int (*cb)(const store_metric_row *m, void *ctx), void *ctx,
                       cj_err *e) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT task, kind, metric, value, stderr, n FROM metrics WHERE run_id = ?"
                " ORDER BY kind = 'task', task, metric",
                &st, e))
        return -1;
    if (b_int(s, st, 1, run_id, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_metric_row m = {
            .task = col_text(st, 0),
            .kind = col_text(st, 1),
            .metric = col_text(st, 2),
            .value = col_real_or_nan(st, 3),
            .stderr_ = col_real_or_nan(st, 4),
            .n = sqlite3_column_int(st, 5),
        };
        if (!m.task || !m.kind || !m.metric) {
            cj_fail(e, "%s: metrics row with NULL names", s->path);
            goto fail;
        }
        if (cb(&m, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, e, "read metrics");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* --- request cache ----------------------------------------------------------- */

int store_cache_get(store *s, const char *model_sha256, const char *request_hash, store_cached *out, int *found,
                    cj_err *e) {
    *found = 0;
    sqlite3_stmt *st = cached(s, ST_CACHE_GET,
                              "SELECT logprob, n_tokens, is_greedy FROM request_cache"
                              " WHERE model_sha256 = ? AND request_hash = ?",
                              e);
    if (!st) return -1;
    if (b_text(s, st, 1, model_sha256, e) || b_text(s, st, 2, request_hash, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->logprob = sqlite3_column_double(st, 0);
        out->n_tokens = sqlite3_column_int(st, 1);
        out->is_greedy = sqlite3_column_int(st, 2);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, e, "read request cache");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int store_cache_put(store *s, const char *model_sha256, const char *request_hash, const store_cached *c, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_CACHE_PUT,
                              "INSERT OR IGNORE INTO request_cache (model_sha256, request_hash, logprob, n_tokens,"
                              " is_greedy) VALUES (?, ?, ?, ?, ?)",
                              e);
    if (!st) return -1;
    int bad = b_text(s, st, 1, model_sha256, e) || b_text(s, st, 2, request_hash, e) ||
              b_real(s, st, 3, c->logprob, e) || b_int(s, st, 4, c->n_tokens, e) ||
              b_int(s, st, 5, c->is_greedy ? 1 : 0, e);
    if (bad) return -1;
    return step_done(s, st, "insert request cache", e);
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
    sqlite3_stmt *st = cached(s, ST_GEN_GET,
                              "SELECT text, n_tokens, finish_reason FROM generation_cache"
                              " WHERE model_sha256 = ? AND request_hash = ?",
                              e);
    if (!st) return -1;
    if (b_text(s, st, 1, model_sha256, e) || b_text(s, st, 2, request_hash, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *finish = finish_name(col_text(st, 2));
        if (!col_text(st, 0) || !finish) {
            sqlite3_reset(st);
            return cj_fail(e, "%s: generation_cache entry %s has no text or an unknown finish reason", s->path,
                           request_hash);
        }
        out->text = col_dup(st, 0);
        out->n_tokens = sqlite3_column_int(st, 1);
        out->finish = finish;
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, e, "read generation cache");
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int store_gen_cache_put(store *s, const char *model_sha256, const char *request_hash, const char *text,
                        int n_tokens, const char *finish, cj_err *e) {
    sqlite3_stmt *st = cached(s, ST_GEN_PUT,
                              "INSERT OR IGNORE INTO generation_cache (model_sha256, request_hash, text, n_tokens,"
                              " finish_reason) VALUES (?, ?, ?, ?, ?)",
                              e);
    if (!st) return -1;
    int bad = b_text(s, st, 1, model_sha256, e) || b_text(s, st, 2, request_hash, e) || b_text(s, st, 3, text, e) ||
              b_int(s, st, 4, n_tokens, e) || b_text(s, st, 5, finish, e);
    if (bad) return -1;
    return step_done(s, st, "insert generation cache", e);
}

/* --- bench ------------------------------------------------------------------- */

int store_bench_insert(store *s, const store_bench *b, int64_t *id, cj_err *e) {
    sqlite3_stmt *st;
    char now[32];
    store_now(now);
    if (prepare(s,
                "INSERT INTO bench (created_at, host, cpu, threads, harness_version, git_commit, model_path,"
                " model_sha256, model_format, model_dtype, model_params, tokenizer_sha256, prompt_tokens, gen_tokens,"
                " batch, reps, pp_tok_s, pp_tok_s_sd, tg_tok_s, tg_tok_s_sd, peak_rss_bytes, results)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &st, e))
        return -1;
    int i = 1;
    int bad = b_text(s, st, i++, now, e) || b_text(s, st, i++, b->host, e) || b_text(s, st, i++, b->cpu, e) ||
              b_int(s, st, i++, b->threads, e) || b_text(s, st, i++, b->harness_version, e) ||
              b_text(s, st, i++, b->git_commit, e) || b_text(s, st, i++, b->model_path, e) ||
              b_text(s, st, i++, b->model_sha256, e) || b_text(s, st, i++, b->model_format, e) ||
              b_text(s, st, i++, b->model_dtype, e) || b_int(s, st, i++, b->model_params, e) ||
              b_text(s, st, i++, b->tokenizer_sha256, e) || b_int(s, st, i++, b->prompt_tokens, e) ||
              b_int(s, st, i++, b->gen_tokens, e) || b_int(s, st, i++, b->batch, e) || b_int(s, st, i++, b->reps, e) ||
              b_real(s, st, i++, b->pp_tok_s, e) || b_real(s, st, i++, b->pp_tok_s_sd, e) ||
              b_real(s, st, i++, b->tg_tok_s, e) || b_real(s, st, i++, b->tg_tok_s_sd, e);
    bad = bad || (b->peak_rss_bytes >= 0 ? b_int(s, st, i, b->peak_rss_bytes, e) : b_null(s, st, i, e));
    bad = bad || b_text(s, st, i + 1, b->results, e);
    if (bad || step_done(s, st, "insert bench", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}
