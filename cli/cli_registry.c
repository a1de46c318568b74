/* cli_registry — the task registry for compare and report (cli_registry.h). */
#include "cli_registry.h"

#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

const char *cli_registry_primary_metric(const char *name, void *ctx) {
    cli_registry *c = ctx;
    task *t = c && c->reg ? task_find(c->reg, name) : NULL;
    return t && task_n_metrics(t) > 0 ? task_metric(t, 0) : NULL;
}

const char *cli_registry_task_version(const char *name, const char *def_hash, void *ctx) {
    cli_registry *c = ctx;
    task *t = c && c->reg ? task_find(c->reg, name) : NULL;
    const char *h = t ? task_def_sha256(t) : NULL;
    return h && !strcmp(h, def_hash) ? task_version(t) : NULL;
}

void cli_registry_load(cli_registry *c) {
    memset(c, 0, sizeof *c);
    char *dir = task_default_dir();
    cj_err e;
    if (!dir || task_registry_load(dir, &c->reg, &e)) {
        c->reg = NULL;
        free(dir);
        return;
    }
    free(dir);
    int ng = task_registry_n_groups(c->reg);
    c->groups = cj_xcalloc((size_t)(ng > 0 ? ng : 1), sizeof *c->groups);
    for (int i = 0; i < ng; i++) {
        const task_group *g = task_registry_group(c->reg, i);
        task **leaves = NULL;
        const task_group **sub = NULL;
        int nl = 0, ns = 0;
        if (task_select(c->reg, g->name, &leaves, &nl, &sub, &ns, &e)) continue;
        const char **names = cj_xmalloc((size_t)(nl > 0 ? nl : 1) * sizeof *names);
        for (int k = 0; k < nl; k++) names[k] = task_name(leaves[k]);
        c->groups[c->n_groups++] = (compare_group){g->name, nl, names};
        free(leaves);
        free(sub);
    }
}

void cli_registry_free(cli_registry *c) {
    for (int i = 0; i < c->n_groups; i++) free((void *)c->groups[i].members);
    free(c->groups);
    if (c->reg) task_registry_free(c->reg);
    memset(c, 0, sizeof *c);
}
