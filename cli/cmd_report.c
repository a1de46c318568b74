/* chaejeom report — Markdown and HTML report of runs, with gnuplot charts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "cli_registry.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom report RUN... --out DIR [--db FILE]\n\n"
          "Writes DIR/report.md and a self-contained DIR/index.html (charts embedded, no network)\n"
          "with PNG and SVG charts drawn by gnuplot: scores with 95% intervals, runs side by side;\n"
          "score against checkpoint step (runs tagged step=N); calibration and hallucination\n"
          "metrics when the runs have them; latency. RUN is a run id or tag:KEY=VALUE.\n"
          "Without gnuplot the report is written with its tables and a note.\n\n"
          "  --out DIR     output folder (created if missing)\n"
          "  --db FILE     results database (default chaejeom.db)\n",
          f);
}

int cmd_report(int argc, char **argv) {
    const char *db_path = "chaejeom.db", *out = NULL;
    const char **specs = calloc((size_t)argc, sizeof *specs);
    int n_specs = 0;
    if (!specs) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(specs);
            return 0;
        } else if ((!strcmp(a, "--out") || !strcmp(a, "-o")) && has_val) {
            out = argv[++i];
        } else if (!strcmp(a, "--db") && has_val) {
            db_path = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "chaejeom report: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            free(specs);
            return 2;
        } else {
            specs[n_specs++] = a;
        }
    }
    if (!n_specs || !out) {
        usage(stderr);
        free(specs);
        return 2;
    }
    cj_err e;
    sqlite3 *db;
    if (compare_open_db(db_path, &db, &e)) {
        fprintf(stderr, "chaejeom report: %s\n", e.msg);
        free(specs);
        return 2;
    }
    int64_t *ids = calloc((size_t)n_specs, sizeof *ids);
    int status = 0;
    for (int k = 0; k < n_specs && !status; k++)
        if (!ids || compare_resolve_run(db, specs[k], &ids[k], &e)) {
            fprintf(stderr, "chaejeom report: %s\n", ids ? e.msg : "out of memory");
            status = 2;
        }
    cli_registry reg;
    cli_registry_load(&reg);
    report_opts o = {out, NULL, cli_registry_primary_metric, cli_registry_task_version, &reg, reg.groups,
                     reg.n_groups};
    report_info info;
    if (!status && report_write(db, ids, n_specs, &o, &info, &e)) {
        fprintf(stderr, "chaejeom report: %s\n", e.msg);
        status = 2;
    }
    if (!status) {
        if (info.note[0]) fprintf(stderr, "chaejeom report: note: %s\n", info.note);
        printf("wrote %s/report.md and %s/index.html (%d chart%s)\n", out, out, info.n_charts,
               info.n_charts == 1 ? "" : "s");
    }
    cli_registry_free(&reg);
    sqlite3_close(db);
    free(ids);
    free(specs);
    return status;
}
