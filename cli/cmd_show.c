/* chaejeom show — one run's metrics (groups, then tasks; the hallucination
 * and calibration metrics together; latency and cost) in a chosen format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "commands.h"
#include "../harness/run.h"
#include "../store/store.h"

static void usage(FILE *f) {
    fprintf(f, "usage: chaejeom show RUN [--db FILE] [--format table|md|csv|json]\n\n"
               "Prints the metrics of run RUN (an id, or 'last' for the newest run): accuracy-type\n"
               "metrics, then hallucination and calibration (TruthfulQA, abstain_rate,\n"
               "hallucination_rate, confident_error_rate, brier, ece), then latency and cost per task\n"
               "next to its main score. csv lists every metric row (the ece_bin_* rows too); json adds\n"
               "the latency summaries.\n"
               "  --db FILE       results database (default chaejeom.db)\n"
               "  --format FMT    table (default), md, csv or json\n");
}

static int newest_cb(const store_run *r, void *ctx) {
    *(int64_t *)ctx = r->id;
    return 1;
}

int cmd_show(int argc, char **argv) {
    const char *db = "chaejeom.db", *format = "table", *which = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db") && i + 1 < argc) db = argv[++i];
        else if (!strncmp(a, "--db=", 5)) db = a + 5;
        else if (!strcmp(a, "--format") && i + 1 < argc) format = argv[++i];
        else if (!strncmp(a, "--format=", 9)) format = a + 9;
        else if (a[0] != '-' && !which) which = a;
        else {
            fprintf(stderr, "chaejeom show: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!which) {
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "table") && strcmp(format, "md") && strcmp(format, "csv") && strcmp(format, "json")) {
        fprintf(stderr, "chaejeom show: unknown format '%s' (table, md, csv or json)\n", format);
        return 2;
    }
    int64_t id = 0;
    if (strcmp(which, "last")) {
        char *end;
        errno = 0;
        long long v = strtoll(which, &end, 10);
        if (errno || end == which || *end || v <= 0) {
            fprintf(stderr, "chaejeom show: RUN must be a run id or 'last', not '%s'\n", which);
            return 2;
        }
        id = v;
    }
    if (!cj_is_file(db)) {
        fprintf(stderr, "chaejeom show: no database at %s\n", db);
        return 2;
    }
    store *s;
    cj_err e;
    if (store_open(db, &s, &e)) {
        fprintf(stderr, "chaejeom show: %s\n", e.msg);
        return 2;
    }
    int rc = 2;
    store_run r;
    int found = 0;
    if (!id && store_runs_each(s, NULL, newest_cb, &id, &e)) goto fail;
    if (id && store_run_get(s, id, &r, &found, &e)) goto fail;
    if (!found) {
        fprintf(stderr, "chaejeom show: no run %s in %s\n", which, db);
        goto out;
    }
    if (!strcmp(format, "table") || !strcmp(format, "md")) {
        const char *pre = strcmp(format, "md") ? "" : "- ";
        printf("%srun %lld: %s, started %s%s%s\n", pre, (long long)r.id, r.status, r.started_at,
               r.finished_at ? ", finished " : "", r.finished_at ? r.finished_at : "");
        printf("%smodel %s (sha256 %.16s…, %s, %s)\n", pre, r.model_path ? r.model_path : "?",
               r.model_sha256 ? r.model_sha256 : "?", r.model_format ? r.model_format : "?",
               r.model_dtype ? r.model_dtype : "?");
        char shots[16] = "default", limit[16] = "all";
        if (r.shots >= 0) snprintf(shots, sizeof shots, "%d", r.shots);
        if (r.limit > 0) snprintf(limit, sizeof limit, "%d", r.limit);
        printf("%stasks %s, shots %s, limit %s, seed %lld\n", pre, r.tasks, shots, limit, (long long)r.seed);
        printf("\n");
    }
    store_run_clear(&r);
    sb out;
    sb_init(&out);
    if (run_format_metrics(s, id, format, &out, &e)) {
        sb_free(&out);
        goto fail;
    }
    fputs(out.s, stdout);
    sb_free(&out);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "chaejeom show: %s\n", e.msg);
out:
    store_close(s);
    return rc;
}
