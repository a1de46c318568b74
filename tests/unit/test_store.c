#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../store/store.h"
#include "../check.h"

static char *tmp_db(void) {
    static int k;
    char *p = malloc(128);
    snprintf(p, 128, "/tmp/cj_test_store_%d_%d.db", (int)getpid(), k++);
    unlink(p);
    return p;
}

static void rm_db(char *p) {
    char q[160];
    unlink(p);
    snprintf(q, sizeof q, "%s-wal", p);
    unlink(q);
    snprintf(q, sizeof q, "%s-shm", p);
    unlink(q);
    free(p);
}

/* One value from a raw SQL query (text), "" if no row; caller frees. */
static char *query1(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) return strdup("open failed");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            out = strdup(t ? t : "NULL");
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out ? out : strdup("");
}

static int query_int(const char *path, const char *sql) {
    char *s = query1(path, sql);
    int v = atoi(s);
    free(s);
    return v;
}

static void test_schema_and_wal(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    int v = -1;
    CHECK(store_user_version(s, &v, &e) == 0);
    CHECK(v == STORE_SCHEMA_VERSION);
    char *mode = query1(p, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    const char *tables[] = {"runs", "docs", "choices", "metrics", "latency", "tags", "request_cache"};
    for (int i = 0; i < 7; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        CHECKF(query_int(p, sql) == 1, "table %s", tables[i]);
    }
    const char *run_cols[] = {"id", "status", "model_path", "model_sha256", "model_format", "model_arch",
                              "model_params", "model_dtype", "tokenizer", "tasks", "task_hashes", "data_hashes",
                              "seed", "threads", "batch", "shots", "limit", "harness_version", "git_commit",
                              "host", "started_at", "finished_at", "config_hash", "tags"};
    for (size_t i = 0; i < sizeof run_cols / sizeof run_cols[0]; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('runs') WHERE name='%s'", run_cols[i]);
        CHECKF(query_int(p, sql) == 1, "runs.%s", run_cols[i]);
    }
    store_close(s);
    rm_db(p);
}

static void test_migrations_idempotent(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    store_run r = {.tasks = "[\"x\"]", .shots = -1};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    store_close(s);
    for (int k = 0; k < 2; k++) { /* reopening neither re-runs nor loses anything */
        CHECK(store_open(p, &s, &e) == 0);
        int v;
        CHECK(store_user_version(s, &v, &e) == 0 && v == STORE_SCHEMA_VERSION);
        store_close(s);
    }
    CHECK(query_int(p, "SELECT count(*) FROM runs") == 1);
    /* a database from the future is refused with a message */
    sqlite3 *db;
    CHECK(sqlite3_open(p, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(store_open(p, &s, &e) == -1);
    CHECK(strstr(e.msg, "99") != NULL);
    rm_db(p);
}

static void test_bound_params_quotes_korean(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    const char *evil = "it's \"quoted\"'); DROP TABLE runs; --";
    store_run r = {.model_path = evil,
                   .model_sha256 = "ab12",
                   .tasks = "[\"한국어\"]",
                   .tags = "{\"note\": \"채점 '따옴표'\"}",
                   .seed = 1234,
                   .threads = 2,
                   .batch = 8,
                   .shots = 5,
                   .limit = 3,
                   .model_params = 260000,
                   .config_hash = "cfg",
                   .kernels = "own"};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    CHECK(store_tag_put(s, id, "메모", "값 'x' \"y\"", &e) == 0);
    store_run g;
    int found;
    CHECK(store_run_get(s, id, &g, &found, &e) == 0 && found);
    CHECK_STR(g.model_path, evil);
    CHECK_STR(g.tasks, "[\"한국어\"]");
    CHECK_STR(g.tags, r.tags);
    CHECK_STR(g.status, "running");
    CHECK(g.seed == 1234 && g.shots == 5 && g.limit == 3 && g.model_params == 260000);
    CHECK_STR(g.kernels, "own");
    CHECK(g.started_at && strlen(g.started_at) == 20 && !g.finished_at);
    store_run_clear(&g);
    char *tv = query1(p, "SELECT value FROM tags WHERE key = '메모'");
    CHECK_STR(tv, "값 'x' \"y\"");
    free(tv);
    /* shots -1 and limit 0 are NULL */
    store_run r2 = {.tasks = "[]", .shots = -1, .limit = 0};
    int64_t id2;
    CHECK(store_run_insert(s, &r2, &id2, &e) == 0);
    CHECK(id2 > id);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT shots IS NULL AND \"limit\" IS NULL FROM runs WHERE id = %lld", (long long)id2);
    CHECK(query_int(p, sql) == 1);
    CHECK(store_run_get(s, id2, &g, &found, &e) == 0 && found && g.shots == -1 && g.limit == 0 && !g.kernels);
    store_run_clear(&g);
    CHECK(store_run_get(s, 999, &g, &found, &e) == 0 && !found);
    CHECK(store_run_set_status(s, id, "done", &e) == 0);
    CHECK(store_run_get(s, id, &g, &found, &e) == 0 && !strcmp(g.status, "done") && g.finished_at);
    store_run_clear(&g);
    CHECK(store_run_set_status(s, 999, "done", &e) == -1);
    CHECK(store_run_set_status(s, id, "bogus", &e) == -1); /* CHECK constraint */
    store_close(s);
    rm_db(p);
}

static int count_cb(const store_choice_row *row, void *ctx) {
    int *n = ctx;
    if (row->choice_idx == 1 && !strcmp(row->doc_id, "test:0")) n[1] = row->target * 100 + row->label;
    n[0]++;
    return 0;
}

static int id_cb(const char *doc_id, void *ctx) {
    (void)doc_id;
    (*(int *)ctx)++;
    return 0;
}

static void test_docs_choices_transactions(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    store_run r = {.tasks = "[\"t\"]", .shots = -1};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    CHECK(store_begin(s, &e) == 0);
    store_doc d = {.task = "t", .doc_id = "test:0", .doc_hash = "dh", .prompt_hash = "ph", .target = 2, .pred = 1};
    CHECK(store_put_doc(s, id, &d, &e) == 0);
    for (int i = 0; i < 3; i++) {
        store_choice c = {.task = "t", .doc_id = "test:0", .choice_idx = i, .logprob = -1.5 - i, .n_tokens = 2,
                          .n_chars = 3, .n_bytes = 4, .is_greedy = i == 0, .label = i == 2, .n_words = -1};
        CHECK(store_put_choice(s, id, &c, &e) == 0);
    }
    CHECK(store_put_latency(s, id, "t", "test:0", 10, 0, 0.25, &e) == 0);
    CHECK(store_commit(s, &e) == 0);
    int n[2] = {0, 0};
    CHECK(store_choices_each(s, id, "t", count_cb, n, &e) == 0);
    CHECK(n[0] == 3 && n[1] == 200);
    /* rolled back rows vanish */
    CHECK(store_begin(s, &e) == 0);
    store_doc d2 = {.task = "t", .doc_id = "test:1", .target = -1, .target_text = "[0,2]", .pred = -1};
    CHECK(store_put_doc(s, id, &d2, &e) == 0);
    store_rollback(s);
    int k = 0;
    CHECK(store_doc_ids_each(s, id, "t", id_cb, &k, &e) == 0 && k == 1);
    /* duplicates and orphans are refused */
    CHECK(store_put_doc(s, id, &d, &e) == -1);
    CHECK(strstr(e.msg, "test:0") != NULL);
    store_choice orphan = {.task = "t", .doc_id = "nope", .choice_idx = 0, .label = -1, .n_words = -1};
    CHECK(store_put_choice(s, id, &orphan, &e) == -1);
    /* text targets keep their text, integer targets their type */
    CHECK(store_put_doc(s, id, &d2, &e) == 0);
    char *tt = query1(p, "SELECT target || '|' || typeof(target) FROM docs WHERE doc_id = 'test:1'");
    CHECK_STR(tt, "[0,2]|text");
    free(tt);
    CHECK(query_int(p, "SELECT count(*) FROM docs d JOIN choices c USING (run_id, task, doc_id)"
                       " WHERE c.choice_idx = d.target") == 1);
    store_close(s);
    rm_db(p);
}

static int metric_cb(const store_metric_row *m, void *ctx) {
    int *n = ctx;
    if (*n == 0) CHECK_STR(m->kind, "group");
    if (!strcmp(m->metric, "acc_norm")) CHECK(isnan(m->stderr_) && m->n == 7);
    (*n)++;
    return 0;
}

static void test_metrics_and_cache(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    store_run r = {.tasks = "[]", .shots = -1};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    CHECK(store_put_metric(s, id, "t", "task", "acc", 0.5, 0.1, 10, &e) == 0);
    CHECK(store_put_metric(s, id, "t", "task", "acc_norm", 0.25, NAN, 7, &e) == 0);
    CHECK(store_put_metric(s, id, "g", "group", "acc", 0.5, 0.1, 10, &e) == 0);
    CHECK(store_put_metric(s, id, "t", "task", "acc", 0.75, 0.1, 10, &e) == 0); /* replaces */
    int n = 0;
    CHECK(store_metrics_each(s, id, metric_cb, &n, &e) == 0 && n == 3);
    CHECK(query_int(p, "SELECT count(*) FROM metrics WHERE value = 0.75") == 1);
    char h[65];
    store_request_hash("ctx", " cont", h);
    CHECK_STR(h, "abd525a584e4a1723e7b29a64849e728ef94409f21f8c5bae565ba90f2e79b72");
    char h2[65];
    store_request_hash("ctx ", "cont", h2);
    CHECK(strcmp(h, h2) != 0);
    store_rolling_hash("text", h2);
    CHECK_STR(h2, "6b92ea325b17e0fb12e27ddbf27edf3ba4fdbba6da3999304ab5603bb03ec283");
    store_cached c = {-3.25, 2, 1}, got;
    int found;
    CHECK(store_cache_get(s, "m", h, &got, &found, &e) == 0 && !found);
    CHECK(store_cache_put(s, "m", h, &c, &e) == 0);
    store_cached c2 = {-9, 9, 0};
    CHECK(store_cache_put(s, "m", h, &c2, &e) == 0); /* kept, not replaced */
    CHECK(store_cache_get(s, "m", h, &got, &found, &e) == 0 && found);
    CHECK(got.logprob == -3.25 && got.n_tokens == 2 && got.is_greedy == 1);
    CHECK(store_cache_get(s, "other", h, &got, &found, &e) == 0 && !found);
    store_close(s);
    rm_db(p);
}

static int lat_cb(const store_latency *l, void *ctx) {
    store_latency *out = ctx;
    *out = *l;
    out->task = out->doc_id = NULL; /* valid only during the callback */
    return 0;
}

static int sum_cb(const store_latency_summary *l, void *ctx) {
    char *order = ctx;
    strncat(order, l->task, 32);
    strcat(order, ",");
    return 0;
}

static int gen_cb(const store_generation *g, void *ctx) {
    int *ok = ctx;
    *ok = !strcmp(g->text, "B, I think") && g->n_tokens == 3 && !strcmp(g->finish, "stop") &&
          !strcmp(g->answer, "B") && g->exact_match == 1 && isnan(g->f1) && g->abstained == 0 && g->correct == -1 &&
          g->refs == NULL && !strcmp(g->scores, "{\"exact_match\": 1.0}");
    return 0;
}

/* Schema 2: the latency split and its rates, summaries, generations, the
 * generation cache and bench rows. */
static void test_generation_and_latency_rows(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    store_run r = {.tasks = "[]", .shots = -1};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    store_doc d = {.task = "g", .doc_id = "test:0", .target = -1, .target_text = "B", .pred = -1};
    CHECK(store_put_doc(s, id, &d, &e) == 0);
    d.doc_id = "test:1";
    CHECK(store_put_doc(s, id, &d, &e) == 0);
    store_latency l = {"g", "test:0", 100, 10, 0.5, 0.1, 0.4, 0.1};
    CHECK(store_put_latency_row(s, id, &l, &e) == 0);
    CHECK(store_put_latency(s, id, "g", "test:1", 40, 0, 0.2, &e) == 0); /* scoring: all prefill */
    CHECK(query_int(p, "SELECT prefill_tok_s = 1000 AND decode_tok_s = 25 FROM latency WHERE doc_id = 'test:0'") == 1);
    CHECK(query_int(p, "SELECT prefill_s = 0.2 AND decode_s = 0 AND prefill_tok_s = 200 AND decode_tok_s IS NULL"
                       " AND ttft_s IS NULL FROM latency WHERE doc_id = 'test:1'") == 1);
    store_latency back;
    CHECK(store_latency_each(s, id, "g", lat_cb, &back, &e) == 0 && back.prefill_tokens == 40 && isnan(back.ttft_s));
    store_latency_summary sum = {"g", 2, 140, 10, 0.7, 0.3, 0.4, 140 / 0.3, 25, 0.1, 0.1, 0.2, 0.5, 0.5, 2 / 0.7, -1};
    CHECK(store_put_latency_summary(s, id, &sum, &e) == 0);
    sum.task = STORE_ALL_TASKS;
    sum.peak_rss_bytes = 1 << 20;
    CHECK(store_put_latency_summary(s, id, &sum, &e) == 0);
    sum.task = "a";
    sum.peak_rss_bytes = -1;
    CHECK(store_put_latency_summary(s, id, &sum, &e) == 0);
    CHECK(store_put_latency_summary(s, id, &sum, &e) == 0); /* replaces */
    char order[128] = "";
    CHECK(store_latency_summaries_each(s, id, sum_cb, order, &e) == 0);
    CHECK_STR(order, "a,g,(all),");
    CHECK(query_int(p, "SELECT count(*) FROM latency_summary WHERE peak_rss_bytes IS NULL") == 2);

    store_generation g = {"g", "test:0", "B, I think", 3, "stop", "B", 1, NAN, 0, -1, "{\"exact_match\": 1.0}", NULL};
    CHECK(store_put_generation(s, id, &g, &e) == 0);
    CHECK(store_put_generation(s, id, &g, &e) == -1 && strstr(e.msg, "test:0")); /* once per doc */
    g.doc_id = "test:9";
    CHECK(store_put_generation(s, id, &g, &e) == -1); /* no such doc */
    int ok = 0;
    CHECK(store_generations_each(s, id, "g", gen_cb, &ok, &e) == 0 && ok);

    char h[65], h2[65];
    store_generate_hash("ctx", "{\"max_tokens\":8}", h);
    store_generate_hash("ctx", "{\"max_tokens\":9}", h2);
    CHECK(strcmp(h, h2) != 0);
    store_request_hash("ctx", "{\"max_tokens\":8}", h2);
    CHECK(strcmp(h, h2) != 0);
    store_gen_cached c;
    int found;
    CHECK(store_gen_cache_get(s, "m", h, &c, &found, &e) == 0 && !found && c.text == NULL);
    CHECK(store_gen_cache_put(s, "m", h, "첫 답", 2, "eos", &e) == 0);
    CHECK(store_gen_cache_put(s, "m", h, "other", 9, "length", &e) == 0); /* kept, not replaced */
    CHECK(store_gen_cache_get(s, "m", h, &c, &found, &e) == 0 && found);
    CHECK(c.text && !strcmp(c.text, "첫 답") && c.n_tokens == 2 && !strcmp(c.finish, "eos"));
    free(c.text);

    store_bench b = {.host = "h", .cpu = "cpu", .threads = 2, .git_commit = "abc", .model_sha256 = "m",
                     .prompt_tokens = 64, .gen_tokens = 0, .reps = 3, .pp_tok_s = 100, .pp_tok_s_sd = 5,
                     .tg_tok_s = NAN, .tg_tok_s_sd = NAN, .peak_rss_bytes = -1, .results = "{}"};
    int64_t bid;
    CHECK(store_bench_insert(s, &b, &bid, &e) == 0 && bid == 1);
    CHECK(query_int(p, "SELECT pp_tok_s = 100 AND tg_tok_s IS NULL AND peak_rss_bytes IS NULL AND created_at != ''"
                       " FROM bench") == 1);
    store_close(s);
    rm_db(p);
}

/* A version-1 file (before generations) is migrated when opened; its rows stay. */
static void test_migrate_from_v1(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    store_run r = {.tasks = "[]", .shots = -1};
    int64_t id;
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    store_doc d = {.task = "t", .doc_id = "test:0", .target = 1, .pred = 0};
    CHECK(store_put_doc(s, id, &d, &e) == 0);
    CHECK(store_put_latency(s, id, "t", "test:0", 7, 0, 0.5, &e) == 0);
    store_close(s);
    /* back to schema 1 as version 1 wrote it */
    sqlite3 *db;
    CHECK(sqlite3_open(p, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "DROP TABLE generations; DROP TABLE generation_cache; DROP TABLE latency_summary;"
                       " DROP TABLE bench; ALTER TABLE latency DROP COLUMN prefill_s;"
                       " ALTER TABLE latency DROP COLUMN decode_s; ALTER TABLE latency DROP COLUMN ttft_s;"
                       " ALTER TABLE latency DROP COLUMN prefill_tok_s; ALTER TABLE latency DROP COLUMN decode_tok_s;"
                       " ALTER TABLE runs DROP COLUMN kernels; PRAGMA user_version = 1",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(store_open(p, &s, &e) == 0);
    int v = 0;
    CHECK(store_user_version(s, &v, &e) == 0 && v == STORE_SCHEMA_VERSION);
    store_close(s);
    CHECK(query_int(p, "SELECT count(*) FROM latency WHERE wall_s = 0.5 AND prefill_s IS NULL") == 1);
    CHECK(query_int(p, "SELECT count(*) FROM sqlite_master WHERE name IN ('generations', 'generation_cache',"
                       " 'latency_summary', 'bench')") == 4);
    rm_db(p);
}

static void test_two_connections(void) {
    char *p = tmp_db();
    store *a, *b;
    cj_err e;
    CHECK(store_open(p, &a, &e) == 0);
    CHECK(store_open(p, &b, &e) == 0);
    store_run r = {.tasks = "[]", .shots = -1};
    int64_t id;
    CHECK(store_begin(a, &e) == 0);
    CHECK(store_run_insert(a, &r, &id, &e) == 0);
    /* WAL: b reads the last committed state while a holds the write lock */
    store_run g;
    int found = 1;
    CHECK(store_run_get(b, id, &g, &found, &e) == 0 && !found);
    CHECK(store_commit(a, &e) == 0);
    CHECK(store_run_get(b, id, &g, &found, &e) == 0 && found);
    store_run_clear(&g);
    store_close(a);
    store_close(b);
    rm_db(p);
}

/* Processes that open one new database at the same moment all succeed: the
 * switch to WAL and the schema wait for each other instead of failing with
 * "database is locked". Each round releases 4 children through a pipe. */
static void test_simultaneous_first_opens(void) {
    enum { ROUNDS = 40, KIDS = 4 };
    int failed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char *p = tmp_db();
        int go[2];
        CHECK(pipe(go) == 0);
        pid_t kid[KIDS];
        for (int k = 0; k < KIDS; k++) {
            kid[k] = fork();
            if (kid[k] == 0) {
                char c;
                close(go[1]);
                if (read(go[0], &c, 1) != 0) _exit(3); /* EOF: all go at once */
                store *s;
                cj_err e;
                if (store_open(p, &s, &e)) {
                    fprintf(stderr, "  round %d: %s\n", round, e.msg);
                    _exit(1);
                }
                store_close(s);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]);
        for (int k = 0; k < KIDS; k++) {
            int st = 0;
            if (kid[k] < 0 || waitpid(kid[k], &st, 0) != kid[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
        }
        rm_db(p);
    }
    CHECKF(failed == 0, "%d of %d opens failed", failed, ROUNDS * KIDS);
}

static void test_open_errors(void) {
    store *s;
    cj_err e;
    CHECK(store_open("/nonexistent/dir/x.db", &s, &e) == -1);
    CHECK(strstr(e.msg, "/nonexistent/dir/x.db") != NULL);
    CHECK(s == NULL);
}

int main(void) {
    RUN(test_schema_and_wal);
    RUN(test_migrations_idempotent);
    RUN(test_bound_params_quotes_korean);
    RUN(test_docs_choices_transactions);
    RUN(test_metrics_and_cache);
    RUN(test_generation_and_latency_rows);
    RUN(test_migrate_from_v1);
    RUN(test_two_connections);
    RUN(test_simultaneous_first_opens);
    RUN(test_open_errors);
    return check_summary_();
}
