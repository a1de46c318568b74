/* chaejeom compare — paired comparison of two runs, and the CI gate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "cli_registry.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom compare BASE CANDIDATE [options]\n\n"
          "Pairs two runs doc by doc and tests every difference: exact McNemar for 0/1 metrics\n"
          "(acc, acc_norm, acc_bytes, exact_match), a seeded paired bootstrap for continuous ones\n"
          "(mc2, brier), Holm-corrected across tasks and groups. BASE and CANDIDATE are run ids or\n"
          "tag:KEY=VALUE (e.g. tag:step=2000). Refuses runs whose task definitions or data differ.\n\n"
          "  --db FILE            results database (default chaejeom.db)\n"
          "  --tasks LIST         comma-separated tasks, groups or globs (default: all in common)\n"
          "  --metric M[,M...]    metrics to compare (default: each task's primary metric)\n"
          "  --max-drop X         gate: fail when a drop is larger than X points and significant (default 0)\n"
          "  --alpha A            significance level after Holm's correction (default 0.05)\n"
          "  --format F           table (default), md (a pull-request comment) or json\n"
          "  --junit FILE         also write JUnit XML, one test case per task and metric\n"
          "  --force              compare even when task definitions or data differ\n"
          "  --seed S             bootstrap seed (default 1234)\n"
          "  --resamples N        bootstrap resamples (default 10000)\n"
          "  --max-slowdown PCT   flag a latency slow-down beyond PCT percent (default 20)\n"
          "  --gate-latency       a flagged total slow-down also fails the gate\n\n"
          "exit status: 0 no significant drop beyond --max-drop, 1 gate failed, 2 bad usage or input\n",
          f);
}

static int parse_double(const char *opt, const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end != s && *end == '%' && !strcmp(opt, "--max-slowdown")) end++;
    if (!*s || *end || errno) {
        fprintf(stderr, "chaejeom compare: %s '%s': not a number\n", opt, s);
        return -1;
    }
    return 0;
}

static int parse_long(const char *opt, const char *s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (!*s || *end || errno || *v < 0) {
        fprintf(stderr, "chaejeom compare: %s '%s': not a non-negative integer\n", opt, s);
        return -1;
    }
    return 0;
}

static int write_file(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "chaejeom compare: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(s, 1, n, f) == n;
    if (fclose(f) || !ok) {
        fprintf(stderr, "chaejeom compare: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

int cmd_compare(int argc, char **argv) {
    const char *db_path = "chaejeom.db", *format = "table", *junit = NULL, *specs[2] = {NULL, NULL};
    int n_specs = 0;
    compare_opts o;
    compare_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        double d;
        long long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' || !a[1]) {
            if (n_specs == 2) {
                fprintf(stderr, "chaejeom compare: more than two runs given ('%s')\n", a);
                return 2;
            }
            specs[n_specs++] = a;
        } else if (!strcmp(a, "--db") && has_val) {
            db_path = argv[++i];
        } else if (!strcmp(a, "--tasks") && has_val) {
            o.tasks = argv[++i];
        } else if (!strcmp(a, "--metric") && has_val) {
            o.metrics = argv[++i];
        } else if (!strcmp(a, "--format") && has_val) {
            format = argv[++i];
            if (strcmp(format, "table") && strcmp(format, "md") && strcmp(format, "json")) {
                fprintf(stderr, "chaejeom compare: --format '%s': expected table, md or json\n", format);
                return 2;
            }
        } else if (!strcmp(a, "--junit") && has_val) {
            junit = argv[++i];
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (!strcmp(a, "--gate-latency")) {
            o.gate_latency = 1;
        } else if (!strcmp(a, "--max-drop") && has_val) {
            if (parse_double(a, argv[++i], &o.max_drop)) return 2;
        } else if (!strcmp(a, "--alpha") && has_val) {
            if (parse_double(a, argv[++i], &o.alpha)) return 2;
        } else if (!strcmp(a, "--max-slowdown") && has_val) {
            if (parse_double(a, argv[++i], &d)) return 2;
            o.max_slowdown = d / 100;
        } else if (!strcmp(a, "--seed") && has_val) {
            if (parse_long(a, argv[++i], &l)) return 2;
            o.seed = (uint64_t)l;
        } else if (!strcmp(a, "--resamples") && has_val) {
            if (parse_long(a, argv[++i], &l)) return 2;
            if (l < 1 || l > 10000000) {
                fprintf(stderr, "chaejeom compare: --resamples %lld: must be in [1, 10000000]\n", l);
                return 2;
            }
            o.resamples = (long)l;
        } else {
            fprintf(stderr, "chaejeom compare: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (n_specs != 2) {
        usage(stderr);
        return 2;
    }

    cj_err e;
    sqlite3 *db;
    if (compare_open_db(db_path, &db, &e)) {
        fprintf(stderr, "chaejeom compare: %s\n", e.msg);
        return 2;
    }
    int64_t ids[2];
    for (int k = 0; k < 2; k++)
        if (compare_resolve_run(db, specs[k], &ids[k], &e)) {
            fprintf(stderr, "chaejeom compare: %s\n", e.msg);
            sqlite3_close(db);
            return 2;
        }
    cli_registry rc;
    cli_registry_load(&rc);
    o.primary_metric = cli_registry_primary_metric;
    o.ctx = &rc;
    o.groups = rc.groups;
    o.n_groups = rc.n_groups;
    compare_result res;
    int failed = compare_runs(db, ids[0], ids[1], &o, &res, &e);
    cli_registry_free(&rc);
    sqlite3_close(db);
    if (failed) {
        fprintf(stderr, "chaejeom compare: %s\n", e.msg);
        return 2;
    }
    sb out;
    sb_init(&out);
    if (!strcmp(format, "md")) compare_format_md(&res, &out);
    else if (!strcmp(format, "json")) compare_format_json(&res, &out);
    else compare_format_table(&res, &out);
    fputs(out.s, stdout);
    int status = res.gate_failed ? 1 : 0;
    if (junit) {
        sb_clear(&out);
        compare_format_junit(&res, &out);
        if (write_file(junit, out.s, out.len)) status = 2;
    }
    sb_free(&out);
    compare_result_free(&res);
    return status;
}
