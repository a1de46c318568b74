/* Unit tests of harness/compare on small databases built in /tmp through the
 * store (so they have the real schema): identical runs pass, a candidate
 * with many flipped answers fails the gate naming the task, differing task
 * definitions or data are refused unless forced, groups pool their tasks,
 * and every rendering is well-formed. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../reports/compare.h"
#include "../../store/store.h"
#include "../check.h"

#define N_DOCS 100

static char db_path[64];

static int right_80(int i) { return i % 5 != 0; }
static int right_worse(int i) { return i % 5 != 0 && i % 3 != 0; }
static int right_most_flipped(int i) { return i % 5 == 0; }

/* One multiple-choice task: 4 choices, gold i % 4, the model picks gold
 * when right(i), else the next choice. mc2 labels mark the gold choice;
 * each doc gets a latency row of wall_s seconds. doc_salt changes the
 * content hashes (other data). */
static void put_task(store *s, int64_t run, const char *task, int n, int (*right)(int), const char *doc_salt,
                     double wall_s) {
    cj_err e;
    for (int i = 0; i < n; i++) {
        char id[32], hash[64];
        snprintf(id, sizeof id, "test:%03d", i);
        snprintf(hash, sizeof hash, "%s-%s-%d", doc_salt, task, i);
        int gold = i % 4, pred = right(i) ? gold : (gold + 1) % 4;
        store_doc d = {task, id, hash, "prompt", gold, NULL, pred};
        if (store_put_doc(s, run, &d, &e)) printf("  put_doc: %s\n", e.msg);
        for (int k = 0; k < 4; k++) {
            store_choice c = {task, id, k, k == pred ? -1.0 : -2.0 - 0.1 * k, 2, 5, 5, k == pred, k == gold, -1};
            if (store_put_choice(s, run, &c, &e)) printf("  put_choice: %s\n", e.msg);
        }
        if (wall_s > 0 && store_put_latency(s, run, task, id, 20, 1, wall_s, &e)) printf("  latency: %s\n", e.msg);
    }
}

static int64_t new_run(store *s, const char *task_hashes, const char *step) {
    store_run r = {0};
    r.model_path = "models/m.bin";
    r.model_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    r.tasks = "[\"t_a\",\"t_b\"]";
    r.task_hashes = task_hashes;
    r.seed = 1;
    r.shots = 0;
    r.host = "testhost";
    int64_t id = 0;
    cj_err e;
    if (store_run_insert(s, &r, &id, &e)) printf("  run_insert: %s\n", e.msg);
    if (store_run_set_status(s, id, "done", &e)) printf("  status: %s\n", e.msg);
    if (step && store_tag_put(s, id, "step", step, &e)) printf("  tag: %s\n", e.msg);
    return id;
}

static const char *HASHES = "{\"t_a\":\"1111\",\"t_b\":\"2222\"}";

/* Builds the test database:
 *   run 1: t_a 80% right, t_b 80% right             (step=1)
 *   run 2: identical to run 1                       (step=2)
 *   run 3: t_a much worse (27 answers lost), t_b the same, 2x slower
 *   run 4: t_a with another definition hash
 *   run 5: t_a with other data (doc hashes)
 *   run 6: t_a with most answers flipped both ways (wins and losses) */
static void build_db(void) {
    snprintf(db_path, sizeof db_path, "/tmp/cj_test_compare_%d.db", (int)getpid());
    unlink(db_path);
    store *s;
    cj_err e;
    if (store_open(db_path, &s, &e)) {
        printf("  store_open: %s\n", e.msg);
        exit(1);
    }
    store_begin(s, &e);
    int64_t r;
    r = new_run(s, HASHES, "1");
    put_task(s, r, "t_a", N_DOCS, right_80, "d", 0.01);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.01);
    r = new_run(s, HASHES, "2");
    put_task(s, r, "t_a", N_DOCS, right_80, "d", 0.01);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.01);
    r = new_run(s, HASHES, NULL);
    put_task(s, r, "t_a", N_DOCS, right_worse, "d", 0.02);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.02);
    r = new_run(s, "{\"t_a\":\"9999\",\"t_b\":\"2222\"}", NULL);
    put_task(s, r, "t_a", N_DOCS, right_80, "d", 0.01);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.01);
    r = new_run(s, HASHES, NULL);
    put_task(s, r, "t_a", N_DOCS, right_80, "other", 0.01);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.01);
    r = new_run(s, HASHES, NULL);
    put_task(s, r, "t_a", N_DOCS, right_most_flipped, "d", 0.01);
    put_task(s, r, "t_b", N_DOCS, right_80, "d", 0.01);
    if (store_commit(s, &e)) printf("  commit: %s\n", e.msg);
    store_close(s);
}

static sqlite3 *open_db(void) {
    sqlite3 *db = NULL;
    cj_err e;
    if (compare_open_db(db_path, &db, &e)) printf("  open: %s\n", e.msg);
    return db;
}

static compare_opts opts(void) {
    compare_opts o;
    compare_opts_default(&o);
    o.resamples = 2000;
    return o;
}

static const compare_row *find_row(const compare_result *r, const char *task, const char *metric) {
    for (int i = 0; i < r->n_rows; i++)
        if (!strcmp(r->rows[i].task, task) && !strcmp(r->rows[i].metric, metric)) return &r->rows[i];
    return NULL;
}

static void test_identical_runs_pass(void) {
    sqlite3 *db = open_db();
    compare_opts o = opts();
    compare_result r;
    cj_err e;
    CHECK(compare_runs(db, 1, 2, &o, &r, &e) == 0);
    CHECK(r.n_rows == 2);
    CHECK(!r.gate_failed);
    for (int i = 0; i < r.n_rows; i++) {
        CHECK(r.rows[i].verdict == CMP_SAME);
        CHECK_NEAR(r.rows[i].p, 1, 0);
        CHECK_NEAR(r.rows[i].diff, 0, 0);
        CHECK(r.rows[i].n == N_DOCS);
    }
    const compare_row *a = find_row(&r, "t_a", "acc");
    CHECK(a != NULL);
    if (a) CHECK_NEAR(a->base, 0.8, 1e-12);
    sb t;
    sb_init(&t);
    compare_format_table(&r, &t);
    CHECK(strstr(t.s, "no significant change") != NULL);
    CHECK(strstr(t.s, "gate passed") != NULL);
    sb_free(&t);
    compare_result_free(&r);
    /* a run against itself */
    CHECK(compare_runs(db, 1, 1, &o, &r, &e) == 0);
    CHECK(!r.gate_failed);
    compare_result_free(&r);
    sqlite3_close(db);
}

/* Run 3 lost 27 of t_a's answers and gained none: McNemar b = 27, c = 0,
 * p = 2^-26; t_a fails the gate, t_b is unchanged. */
static void test_flipped_answers_fail_gate(void) {
    sqlite3 *db = open_db();
    compare_opts o = opts();
    o.max_drop = 1;
    compare_result r;
    cj_err e;
    CHECK(compare_runs(db, 1, 3, &o, &r, &e) == 0);
    CHECK(r.gate_failed);
    const compare_row *a = find_row(&r, "t_a", "acc"), *b = find_row(&r, "t_b", "acc");
    CHECK(a && b);
    if (a && b) {
        CHECK(a->b == 27 && a->c == 0);
        CHECK_NEAR(a->p, 2.0 / (1 << 27), 1e-15);
        CHECK(a->verdict == CMP_WORSE && a->gated);
        CHECK_NEAR(a->diff * a->scale, -27, 1e-9);
        CHECK(a->lo < a->diff && a->diff < a->hi && a->hi < 0);
        CHECK(b->verdict == CMP_SAME && !b->gated);
    }
    sb t;
    sb_init(&t);
    compare_format_table(&r, &t);
    CHECK(strstr(t.s, "GATE FAILED: t_a acc") != NULL);
    sb_clear(&t);
    compare_format_junit(&r, &t);
    CHECK(strstr(t.s, "<failure") != NULL);
    CHECK(strstr(t.s, "name=\"t_a/acc\"") != NULL);
    CHECK(strstr(t.s, "failures=\"1\"") != NULL);
    sb_clear(&t);
    compare_format_md(&r, &t);
    CHECK(strstr(t.s, "gate failed") != NULL);
    CHECK(strstr(t.s, "| t\\_a | acc |") != NULL);
    sb_clear(&t);
    compare_format_json(&r, &t);
    json_error_t je;
    json_t *j = json_loads(t.s, 0, &je);
    CHECK(j != NULL);
    CHECK(json_is_true(json_object_get(j, "gate_failed")));
    CHECK(json_array_size(json_object_get(j, "rows")) == 2);
    json_decref(j);
    sb_free(&t);
    /* the latency total: run 3 took twice as long per doc -> flagged, not gating */
    const compare_latency *all = NULL;
    for (int i = 0; i < r.n_lat; i++)
        if (!strcmp(r.lat[i].task, "(all)")) all = &r.lat[i];
    CHECK(all != NULL);
    if (all) {
        CHECK(all->flagged);
        CHECK_NEAR(all->slowdown, 0.5, 1e-9);
        CHECK_NEAR(all->base_docs_s, 100, 1e-6);
        CHECK_NEAR(all->base_tokens_s, 2100, 1e-6);
    }
    compare_result_free(&r);

    /* a drop smaller than --max-drop passes even though significant */
    o.max_drop = 30;
    CHECK(compare_runs(db, 1, 3, &o, &r, &e) == 0);
    CHECK(!r.gate_failed);
    CHECK(find_row(&r, "t_a", "acc") && find_row(&r, "t_a", "acc")->verdict == CMP_WORSE);
    compare_result_free(&r);
    /* latency gates only when asked */
    o.gate_latency = 1;
    CHECK(compare_runs(db, 1, 3, &o, &r, &e) == 0);
    CHECK(r.gate_failed && r.latency_flagged);
    compare_result_free(&r);
    /* the reverse direction is an improvement */
    o = opts();
    CHECK(compare_runs(db, 3, 1, &o, &r, &e) == 0);
    CHECK(!r.gate_failed);
    CHECK(find_row(&r, "t_a", "acc") && find_row(&r, "t_a", "acc")->verdict == CMP_BETTER);
    compare_result_free(&r);
    sqlite3_close(db);
}

static void test_refuses_different_definitions(void) {
    sqlite3 *db = open_db();
    compare_opts o = opts();
    compare_result r;
    cj_err e;
    CHECK(compare_runs(db, 1, 4, &o, &r, &e) == -1);
    CHECK(strstr(e.msg, "t_a") && strstr(e.msg, "definitions differ") && strstr(e.msg, "--force"));
    CHECK(compare_runs(db, 1, 5, &o, &r, &e) == -1);
    CHECK(strstr(e.msg, "t_a") && strstr(e.msg, "data differ"));
    o.force = 1;
    CHECK(compare_runs(db, 1, 4, &o, &r, &e) == 0);
    CHECK(r.n_notes > 0);
    compare_result_free(&r);
    CHECK(compare_runs(db, 1, 5, &o, &r, &e) == 0);
    compare_result_free(&r);
    /* --tasks t_b leaves the differing task out: no refusal needed */
    o.force = 0;
    o.tasks = "t_b";
    CHECK(compare_runs(db, 1, 4, &o, &r, &e) == 0);
    CHECK(r.n_rows == 1 && !strcmp(r.rows[0].task, "t_b"));
    compare_result_free(&r);
    o.tasks = "nope_*";
    CHECK(compare_runs(db, 1, 2, &o, &r, &e) == -1);
    CHECK(strstr(e.msg, "nope_*") != NULL);
    sqlite3_close(db);
}

/* Run 6 flips most of t_a both ways: base right on 80 docs, candidate on
 * the other 20 -> b = 80, c = 20, and a group over t_a and t_b pools the
 * 200 docs (b = 80, c = 20 too, since t_b is unchanged). */
static void test_groups_and_metrics(void) {
    sqlite3 *db = open_db();
    compare_opts o = opts();
    const char *members[] = {"t_a", "t_b"};
    compare_group g = {"g_all", 2, members};
    o.groups = &g;
    o.n_groups = 1;
    o.metrics = "acc,mc2,brier";
    compare_result r;
    cj_err e;
    CHECK(compare_runs(db, 1, 6, &o, &r, &e) == 0);
    const compare_row *a = find_row(&r, "t_a", "acc"), *ga = find_row(&r, "g_all", "acc");
    const compare_row *m = find_row(&r, "t_a", "mc2"), *br = find_row(&r, "t_a", "brier");
    CHECK(a && ga && m && br);
    CHECK(r.n_rows == 9);
    if (a && ga && m && br) {
        CHECK(a->b == 80 && a->c == 20);
        CHECK(ga->is_group && ga->n == 200 && ga->b == 80 && ga->c == 20);
        CHECK_NEAR(ga->base, 0.8, 1e-12);
        CHECK_NEAR(ga->cand, 0.5, 1e-12);
        CHECK(!m->binary && m->verdict == CMP_WORSE);
        /* brier is lower-is-better: more wrong answers raise it, which is worse */
        CHECK(!br->higher_better && br->diff > 0 && br->verdict == CMP_WORSE);
        /* Holm never lowers a p-value */
        for (int i = 0; i < r.n_rows; i++) CHECK(r.rows[i].p_holm >= r.rows[i].p);
    }
    CHECK(r.gate_failed);
    compare_result_free(&r);
    o.metrics = "bleu";
    CHECK(compare_runs(db, 1, 6, &o, &r, &e) == -1);
    CHECKF(strstr(e.msg, "bleu") != NULL, "%s", e.msg);
    sqlite3_close(db);
}

static void test_resolve_and_open(void) {
    sqlite3 *db = open_db();
    int64_t id = 0;
    cj_err e;
    CHECK(compare_resolve_run(db, "tag:step=2", &id, &e) == 0 && id == 2);
    CHECK(compare_resolve_run(db, "3", &id, &e) == 0 && id == 3);
    CHECK(compare_resolve_run(db, "77", &id, &e) == -1 && strstr(e.msg, "77"));
    CHECK(compare_resolve_run(db, "tag:step=9", &id, &e) == -1);
    CHECK(compare_resolve_run(db, "tag:nokey", &id, &e) == -1);
    CHECK(compare_resolve_run(db, "x1", &id, &e) == -1);
    /* the database is read-only: a write fails */
    CHECK(sqlite3_exec(db, "DELETE FROM runs", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
    CHECK(compare_open_db("/tmp/cj_no_such_dir/x.db", &db, &e) == -1);
    /* a SQLite file without our tables */
    char other[80];
    snprintf(other, sizeof other, "/tmp/cj_test_compare_other_%d.db", (int)getpid());
    sqlite3 *w;
    CHECK(sqlite3_open(other, &w) == SQLITE_OK);
    sqlite3_exec(w, "CREATE TABLE x(a)", NULL, NULL, NULL);
    sqlite3_close(w);
    CHECK(compare_open_db(other, &db, &e) == -1 && strstr(e.msg, "not a chaejeom database"));
    unlink(other);
}

/* Same inputs and seed: the same intervals, bit for bit. */
static void test_deterministic(void) {
    sqlite3 *db = open_db();
    compare_opts o = opts();
    compare_result x, y;
    cj_err e;
    CHECK(compare_runs(db, 1, 6, &o, &x, &e) == 0);
    CHECK(compare_runs(db, 1, 6, &o, &y, &e) == 0);
    CHECK(x.n_rows == y.n_rows);
    for (int i = 0; i < x.n_rows && i < y.n_rows; i++) CHECK(x.rows[i].lo == y.rows[i].lo && x.rows[i].hi == y.rows[i].hi);
    compare_result_free(&x);
    compare_result_free(&y);
    sqlite3_close(db);
}

int main(void) {
    build_db();
    RUN(test_identical_runs_pass);
    RUN(test_flipped_answers_fail_gate);
    RUN(test_refuses_different_definitions);
    RUN(test_groups_and_metrics);
    RUN(test_resolve_and_open);
    RUN(test_deterministic);
    char p[80];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
    return check_summary_();
}
