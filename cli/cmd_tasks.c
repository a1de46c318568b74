/* chaejeom tasks — the task and group definitions the harness knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../tasks/task.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom tasks [NAMES] [--count] [--data-dir DIR] [--tasks-dir DIR]\n\n"
          "Lists the tasks and groups (name, output type, default shots, version, metrics).\n"
          "NAMES is a comma-separated list of tasks, groups and globs (e.g. 'mmlu_*,arc_easy'):\n"
          "only the tasks it selects and the groups involved are listed.\n\n"
          "  --count           also read each task's data and print its number of docs\n"
          "  --data-dir DIR    the datasets folder (default <assets>/datasets)\n"
          "  --tasks-dir DIR   task definitions (default $CHAEJEOM_TASKS or the built-in tasks/defs)\n",
          f);
}

static const char *output_name(task_output o) {
    return o == TASK_MULTIPLE_CHOICE ? "multiple_choice"
           : o == TASK_LOGLIKELIHOOD_ROLLING ? "loglikelihood_rolling"
                                             : "generate_until";
}

/* Leaf tasks under a group (members may be groups). */
static int n_leaves(const task_registry *r, const task_group *g) {
    int n = 0;
    for (int i = 0; i < g->n_members; i++) {
        const task_group *sub = task_find_group(r, g->members[i]);
        n += sub ? n_leaves(r, sub) : 1;
    }
    return n;
}

static int print_task(task *t, int count, const char *data_dir, cj_err *e) {
    printf("%-52s %-21s %5d", task_name(t), output_name(task_output_type(t)), task_default_shots(t));
    if (count) {
        if (task_load_data(t, data_dir, e)) return -1;
        printf(" %7d", task_n_docs(t));
    }
    printf("  %-7s ", task_version(t));
    for (int m = 0; m < task_n_metrics(t); m++) printf("%s%s", m ? " " : "", task_metric(t, m));
    putchar('\n');
    return 0;
}

static void print_group(const task_registry *r, const task_group *g) {
    printf("%-52s %5d tasks  ", g->name, n_leaves(r, g));
    for (int i = 0; i < g->n_members; i++) printf("%s%s", i ? "," : "", g->members[i]);
    putchar('\n');
}

int cmd_tasks(int argc, char **argv) {
    const char *names = NULL, *data_dir = NULL, *tasks_dir = NULL;
    int count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--count")) count = 1;
        else if (!strcmp(a, "--data-dir") && i + 1 < argc) data_dir = argv[++i];
        else if (!strcmp(a, "--tasks-dir") && i + 1 < argc) tasks_dir = argv[++i];
        else if (a[0] != '-' && !names) names = a;
        else {
            fprintf(stderr, "chaejeom tasks: unexpected argument %s\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    char *tdir = tasks_dir ? NULL : task_default_dir(), *ddir = NULL;
    if (count && !data_dir) {
        char *assets = cj_assets_dir();
        ddir = cj_path_join(assets, "datasets");
        free(assets);
    }
    cj_err e;
    task_registry *reg = NULL;
    task **sel = NULL;
    const task_group **gsel = NULL;
    int n_sel = 0, n_gsel = 0, rc = 2;
    if (task_registry_load(tasks_dir ? tasks_dir : tdir, &reg, &e)) goto fail;
    if (names && task_select(reg, names, &sel, &n_sel, &gsel, &n_gsel, &e)) goto fail;
    if (!names) {
        n_sel = task_registry_n_tasks(reg);
        n_gsel = task_registry_n_groups(reg);
    }
    printf("%-52s %-21s %5s%s  %-7s %s\n", "task", "output", "shots", count ? "    docs" : "", "version", "metrics");
    for (int i = 0; i < n_sel; i++)
        if (print_task(names ? sel[i] : task_registry_task(reg, i), count, data_dir ? data_dir : ddir, &e))
            goto fail;
    if (n_gsel) printf("\n%-52s %11s  %s\n", "group", "size", "members");
    for (int i = 0; i < n_gsel; i++) print_group(reg, names ? gsel[i] : task_registry_group(reg, i));
    rc = 0;
    goto out;
fail:
    fflush(stdout);
    fprintf(stderr, "chaejeom tasks: %s\n", e.msg);
out:
    free(sel);
    free(gsel);
    task_registry_free(reg);
    free(tdir);
    free(ddir);
    return rc;
}
