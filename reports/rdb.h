/* rdb — the SQLite helpers reports/'s readers share (report and compare both
 * open the database read-only and read it the same way).
 * rdb_fail fills e with "database: WHAT: <sqlite's message>" and returns -1;
 * rdb_has_table is 1 when the table exists (0 also when the query fails:
 * an older database without it). */
#ifndef CJ_RDB_H
#define CJ_RDB_H

#include <sqlite3.h>

#include "../common/err.h"

int rdb_fail(sqlite3 *db, cj_err *e, const char *what);
int rdb_has_table(sqlite3 *db, const char *name);

#endif
