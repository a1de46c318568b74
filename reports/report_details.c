/* report_details — the end of the report, folded (<details>) so that it
 * does not push the summary down: each run's protocol, the task versions
 * and definition hashes, every metric of every task, and each comparison
 * with run 0 row by row with its notes (report_impl.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

static void protocol_table(report_ctx *c) {
    static const char *const H[] = {"run", "model", "model sha256", "tags", "shots", "limit", "seed",
                                    "status", "started", "host", "version"};
    report_table t;
    report_table_begin(&t, &c->d, 11, H, "llllrrrllll");
    for (int k = 0; k < c->n_runs; k++) {
        const report_run *r = &c->runs[k];
        report_table_cell(&t, "%lld", (long long)r->id);
        /* the file's name: its folder is the machine's business, its sha256 the identity */
        const char *base = strrchr(r->model_path, '/');
        report_table_cell(&t, "%s", base ? base + 1 : r->model_path);
        report_table_cell_cls(&t, "hash", "%s", r->model_sha256);
        report_table_cell(&t, "%s", r->tags);
        if (r->shots >= 0) report_table_cell(&t, "%d", r->shots);
        else report_table_cell(&t, "default");
        if (r->limit > 0) report_table_cell(&t, "%d", r->limit);
        else report_table_cell(&t, "all");
        if (r->has_seed) report_table_cell(&t, "%lld", (long long)r->seed);
        else report_table_cell(&t, "-");
        report_table_cell(&t, "%s", r->status);
        report_table_cell(&t, "%s", r->started_at);
        report_table_cell(&t, "%s", r->host);
        report_table_cell(&t, "chaejeom %s%s%.12s", r->harness_version[0] ? r->harness_version : "?",
                          r->git_commit[0] ? ", commit " : "", r->git_commit);
    }
    report_table_end(&t);
}

static const char *run_hash(const report_run *r, const char *task) {
    json_t *h = r->task_hashes ? json_object_get(r->task_hashes, task) : NULL;
    return json_is_string(h) ? json_string_value(h) : NULL;
}

/* Tasks and their definition hashes; one row when every run agrees. */
static void definitions_table(report_ctx *c) {
    static const char *const H[] = {"task", "version", "definition sha256", "runs"};
    report_names tasks = {0};
    for (int k = 0; k < c->n_runs; k++) {
        const char *key;
        json_t *v;
        if (json_is_object(c->runs[k].task_hashes))
            json_object_foreach(c->runs[k].task_hashes, key, v) report_names_add(&tasks, key);
    }
    if (!tasks.n) {
        report_p(&c->d, "No task definition hashes are recorded for these runs.");
        return;
    }
    report_table t;
    report_table_begin(&t, &c->d, 4, H, "llll");
    for (int i = 0; i < tasks.n; i++) {
        const char *first = NULL;
        int same = 1;
        for (int k = 0; k < c->n_runs; k++) {
            const char *s = run_hash(&c->runs[k], tasks.v[i]);
            if (s && !first) first = s;
            else if (s && strcmp(first, s)) same = 0;
        }
        for (int k = 0; k < c->n_runs; k++) {
            const char *s = run_hash(&c->runs[k], tasks.v[i]);
            if (!s) continue;
            const char *ver = c->o->task_version ? c->o->task_version(tasks.v[i], s, c->o->ctx) : NULL;
            report_table_cell(&t, "%s", tasks.v[i]);
            report_table_cell(&t, "%s", ver ? ver : "-");
            report_table_cell_cls(&t, "hash", "%s", s);
            if (same) {
                report_table_cell(&t, "all");
                break;
            }
            report_table_cell(&t, "%lld", (long long)c->runs[k].id);
        }
    }
    report_table_end(&t);
    report_p(&c->d, "A version is shown when the task definition at hand still has the recorded hash.");
    report_names_free(&tasks);
}

/* Every (task, metric) but the reliability bins, groups first. */
static void all_metrics(report_ctx *c) {
    report_pairs p = {0};
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++)
            if (!report_is_bin_metric(c->runs[k].m[i].metric))
                report_pairs_add(&p, c->runs[k].m[i].task, c->runs[k].m[i].metric);
    if (p.n) report_metric_table(c, &p);
    else report_p(&c->d, "No metrics are stored for these runs.");
    report_pairs_free(&p);
}

/* Run k against run 0 as compare gives it: every row, then the notes. */
static void comparison(report_ctx *c, int k) {
    static const char *const H[] = {"task", "metric", "paired n", "base", "candidate", "Δ", "interval", "p (Holm)",
                                    "verdict"};
    const compare_result *r = &c->cmp[k].r;
    report_table t;
    report_table_begin(&t, &c->d, 9, H, "llrrrrrrl");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *w = &r->rows[i];
        const char *cls = w->verdict == CMP_BETTER ? "better" : w->verdict == CMP_WORSE ? "worse" : NULL;
        report_table_cell(&t, "%s%s", w->task, w->is_group ? " (group)" : "");
        report_table_cell(&t, "%s", w->metric);
        report_table_cell(&t, "%ld", w->n);
        report_table_cell(&t, "%.4g", w->scale * w->base);
        report_table_cell(&t, "%.4g", w->scale * w->cand);
        report_table_cell(&t, "%+.3g", w->scale * w->diff);
        report_table_cell(&t, "[%+.3g, %+.3g]", w->scale * w->lo, w->scale * w->hi);
        report_table_cell(&t, "%.3g", w->p_holm);
        report_table_cell_cls(&t, cls, "%s", compare_verdict_name(w->verdict));
    }
    report_table_end(&t);
    for (int i = 0; i < r->n_notes; i++) report_p(&c->d, "Note: %s", r->notes[i]);
}

void report_section_details(report_ctx *c) {
    report_h2(&c->d, "Details");
    report_fold_begin(&c->d, "Protocol: models, shots, limits, seeds, hosts");
    protocol_table(c);
    report_fold_end(&c->d);
    report_fold_begin(&c->d, "Task versions and definition hashes");
    definitions_table(c);
    report_fold_end(&c->d);
    report_fold_begin(&c->d, "Every metric of every task and group");
    report_p(&c->d, "Values with their 95%% intervals, in percent for metrics of 0 to 1.");
    all_metrics(c);
    report_fold_end(&c->d);
    for (int k = 1; k < c->n_runs; k++) {
        char title[160];
        snprintf(title, sizeof title, "Comparison: run %lld against run %lld, row by row", (long long)c->runs[k].id,
                 (long long)c->runs[0].id);
        report_fold_begin(&c->d, title);
        if (c->cmp[k].ok) comparison(c, k);
        else report_p(&c->d, "Not compared: %s", c->cmp[k].why);
        report_fold_end(&c->d);
    }
}
