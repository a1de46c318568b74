/* rdb — see rdb.h. */
#include "rdb.h"

int rdb_fail(sqlite3 *db, cj_err *e, const char *what) {
    return cj_fail(e, "database: %s: %s", what, sqlite3_errmsg(db));
}

int rdb_has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return r;
}
