/* cli_registry — the task registry as compare and report read it: each
 * task's primary metric and current version, and every group expanded to
 * its leaf tasks (compare_group).
 *
 * The registry is optional: when the task definitions cannot be loaded the
 * lookups answer NULL and there are no groups, and compare and report still
 * work from the database alone. cli_registry_free releases everything. */
#ifndef CJ_CLI_REGISTRY_H
#define CJ_CLI_REGISTRY_H

#include "../reports/compare.h"
#include "../tasks/task.h"

typedef struct {
    task_registry *reg; /* NULL when the definitions could not be loaded */
    compare_group *groups;
    int n_groups;
} cli_registry;

void cli_registry_load(cli_registry *c);
void cli_registry_free(cli_registry *c);

/* Lookups for compare_opts / report_opts; ctx is a cli_registry. */
const char *cli_registry_primary_metric(const char *task, void *ctx);
/* The version of the definition at hand, if it is the one whose sha256 is
 * def_hash (the one the run used). */
const char *cli_registry_task_version(const char *task, const char *def_hash, void *ctx);

#endif
