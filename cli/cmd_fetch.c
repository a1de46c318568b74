/* chaejeom fetch — download tasks' datasets from their public homes
 * (datasets/fetch.h) into ~/.cache/chaejeom/datasets. Names are datasets,
 * tasks, groups or globs (a task brings the datasets its splits read), or
 * "all". Exit 0 when every dataset is in place, 2 otherwise. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../datasets/fetch.h"
#include "../tasks/task.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom fetch NAME[,NAME...]|all [--dir DIR] [--mirror URL] [-q]\n"
          "       chaejeom fetch --list\n\n"
          "Downloads each dataset's original release files, checks their pinned sha256,\n"
          "unpacks them and resumes an interrupted download on the next call.\n"
          "NAME: a dataset (fetch --list), a task, a group or a glob (mmlu, arc_easy, 'kmmlu_*').\n\n"
          "  --dir DIR      datasets root to fill (default $CHAEJEOM_CACHE/datasets,\n"
          "                 else ~/.cache/chaejeom/datasets)\n"
          "  --mirror URL   read URL/<dataset>/<file> instead of the public homes\n"
          "                 (also $CHAEJEOM_FETCH_MIRROR)\n"
          "  --tasks-dir D  task definitions (default: the built-in ones)\n"
          "  -q             no progress bar\n",
          f);
}

static void list(void) {
    printf("%-12s %-6s %5s  %-34s %s\n", "dataset", "kind", "files", "license", "from");
    static const char *const KIND[] = {"file", "gzip", "tar", "zip"};
    for (int i = 0; i < fetch_n_datasets(); i++) {
        const fetch_dataset *d = fetch_dataset_at(i);
        printf("%-12s %-6s %5d  %-34s %s\n", d->name, KIND[d->kind], d->n_files, d->license, d->base);
    }
}

static void add(const fetch_dataset **want, const fetch_dataset *d) {
    want[d - fetch_dataset_at(0)] = d;
}

/* Marks in want[] the datasets that one NAME asks for. */
static int resolve(const char *names, const char *tasks_dir, const fetch_dataset **want, cj_err *e) {
    if (!strcmp(names, "all")) {
        for (int i = 0; i < fetch_n_datasets(); i++) add(want, fetch_dataset_at(i));
        return 0;
    }
    if (fetch_find(names)) {
        add(want, fetch_find(names));
        return 0;
    }
    char *tdir = tasks_dir ? cj_xstrdup(tasks_dir) : task_default_dir();
    task_registry *reg = NULL;
    task **sel = NULL;
    const task_group **gsel = NULL;
    int n = 0, ng = 0, rc = task_registry_load(tdir, &reg, e) || task_select(reg, names, &sel, &n, &gsel, &ng, e);
    for (int i = 0; !rc && i < n; i++)
        for (int s = 0; !rc && s < task_n_splits(sel[i]); s++) {
            const char *path = task_split_path(sel[i], s), *slash = strchr(path, '/');
            char *ds = cj_xstrndup(path, slash ? (size_t)(slash - path) : strlen(path));
            if (fetch_find(ds)) add(want, fetch_find(ds));
            else rc = cj_fail(e, "task %s reads %s, from a dataset fetch does not know (see fetch --list)",
                              task_name(sel[i]), path);
            free(ds);
        }
    free(sel);
    free(gsel);
    if (reg) task_registry_free(reg);
    free(tdir);
    return rc ? -1 : 0;
}

static char *default_dir(void) {
    const char *cache = getenv("CHAEJEOM_CACHE"), *home = getenv("HOME");
    if (cache && *cache) return cj_path_join(cache, "datasets");
    return cj_path_join(home && *home ? home : ".", ".cache/chaejeom/datasets");
}

int cmd_fetch(int argc, char **argv) {
    const char *names = NULL, *dir = NULL, *mirror = getenv("CHAEJEOM_FETCH_MIRROR"), *tasks_dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--list")) {
            list();
            return 0;
        }
        if (!strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(a, "--mirror") && i + 1 < argc) mirror = argv[++i];
        else if (!strcmp(a, "--tasks-dir") && i + 1 < argc) tasks_dir = argv[++i];
        else if (a[0] != '-' && !names) names = a;
        else {
            fprintf(stderr, "chaejeom fetch: unexpected argument %s\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!names) {
        usage(stderr);
        return 2;
    }
    const fetch_dataset **want = calloc((size_t)fetch_n_datasets(), sizeof *want);
    char *root = dir ? cj_xstrdup(dir) : default_dir(), *list_copy = cj_xstrdup(names);
    cj_err e;
    int rc = 0;
    for (char *save = NULL, *n = strtok_r(list_copy, ",", &save); !rc && n; n = strtok_r(NULL, ",", &save))
        rc = resolve(n, tasks_dir, want, &e);
    if (rc) fprintf(stderr, "chaejeom fetch: %s\n", e.msg);
    if (!rc && curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "chaejeom fetch: cannot start libcurl\n");
        rc = -1;
    }
    fetch_opts o = {.dir = root, .mirror = mirror, .progress = quiet ? NULL : stderr};
    int failed = 0;
    for (int i = 0; !rc && i < fetch_n_datasets(); i++) {
        if (!want[i]) continue;
        int skipped = 0;
        if (!quiet) fprintf(stderr, "chaejeom fetch: %s\n", want[i]->name);
        if (fetch_run(want[i], &o, &skipped, &e)) {
            fprintf(stderr, "chaejeom fetch: %s\n", e.msg);
            failed++;
        } else
            printf("%s: %s %s/%s\n", want[i]->name, skipped ? "already in" : "fetched into", root, want[i]->name);
    }
    if (!rc) curl_global_cleanup();
    free(want);
    free(root);
    free(list_copy);
    return rc || failed ? 2 : 0;
}
