/* chaejeom ls — list the runs in a database, newest first. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "commands.h"
#include "../store/store.h"

static void usage(FILE *f) {
    fprintf(f, "usage: chaejeom ls [--db FILE]\n\n"
               "Lists runs, newest first: id, status, model, tasks, start time, tags.\n"
               "  --db FILE   results database (default chaejeom.db)\n");
}

/* "a,b,c" from a JSON array of strings; "k=v k2=v2" from an object. Falls
 * back to the raw text if it is not the JSON expected. */
static void json_summary(const char *text, sb *out) {
    if (!text) return;
    json_t *j = json_loads(text, 0, NULL);
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) sb_printf(out, "%s%s", i ? "," : "", json_is_string(v) ? json_string_value(v) : "?");
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        int first = 1;
        json_object_foreach(j, k, v) {
            sb_printf(out, "%s%s=%s", first ? "" : " ", k, json_is_string(v) ? json_string_value(v) : "?");
            first = 0;
        }
    } else {
        sb_puts(out, text);
    }
    json_decref(j);
}

static int print_run(const store_run *r, void *ctx) {
    (void)ctx;
    const char *model = r->model_path ? r->model_path : "?";
    const char *slash = strrchr(model, '/');
    if (slash && slash[1]) model = slash + 1;
    sb tasks, tags;
    sb_init(&tasks);
    sb_init(&tags);
    json_summary(r->tasks, &tasks);
    json_summary(r->tags, &tags);
    printf("%-5lld %-11s %-24s %-30s %-20s %s\n", (long long)r->id, r->status ? r->status : "?", model, tasks.s,
           r->started_at ? r->started_at : "", tags.s);
    sb_free(&tasks);
    sb_free(&tags);
    return 0;
}

int cmd_ls(int argc, char **argv) {
    const char *db = "chaejeom.db";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strncmp(argv[i], "--db=", 5)) {
            db = argv[i] + 5;
        } else {
            fprintf(stderr, "chaejeom ls: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!cj_is_file(db)) {
        fprintf(stderr, "chaejeom ls: no database at %s\n", db);
        return 2;
    }
    store *s;
    cj_err e;
    if (store_open(db, &s, &e)) {
        fprintf(stderr, "chaejeom ls: %s\n", e.msg);
        return 2;
    }
    printf("%-5s %-11s %-24s %-30s %-20s %s\n", "id", "status", "model", "tasks", "started", "tags");
    int rc = store_runs_each(s, NULL, print_run, NULL, &e);
    if (rc) fprintf(stderr, "chaejeom ls: %s\n", e.msg);
    store_close(s);
    return rc ? 2 : 0;
}
