/* store_impl — the store's private header: the connection struct and the
 * statement helpers its files share. store.c opens and closes the database,
 * runs transactions and holds these helpers; store_schema.c the migrations;
 * store_runs.c the runs, tags and bench tables; store_rows.c the per-doc
 * rows and metrics of a run; store_cache.c the request and generation
 * caches. Nothing outside store/ includes this file (store.h is the public
 * contract). */
#ifndef CJ_STORE_IMPL_H
#define CJ_STORE_IMPL_H

#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

/* Statements prepared once and reused (the per-batch hot path). */
enum { ST_DOC, ST_CHOICE, ST_LATENCY, ST_CACHE_GET, ST_CACHE_PUT, ST_GEN, ST_GEN_GET, ST_GEN_PUT, ST_COUNT };

struct store {
    sqlite3 *db;
    char *path;
    int in_tx;
    sqlite3_stmt *st[ST_COUNT];
};

/* Fills e with the path, what failed, SQLite's message and the system's
 * reason where there is one; returns -1. */
int store_db_fail(store *s, cj_err *e, const char *what);

/* Runs SQL that carries no outside values (schema, pragmas, BEGIN). */
int store_exec(store *s, const char *sql, cj_err *e);

int store_prepare(store *s, const char *sql, sqlite3_stmt **st, cj_err *e);

/* The statement ST_* (prepared from sql on first use), reset and with
 * bindings cleared, ready to bind; NULL with e filled on failure. */
sqlite3_stmt *store_stmt_cached(store *s, int which, const char *sql, cj_err *e);

/* Binding helpers: each returns 0 or -1 (with the message in e). NULL text
 * and NAN reals bind as NULL. */
int store_bind_text(store *s, sqlite3_stmt *st, int i, const char *v, cj_err *e);
int store_bind_int(store *s, sqlite3_stmt *st, int i, int64_t v, cj_err *e);
int store_bind_null(store *s, sqlite3_stmt *st, int i, cj_err *e);
int store_bind_real(store *s, sqlite3_stmt *st, int i, double v, cj_err *e);

/* Steps a statement that returns no rows, then resets it. */
int store_step_done(store *s, sqlite3_stmt *st, const char *what, cj_err *e);

/* Column readers: the text (owned by the statement), a malloc'd copy of it
 * (NULL for NULL), an integer or dflt when the value is not one, a real or
 * NAN for NULL. */
const char *store_col_text(sqlite3_stmt *st, int i);
char *store_col_dup(sqlite3_stmt *st, int i);
int store_col_int_or(sqlite3_stmt *st, int i, int dflt);
double store_col_real_or_nan(sqlite3_stmt *st, int i);

/* Applies the migrations the database lacks, in one transaction
 * (store_schema.c). */
int store_migrate(store *s, cj_err *e);

#endif
