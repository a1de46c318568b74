/* task_fixture — what the task-definition test binaries (test_tasks.c,
 * test_gsm8k.c) share: a scratch folder in /tmp where a hand-made
 * definition is written and loaded alone, and the check that a bad one
 * fails with its message. Header-only: static functions, each used by both
 * binaries. */
#ifndef CJ_TASK_FIXTURE_H
#define CJ_TASK_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../tasks/task.h"
#include "../check.h"

static char TMP[64]; /* scratch folder for hand-made definitions (mkdtemp) */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        printf("  cannot write %s\n", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

/* Writes name under TMP/defs (after emptying it) with text, and loads it. */
static int load_one(const char *text, task_registry **r, cj_err *e) {
    char defs[128];
    snprintf(defs, sizeof defs, "%s/defs", TMP);
    nftw(defs, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    mkdir(defs, 0700);
    char path[160];
    snprintf(path, sizeof path, "%s/t.json", defs);
    write_text(path, text);
    return task_registry_load(defs, r, e);
}

/* A definition that must fail to load, with want in the message. */
static void check_bad_def(const char *text, const char *want) {
    task_registry *r;
    cj_err e = {{0}};
    int rc = load_one(text, &r, &e);
    CHECKF(rc == -1, "loaded: %.80s", text);
    if (!rc) task_registry_free(r);
    CHECKF(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\"", e.msg, want);
    CHECKF(strstr(e.msg, "t.json") != NULL, "message \"%s\" does not name the file", e.msg);
}

static task_registry *toy(const char *def, cj_err *e) {
    task_registry *r;
    if (load_one(def, &r, e)) {
        printf("  toy: %s\n", e->msg);
        check_cur_failed_++;
        return NULL;
    }
    return r;
}

/* The hand-made task "toy" with its data read from data_dir; NULL (and a
 * failed check) when either fails, else *r is the caller's to free. */
static task *toy_task(const char *def, const char *data_dir, task_registry **r) {
    cj_err e;
    *r = toy(def, &e);
    task *t = *r ? task_find(*r, "toy") : NULL;
    if (t && task_load_data(t, data_dir, &e)) {
        printf("  toy data: %s\n", e.msg);
        check_cur_failed_++;
        task_registry_free(*r);
        *r = NULL;
        t = NULL;
    }
    return t;
}

/* Building doc's request (shots: -1 for the default) fails with want in
 * the message. */
static void check_bad_request(const task *t, int doc, int shots, const char *want) {
    task_request q;
    cj_err e = {{0}};
    CHECK(task_build_request(t, doc, shots, 1, &q, &e) == -1);
    CHECKF(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\"", e.msg, want);
}

/* Writes TMP/data/toy/FILE (the folders made as needed); its path into
 * path[n]. */
static void toy_data_file(const char *file, const char *text, char *path, size_t n) {
    snprintf(path, n, "%s/data", TMP);
    mkdir(path, 0700);
    snprintf(path, n, "%s/data/toy", TMP);
    mkdir(path, 0700);
    snprintf(path, n, "%s/data/toy/%s", TMP, file);
    write_text(path, text);
}

#endif
