/* report_layout — what the report shows before it writes anything
 * (report_impl.h): the summary rows (groups, their subgroups, tasks in no
 * group), each group's subjects, the headline metric of each, and every
 * later run compared with the first by compare_runs, so that the report's
 * differences and verdicts are the very numbers `compare` prints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

int report_names_find(const report_names *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return i;
    return -1;
}

void report_names_add(report_names *l, const char *s) {
    if (report_names_find(l, s) >= 0) return;
    l->v = cj_xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
    l->v[l->n++] = cj_xstrdup(s);
}

void report_names_free(report_names *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void report_pairs_add(report_pairs *p, const char *task, const char *metric) {
    for (int j = 0; j < p->n; j++)
        if (!strcmp(p->task[j], task) && !strcmp(p->metric[j], metric)) return;
    p->task = cj_xrealloc(p->task, (size_t)(p->n + 1) * sizeof *p->task);
    p->metric = cj_xrealloc(p->metric, (size_t)(p->n + 1) * sizeof *p->metric);
    p->task[p->n] = cj_xstrdup(task);
    p->metric[p->n++] = cj_xstrdup(metric);
}

void report_pairs_free(report_pairs *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->task[i]);
        free(p->metric[i]);
    }
    free(p->task);
    free(p->metric);
    memset(p, 0, sizeof *p);
}

const report_metric *report_find_metric(const report_run *r, const char *task, const char *metric) {
    for (int i = 0; i < r->n_m; i++)
        if (!strcmp(r->m[i].task, task) && !strcmp(r->m[i].metric, metric)) return &r->m[i];
    return NULL;
}

int report_is_bin_metric(const char *m) { return !strncmp(m, "ece_bin_", 8); }

int report_is_proportion(const char *m) {
    static const char *const P[] = {"acc", "acc_norm", "acc_bytes", "exact_match", "mc1", "mc2", "f1",
                                    "bleu_acc", "rouge1_acc", "rouge2_acc", "rougeL_acc", "abstain_rate",
                                    "hallucination_rate", "confident_error_rate", "ece"};
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
        if (!strcmp(P[i], m)) return 1;
    return 0;
}

const char *report_main_metric(const report_ctx *c, const char *task) {
    static const char *const PREF[] = {"acc", "acc_norm", "mc2", "exact_match", "f1"};
    const report_opts *o = c->o;
    const char *pm = o->primary_metric ? o->primary_metric(task, o->ctx) : NULL;
    for (int k = 0; k < c->n_runs; k++)
        if (pm && report_is_proportion(pm) && report_find_metric(&c->runs[k], task, pm)) return pm;
    for (size_t i = 0; i < sizeof PREF / sizeof PREF[0]; i++)
        for (int k = 0; k < c->n_runs; k++)
            if (report_find_metric(&c->runs[k], task, PREF[i])) return PREF[i];
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++)
            if (!strcmp(c->runs[k].m[i].task, task) && !report_is_bin_metric(c->runs[k].m[i].metric))
                return c->runs[k].m[i].metric;
    return NULL;
}

const char *report_fmt_value(char *buf, size_t n, const report_metric *m, const char *metric) {
    double s = report_is_proportion(metric) ? 100 : 1;
    if (!m || !isfinite(m->value)) snprintf(buf, n, "-");
    else if (!isfinite(m->se)) snprintf(buf, n, s == 100 ? "%.1f" : "%.4g", s * m->value);
    else if (s == 100) snprintf(buf, n, "%.1f ± %.1f", s * m->value, s * 1.96 * m->se);
    else snprintf(buf, n, "%.4g ± %.2g", m->value, 1.96 * m->se);
    return buf;
}

/* ---- groups ------------------------------------------------------------- */

static const compare_group *registry_group(const report_opts *o, const char *name) {
    for (int g = 0; g < o->n_groups; g++)
        if (!strcmp(o->groups[g].name, name)) return &o->groups[g];
    return NULL;
}

/* Whether task (a leaf task, or a group when is_group) belongs to group:
 * by the registry's leaves when it knows the group, else by name. */
static int member_of(const report_opts *o, const char *group, const char *task, int is_group) {
    if (!strcmp(group, task)) return 0;
    const compare_group *g = registry_group(o, group);
    if (!g) {
        size_t n = strlen(group);
        return !strncmp(task, group, n) && task[n] == '_';
    }
    if (!is_group) {
        for (int i = 0; i < g->n_members; i++)
            if (!strcmp(g->members[i], task)) return 1;
        return 0;
    }
    const compare_group *h = registry_group(o, task);
    if (!h || !h->n_members) return 0;
    for (int i = 0; i < h->n_members; i++)
        if (!member_of(o, group, h->members[i], 0)) return 0;
    return 1;
}

/* The distinct tasks (kind task) or groups (kind group) the runs have, in
 * the runs' order (by name), as pointers into their metrics. */
static const char **names_of_kind(const report_ctx *c, const char *kind, int *n) {
    const char **v = NULL;
    *n = 0;
    for (int k = 0; k < c->n_runs; k++)
        for (int i = 0; i < c->runs[k].n_m; i++) {
            const report_metric *m = &c->runs[k].m[i];
            if (strcmp(m->kind, kind) || report_is_bin_metric(m->metric)) continue;
            int seen = 0;
            for (int j = 0; j < *n && !seen; j++) seen = !strcmp(v[j], m->task);
            if (seen) continue;
            v = cj_xrealloc(v, (size_t)(*n + 1) * sizeof *v);
            v[(*n)++] = m->task;
        }
    return v;
}

static void add_item(report_ctx *c, const char *name, int is_group, int depth) {
    c->items = cj_xrealloc(c->items, (size_t)(c->n_items + 1) * sizeof *c->items);
    c->items[c->n_items++] = (report_item){name, report_main_metric(c, name), is_group, depth};
}

void report_layout(report_ctx *c) {
    int ng, nt;
    const char **groups = names_of_kind(c, "group", &ng), **tasks = names_of_kind(c, "task", &nt);
    for (int i = 0; i < ng; i++) {
        int top = 1;
        for (int j = 0; j < ng && top; j++) top = !member_of(c->o, groups[j], groups[i], 1);
        if (!top) continue;
        add_item(c, groups[i], 1, 0);
        for (int j = 0; j < ng; j++)
            if (member_of(c->o, groups[i], groups[j], 1)) add_item(c, groups[j], 1, 1);
        report_family f = {groups[i], NULL, 0};
        for (int j = 0; j < nt; j++)
            if (member_of(c->o, groups[i], tasks[j], 0)) {
                f.subjects = cj_xrealloc(f.subjects, (size_t)(f.n + 1) * sizeof *f.subjects);
                f.subjects[f.n++] = tasks[j];
            }
        c->fams = cj_xrealloc(c->fams, (size_t)(c->n_fams + 1) * sizeof *c->fams);
        c->fams[c->n_fams++] = f;
    }
    for (int j = 0; j < nt; j++) {
        int grouped = 0;
        for (int i = 0; i < ng && !grouped; i++) grouped = member_of(c->o, groups[i], tasks[j], 0);
        if (!grouped) add_item(c, tasks[j], 0, 0);
    }
    free(groups);
    free(tasks);
}

/* ---- comparisons -------------------------------------------------------- */

void report_compare(report_ctx *c, sqlite3 *db) {
    c->cmp = cj_xcalloc((size_t)c->n_runs, sizeof *c->cmp);
    compare_opts o;
    compare_opts_default(&o);
    o.primary_metric = c->o->primary_metric;
    o.ctx = c->o->ctx;
    o.groups = c->o->groups;
    o.n_groups = c->o->n_groups;
    for (int k = 1; k < c->n_runs; k++) {
        cj_err e;
        report_cmp *x = &c->cmp[k];
        x->ok = compare_runs(db, c->runs[0].id, c->runs[k].id, &o, &x->r, &e) == 0;
        if (!x->ok) snprintf(x->why, sizeof x->why, "%s", e.msg);
    }
}

const compare_row *report_cmp_row(const report_ctx *c, int k, const char *task, const char *metric) {
    if (k < 1 || k >= c->n_runs || !c->cmp || !c->cmp[k].ok || !metric) return NULL;
    const compare_result *r = &c->cmp[k].r;
    for (int i = 0; i < r->n_rows; i++)
        if (!strcmp(r->rows[i].task, task) && !strcmp(r->rows[i].metric, metric)) return &r->rows[i];
    return NULL;
}

void report_layout_free(report_ctx *c) {
    for (int k = 1; c->cmp && k < c->n_runs; k++)
        if (c->cmp[k].ok) compare_result_free(&c->cmp[k].r);
    free(c->cmp);
    for (int i = 0; i < c->n_fams; i++) free(c->fams[i].subjects);
    free(c->fams);
    free(c->items);
}
