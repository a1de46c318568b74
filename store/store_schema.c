/* store_schema — the schema as its list of migrations, and applying the
 * ones a database lacks when it is opened. Kept apart from the statements:
 * the schema is a public contract that grows only by appended migrations,
 * and its history reads best in one place. */
#include "store_impl.h"

#include <stdio.h>

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

int store_user_version(store *s, int *version, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, "PRAGMA user_version", &st, e)) return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        store_db_fail(s, e, "read user_version");
        sqlite3_finalize(st);
        return -1;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int store_migrate(store *s, cj_err *e) {
    int v;
    if (store_user_version(s, &v, e)) return -1;
    if (v > N_MIGRATIONS)
        return cj_fail(e, "%s: schema version %d is newer than this chaejeom knows (%d)", s->path, v, N_MIGRATIONS);
    if (v == N_MIGRATIONS) return 0;
    if (store_begin(s, e)) return -1;
    /* Re-read under the write lock: another process may have migrated meanwhile. */
    if (store_user_version(s, &v, e)) goto fail;
    for (; v < N_MIGRATIONS; v++) {
        if (store_exec(s, MIGRATIONS[v], e)) {
            cj_wrap(e, "migration %d", v + 1);
            goto fail;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (store_exec(s, pragma, e)) goto fail;
    }
    return store_commit(s, e);
fail:
    store_rollback(s);
    return -1;
}
