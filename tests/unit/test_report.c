/* Unit tests of reports/report on a small database built through the store:
 * the summary holds each group, its subgroups (↳) and the tasks in no group,
 * never a group's subjects, whether groups come from the caller or from
 * their names; the sections come in order with the details folded at the
 * end; a pair compare cannot pair is noted; without gnuplot the tables are
 * written with a note; an unknown run fails naming it. Charts are left to
 * tests/e2e/test_compare.sh (gnuplot and Chromium). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../reports/report.h"
#include "../../store/store.h"
#include "../check.h"

static char out_dir[64], db_path[sizeof out_dir + 3];

/* Metrics of group g = subgroups g_x {g_x_1, g_x_2} and g_y {g_y_1}, and of
 * the task solo in no group; acc per run shifted by run so that runs differ. */
static const struct {
    const char *task, *kind;
    double acc;
} ROWS[] = {{"g", "group", 0.50},    {"g_x", "group", 0.55}, {"g_y", "group", 0.40}, {"g_x_1", "task", 0.6},
            {"g_x_2", "task", 0.5}, {"g_y_1", "task", 0.4}, {"solo", "task", 0.7}};

/* Without its database no test can run. */
static void setup_failed(const char *what, const cj_err *e) {
    printf("FAIL test_report setup: %s: %s\n", what, e->msg);
    exit(1);
}

static void build_db(void) {
    int pid = (int)getpid();
    snprintf(out_dir, sizeof out_dir, "/tmp/cj_test_report_%d", pid);
    snprintf(db_path, sizeof db_path, "%s.db", out_dir);
    unlink(db_path);
    cj_err e;
    store *s = NULL;
    if (store_open(db_path, &s, &e)) setup_failed("store_open", &e);
    for (int run = 1; run <= 2; run++) {
        store_run r = {.model_path = "models/m.bin", .tasks = "[\"g\",\"solo\"]", .seed = 1, .shots = -1};
        r.model_sha256 = run == 1 ? "aaaa" : "bbbb";
        r.task_hashes = "{\"g_x_1\":\"11\",\"g_x_2\":\"22\",\"g_y_1\":\"33\",\"solo\":\"44\"}";
        int64_t id;
        if (store_run_insert(s, &r, &id, &e) || store_run_set_status(s, id, "done", &e)) setup_failed("run", &e);
        for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++)
            if (store_put_metric(s, id, ROWS[i].task, ROWS[i].kind, "acc", ROWS[i].acc + 0.01 * run, 0.05, 20, &e))
                setup_failed("metric", &e);
    }
    store_close(s);
}

/* Writes the report of runs 1 and 2 (groups: the registry's, or none) and
 * returns report.md, or NULL. */
static char *write_report(const compare_group *groups, int n_groups, report_info *info) {
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return NULL;
    report_opts o = {out_dir, "/nonexistent/gnuplot", NULL, NULL, NULL, groups, n_groups};
    int64_t ids[] = {1, 2};
    cj_err e;
    int rc = report_write(db, ids, 2, &o, info, &e);
    sqlite3_close(db);
    if (rc) {
        printf("  report_write: %s\n", e.msg);
        return NULL;
    }
    char *path = cj_path_join(out_dir, "report.md"), *md = NULL;
    size_t len;
    if (cj_read_file(path, &md, &len, &e)) md = NULL;
    free(path);
    return md;
}

/* The summary section: from its heading to the next one. */
static char *summary_of(const char *md) {
    const char *a = strstr(md, "\n## Summary"), *b = a ? strstr(a + 1, "\n## ") : NULL;
    return a ? cj_xstrndup(a, b ? (size_t)(b - a) : strlen(a)) : cj_xstrdup("");
}

/* The summary of a report written with these groups: g, its subgroups,
 * solo, in that order, and no subject. */
static void check_summary_rows(const compare_group *groups, int n_groups) {
    report_info info;
    char *md = write_report(groups, n_groups, &info);
    CHECK(md != NULL);
    char *s = summary_of(md ? md : "");
    const char *g = strstr(s, "\n| g | acc | 20 |"), *x = strstr(s, "\n| ↳ g\\_x | acc |");
    const char *y = strstr(s, "\n| ↳ g\\_y | acc |"), *solo = strstr(s, "\n| solo | acc |");
    CHECKF(g && x && y && solo && g < x && x < y && y < solo, "summary:\n%s", s);
    CHECK(!strstr(s, "g\\_x\\_1") && !strstr(s, "g\\_y\\_1"));
    free(s);
    free(md);
}

static void test_groups_from_caller(void) {
    static const char *const G[] = {"g_x_1", "g_x_2", "g_y_1"}, *const GX[] = {"g_x_1", "g_x_2"},
                             *const GY[] = {"g_y_1"};
    compare_group groups[] = {{"g", 3, G}, {"g_x", 2, GX}, {"g_y", 1, GY}};
    check_summary_rows(groups, 3);
}

/* Without the registry, group g holds the tasks and groups named g_*. */
static void test_groups_by_name(void) { check_summary_rows(NULL, 0); }

static void test_sections_and_details(void) {
    report_info info;
    char *md = write_report(NULL, 0, &info);
    CHECK(md != NULL);
    if (!md) return;
    const char *runs = strstr(md, "\n## Runs"), *sum = strstr(md, "\n## Summary"), *sub = strstr(md, "\n## Subjects");
    const char *det = strstr(md, "\n## Details"), *fold = strstr(md, "<details><summary>Task versions");
    CHECKF(runs && sum && sub && det && fold && runs < sum && sum < sub && sub < det && det < fold, "%s", md);
    /* hashes only in the folded end */
    const char *hash = strstr(md, "definition sha256");
    CHECK(hash && hash > det);
    /* the subjects' numbers are in the details */
    CHECK(strstr(md, "| g\\_x\\_1 | acc | 20 |") > det);
    free(md);
}

static void test_unpaired_noted(void) {
    report_info info;
    char *md = write_report(NULL, 0, &info);
    CHECK(md != NULL);
    if (!md) return;
    CHECKF(strstr(md, "Run 2 vs run 1: not compared: runs 1 and 2 have no task in common") != NULL, "%s", md);
    CHECK(strstr(md, "| Δ run 2 − run 1 |") != NULL);
    CHECK(strstr(md, "| solo | acc | 20 | 71.0 ± 9.8 | 72.0 ± 9.8 | - |") != NULL);
    free(md);
}

static void test_without_gnuplot(void) {
    report_info info;
    char *md = write_report(NULL, 0, &info);
    CHECK(md != NULL);
    CHECK(info.n_charts == 0 && strstr(info.note, "/nonexistent/gnuplot") != NULL);
    CHECK(md && strstr(md, "charts skipped") != NULL);
    free(md);
}

static void test_unknown_run(void) {
    sqlite3 *db;
    CHECK(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    report_opts o = {out_dir, "/nonexistent/gnuplot", NULL, NULL, NULL, NULL, 0};
    int64_t ids[] = {1, 99};
    report_info info;
    cj_err e;
    CHECK(report_write(db, ids, 2, &o, &info, &e) == -1);
    CHECKF(strstr(e.msg, "run 99: no such run") != NULL, "%s", e.msg);
    sqlite3_close(db);
}

int main(void) {
    build_db();
    RUN(test_groups_from_caller);
    RUN(test_groups_by_name);
    RUN(test_sections_and_details);
    RUN(test_unpaired_noted);
    RUN(test_without_gnuplot);
    RUN(test_unknown_run);
    unlink(db_path);
    static const char *const FILES[] = {"report.md", "index.html"};
    for (size_t i = 0; i < 2; i++) {
        char *p = cj_path_join(out_dir, FILES[i]);
        unlink(p);
        free(p);
    }
    rmdir(out_dir);
    return check_summary_();
}
