/* store — opening and closing the database, transactions, and the
 * statement helpers (errors, prepare, bind, step, column reads) that the
 * other store files share through store_impl.h. The schema is in
 * store_schema.c, the tables' statements in store_runs.c, store_rows.c and
 * store_cache.c. */
#include "store_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"

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

int store_db_fail(store *s, cj_err *e, const char *what) {
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

int store_exec(store *s, const char *sql, cj_err *e) { return exec_retry(s, sql, 0, e); }
static int exec_wait(store *s, const char *sql, cj_err *e) { return exec_retry(s, sql, 1, e); }

int store_prepare(store *s, const char *sql, sqlite3_stmt **st, cj_err *e) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return store_db_fail(s, e, "prepare");
    }
    return 0;
}

sqlite3_stmt *store_stmt_cached(store *s, int which, const char *sql, cj_err *e) {
    if (!s->st[which] && store_prepare(s, sql, &s->st[which], e)) return NULL;
    sqlite3_reset(s->st[which]);
    sqlite3_clear_bindings(s->st[which]);
    return s->st[which];
}

int store_bind_text(store *s, sqlite3_stmt *st, int i, const char *v, cj_err *e) {
    int rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    return rc == SQLITE_OK ? 0 : store_db_fail(s, e, "bind");
}
int store_bind_int(store *s, sqlite3_stmt *st, int i, int64_t v, cj_err *e) {
    return sqlite3_bind_int64(st, i, v) == SQLITE_OK ? 0 : store_db_fail(s, e, "bind");
}
int store_bind_null(store *s, sqlite3_stmt *st, int i, cj_err *e) {
    return sqlite3_bind_null(st, i) == SQLITE_OK ? 0 : store_db_fail(s, e, "bind");
}
int store_bind_real(store *s, sqlite3_stmt *st, int i, double v, cj_err *e) {
    int rc = isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
    return rc == SQLITE_OK ? 0 : store_db_fail(s, e, "bind");
}

int store_step_done(store *s, sqlite3_stmt *st, const char *what, cj_err *e) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(s, e, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

const char *store_col_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }
char *store_col_dup(sqlite3_stmt *st, int i) {
    const char *t = store_col_text(st, i);
    return t ? cj_xstrdup(t) : NULL;
}
int store_col_int_or(sqlite3_stmt *st, int i, int dflt) {
    return sqlite3_column_type(st, i) == SQLITE_INTEGER ? sqlite3_column_int(st, i) : dflt;
}
double store_col_real_or_nan(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
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
        store_db_fail(s, e, "busy timeout");
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
        exec_wait(s, "PRAGMA synchronous = NORMAL", e) || store_migrate(s, e)) {
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
    if (store_exec(s, "BEGIN IMMEDIATE", e)) return -1;
    s->in_tx = 1;
    return 0;
}

int store_commit(store *s, cj_err *e) {
    if (store_exec(s, "COMMIT", e)) {
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
