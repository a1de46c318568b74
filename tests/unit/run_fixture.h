/* run_fixture — what the run pipeline's test binaries (test_run.c,
 * test_run_gen.c) share: a scratch folder of task definitions and data in
 * /tmp, run options, a run on a fresh database, and SQL probes of the
 * stored rows. Header-only: static functions, each used by both binaries. */
#ifndef CJ_RUN_FIXTURE_H
#define CJ_RUN_FIXTURE_H

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness/run.h"
#include "../check.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char g_root[128], g_defs[160], g_data[160];
static int g_db_seq;

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* The scratch folder /tmp/cj_test_<name>_<pid>: defs/ for task
 * definitions, data/toy/ for their data. */
static void fixture_dirs(const char *name) {
    snprintf(g_root, sizeof g_root, "/tmp/cj_test_%s_%d", name, (int)getpid());
    snprintf(g_defs, sizeof g_defs, "%s/defs", g_root);
    snprintf(g_data, sizeof g_data, "%s/data", g_root);
    char toy[200];
    snprintf(toy, sizeof toy, "%s/toy", g_data);
    mkdir(g_root, 0755);
    mkdir(g_defs, 0755);
    mkdir(g_data, 0755);
    mkdir(toy, 0755);
}

static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", g_root);
}

static char *new_db(void) {
    char *p = malloc(256);
    snprintf(p, 256, "%s/run%d.db", g_root, g_db_seq++);
    return p;
}

static task_registry *load_reg(void) {
    task_registry *reg = NULL;
    cj_err e;
    if (task_registry_load(g_defs, &reg, &e)) {
        printf("  registry: %s\n", e.msg);
        return NULL;
    }
    return reg;
}

static run_opts opts(const char *tasks) {
    run_opts o;
    run_opts_init(&o);
    o.tasks = tasks;
    o.data_dir = g_data;
    o.batch = 3;
    o.threads = 1;
    o.bootstrap_iters = 200;
    return o;
}

/* --- SQL helpers -------------------------------------------------------------- */

static double q_num(const char *db, const char *sql, int64_t run_id) {
    sqlite3 *h;
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return NAN;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        printf("  sql error: %s\n", sqlite3_errmsg(h));
    } else {
        if (sqlite3_bind_parameter_count(st) >= 1) sqlite3_bind_int64(st, 1, run_id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static double metric(const char *db, int64_t run_id, const char *task, const char *m, int want_stderr) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM metrics WHERE run_id = ? AND task = '%s' AND metric = '%s'",
             want_stderr ? "stderr" : "value", task, m);
    return q_num(db, sql, run_id);
}
static int64_t run_ok(runner *r, task_registry *reg, const char *db, const run_opts *o, run_result *res) {
    store *s;
    cj_err e;
    if (store_open(db, &s, &e)) {
        printf("  store: %s\n", e.msg);
        return 0;
    }
    int rc = run_execute(r, reg, s, o, res, &e);
    if (rc) printf("  run_execute: %s\n", e.msg);
    store_close(s);
    return rc ? 0 : res->run_id;
}
/* Every latency row (and summary) has tokens/s x seconds = tokens. */
static void check_latency_units(const char *db, int64_t id) {
    CHECK(q_num(db, "SELECT count(*) FROM latency WHERE run_id = ?", id) > 0);
    CHECK(q_num(db,
                "SELECT count(*) FROM latency WHERE run_id = ?1 AND NOT ("
                " abs(prefill_s + decode_s - wall_s) <= 1e-9 * max(wall_s, 1)"
                " AND (prefill_tok_s IS NULL OR abs(prefill_tok_s * prefill_s - prefill_tokens) <= 1e-6 * max(prefill_tokens, 1))"
                " AND (decode_tok_s IS NULL OR abs(decode_tok_s * decode_s - decode_tokens) <= 1e-6 * max(decode_tokens, 1))"
                " AND (prefill_tok_s IS NOT NULL OR prefill_s <= 0) AND (decode_tok_s IS NOT NULL OR decode_s <= 0))",
                id) == 0);
    CHECK(q_num(db,
                "SELECT count(*) FROM latency_summary WHERE run_id = ?1 AND NOT ("
                " (prefill_tok_s IS NULL OR abs(prefill_tok_s * prefill_s - prefill_tokens) <= 1e-6 * max(prefill_tokens, 1))"
                " AND (decode_tok_s IS NULL OR abs(decode_tok_s * decode_s - decode_tokens) <= 1e-6 * max(decode_tokens, 1))"
                " AND abs(docs_per_s * wall_s - docs) <= 1e-6 * docs AND p50_s <= p95_s AND p95_s <= p99_s)",
                id) == 0);
    /* the whole-run row adds up the task rows and carries the peak memory */
    CHECK(q_num(db,
                "SELECT a.docs = (SELECT sum(docs) FROM latency_summary WHERE run_id = ?1 AND task != '(all)')"
                " AND a.prefill_tokens = (SELECT sum(prefill_tokens) FROM latency WHERE run_id = ?1)"
                " AND a.decode_tokens = (SELECT sum(decode_tokens) FROM latency WHERE run_id = ?1)"
                " AND a.peak_rss_bytes > 0 FROM latency_summary a WHERE a.run_id = ?1 AND a.task = '(all)'",
                id) == 1);
}

#endif
