/* compare — the comparison of two runs (compare.h): which tasks are compared,
 * their docs paired and checked for differing definitions and data, the
 * notes on the protocol, and the result's lifetime. Reading the database
 * (compare_load.c), the tests and verdicts (compare_stats.c) and the
 * renderings (compare_format.c) live in their own files. */
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare_impl.h"

void compare_note(compare_result *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->notes = cj_xrealloc(r->notes, (size_t)(r->n_notes + 1) * sizeof *r->notes);
    r->notes[r->n_notes++] = cj_xstrdup(buf);
}

int compare_in_list(char *const *v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

/* Pairs a task's docs by id; refuses differing content unless forced. */
static int pair_task(compare_task *t, const compare_opts *o, compare_result *r, cj_err *e) {
    size_t i = 0, j = 0, cap = t->a.n < t->b.n ? t->a.n : t->b.n;
    t->ia = cj_xmalloc((cap ? cap : 1) * sizeof *t->ia);
    t->ib = cj_xmalloc((cap ? cap : 1) * sizeof *t->ib);
    size_t hash_diff = 0, prompt_diff = 0;
    const compare_doc *first = NULL, *first_b = NULL;
    while (i < t->a.n && j < t->b.n) {
        int c = strcmp(t->a.d[i].doc_id, t->b.d[j].doc_id);
        if (c < 0) {
            i++;
            t->n_unpaired++;
        } else if (c > 0) {
            j++;
            t->n_unpaired++;
        } else {
            const compare_doc *x = &t->a.d[i], *y = &t->b.d[j];
            if (x->doc_hash && y->doc_hash && strcmp(x->doc_hash, y->doc_hash)) {
                if (!hash_diff++) first = x, first_b = y;
            }
            if (x->prompt_hash && y->prompt_hash && strcmp(x->prompt_hash, y->prompt_hash)) prompt_diff++;
            t->ia[t->n_pairs] = i++;
            t->ib[t->n_pairs++] = j++;
        }
    }
    t->n_unpaired += (t->a.n - i) + (t->b.n - j);
    if (hash_diff) {
        if (!o->force)
            return cj_fail(e,
                           "task %s: the data differ: %zu of %zu docs have other content (doc %s: base %.12s, "
                           "candidate %.12s); the scores do not measure the same thing (--force compares anyway)",
                           t->name, hash_diff, t->n_pairs, first->doc_id, first->doc_hash, first_b->doc_hash);
        compare_note(r, "%s: %zu docs have different content hashes (compared anyway, --force)", t->name, hash_diff);
    }
    if (prompt_diff)
        compare_note(r, "%s: the prompts differ on %zu of %zu docs (shots or few-shot sampling differ)", t->name,
                     prompt_diff, t->n_pairs);
    if (t->n_unpaired)
        compare_note(r, "%s: %zu docs are in only one run and are left out of the pairing", t->name, t->n_unpaired);
    if (!t->n_pairs) compare_note(r, "%s: no doc is in both runs", t->name);
    return 0;
}

/* Selected by --tasks: the task itself matches, or a group containing it. */
static int task_selected(const char *task, const compare_opts *o) {
    if (!o->tasks) return 1;
    char *list = cj_xstrdup(o->tasks), *save = NULL;
    int hit = 0;
    for (char *p = strtok_r(list, ",", &save); p && !hit; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ') p++;
        if (!fnmatch(p, task, 0)) hit = 1;
        for (int g = 0; g < o->n_groups && !hit; g++) {
            if (fnmatch(p, o->groups[g].name, 0)) continue;
            for (int k = 0; k < o->groups[g].n_members; k++)
                if (!strcmp(o->groups[g].members[k], task)) hit = 1;
        }
    }
    free(list);
    return hit;
}

/* Every --tasks pattern must match something, or it is a typo. */
static int check_patterns(const compare_opts *o, char *const *a, int na, char *const *b, int nb, cj_err *e) {
    if (!o->tasks) return 0;
    char *list = cj_xstrdup(o->tasks), *save = NULL;
    int rc = 0;
    for (char *p = strtok_r(list, ",", &save); p && !rc; p = strtok_r(NULL, ",", &save)) {
        while (*p == ' ') p++;
        if (!*p) continue;
        int hit = 0;
        for (int i = 0; i < na && !hit; i++) hit = !fnmatch(p, a[i], 0) && compare_in_list(b, nb, a[i]);
        for (int g = 0; g < o->n_groups && !hit; g++) hit = !fnmatch(p, o->groups[g].name, 0);
        if (!hit) rc = cj_fail(e, "--tasks: '%s' matches no task scored in both runs", p);
    }
    free(list);
    return rc;
}

/* The definition hash of a task in a run's task_hashes JSON, or NULL. */
static const char *def_hash(json_t *h, const char *task) {
    json_t *v = h ? json_object_get(h, task) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- entry point -------------------------------------------------------- */

void compare_opts_default(compare_opts *o) {
    memset(o, 0, sizeof *o);
    o->alpha = 0.05;
    o->max_drop = 0;
    o->resamples = 10000;
    o->seed = 1234;
    o->max_slowdown = 0.2;
}

static void run_row_free(compare_run_row *r) {
    free(r->model_path);
    free(r->model_sha256);
    free(r->status);
    free(r->host);
    free(r->task_hashes);
}

static void protocol_notes(compare_result *r, const compare_run_row *a, const compare_run_row *b) {
    if (a->model_sha256 && b->model_sha256 && !strcmp(a->model_sha256, b->model_sha256) && r->base.id != r->cand.id)
        compare_note(r, "both runs used the same model weights (sha256 %.12s): differences come from the protocol "
                        "or noise",
                     a->model_sha256);
    if (a->shots != b->shots)
        compare_note(r, "shots differ: base %d, candidate %d (-1: task default)", a->shots, b->shots);
    if (a->limit != b->limit)
        compare_note(r, "--limit differs: base %d, candidate %d (-1: all docs)", a->limit, b->limit);
    if (a->has_seed != b->has_seed || a->seed != b->seed)
        compare_note(r, "seeds differ: base %lld, candidate %lld (doc samples and few-shot draws may differ)",
                     (long long)a->seed, (long long)b->seed);
    if (a->status && strcmp(a->status, "done"))
        compare_note(r, "base run %lld is '%s'", (long long)r->base.id, a->status);
    if (b->status && strcmp(b->status, "done"))
        compare_note(r, "candidate run %lld is '%s'", (long long)r->cand.id, b->status);
}

/* The options' ranges; the messages name the command-line flags. */
static int check_opts(const compare_opts *o, cj_err *e) {
    if (!(o->alpha > 0 && o->alpha < 1)) return cj_fail(e, "--alpha %g: must be in (0, 1)", o->alpha);
    if (!(o->max_drop >= 0)) return cj_fail(e, "--max-drop %g: must be >= 0 points", o->max_drop);
    if (o->resamples < 1) return cj_fail(e, "--resamples %ld: must be >= 1", o->resamples);
    if (!(o->max_slowdown >= 0)) return cj_fail(e, "--max-slowdown %g: must be >= 0", o->max_slowdown);
    return 0;
}

/* The tasks selected by --tasks and scored in both runs, in the base run's
 * order (the names are ta's); a task scored in only one run is noted. */
static char **common_tasks(compare_result *r, const compare_opts *o, char **ta, int na, char **tb, int nb, int *nc) {
    char **common = NULL;
    *nc = 0;
    for (int i = 0; i < na; i++) {
        if (!task_selected(ta[i], o)) continue;
        if (!compare_in_list(tb, nb, ta[i])) {
            compare_note(r, "%s: scored only in the base run", ta[i]);
            continue;
        }
        common = cj_xrealloc(common, (size_t)(*nc + 1) * sizeof *common);
        common[(*nc)++] = ta[i];
    }
    for (int i = 0; i < nb; i++)
        if (task_selected(tb[i], o) && !compare_in_list(ta, na, tb[i]))
            compare_note(r, "%s: scored only in the candidate run", tb[i]);
    return common;
}

/* Refuses a task whose definitions differ between the runs, unless forced:
 * its scores would not measure the same thing. A missing hash is noted. */
static int check_definition(const char *task, json_t *ha, json_t *hb, const compare_opts *o, compare_result *r,
                            cj_err *e) {
    const char *x = def_hash(ha, task), *y = def_hash(hb, task);
    if (x && y && strcmp(x, y)) {
        if (!o->force)
            return cj_fail(e,
                           "task %s: the task definitions differ (base %.12s, candidate %.12s); the scores are not "
                           "comparable (--force compares anyway)",
                           task, x, y);
        compare_note(r, "%s: task definitions differ (base %.12s, candidate %.12s); compared anyway (--force)", task, x,
                     y);
    } else if (!x || !y) {
        compare_note(r, "%s: no definition hash recorded in %s run; the definitions could not be checked", task,
                     !x ? "the base" : "the candidate");
    }
    return 0;
}

/* ts[i] for names[i]: definitions checked, both runs' docs loaded and
 * paired, the metrics chosen; task by task, so that the notes come in the
 * tasks' order. */
static int prepare_tasks(sqlite3 *db, const compare_run_row *ra, const compare_run_row *rb, compare_task *ts,
                         char *const *names, int n, const compare_opts *o, compare_result *r, cj_err *e) {
    json_t *ha = ra->task_hashes ? json_loads(ra->task_hashes, 0, NULL) : NULL;
    json_t *hb = rb->task_hashes ? json_loads(rb->task_hashes, 0, NULL) : NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        compare_task *t = &ts[i];
        t->name = names[i];
        if (check_definition(t->name, ha, hb, o, r, e) || compare_load_task(db, r->base.id, t->name, &t->a, e) ||
            compare_load_task(db, r->cand.id, t->name, &t->b, e) || pair_task(t, o, r, e) ||
            compare_choose_metrics(t, o, r, e))
            rc = -1;
    }
    json_decref(ha);
    json_decref(hb);
    return rc;
}

/* Rows of the groups whose every leaf task was compared: pooled pairs, a
 * size-weighted mean like the group's own metric. */
static int group_rows(compare_result *r, compare_task *ts, int nc, const compare_opts *o, cj_err *e) {
    for (int g = 0; g < o->n_groups; g++) {
        const compare_group *gr = &o->groups[g];
        if (gr->n_members <= 0) continue;
        compare_task **mem = cj_xmalloc((size_t)gr->n_members * sizeof *mem);
        int k = 0;
        for (int j = 0; j < gr->n_members; j++)
            for (int i = 0; i < nc; i++)
                if (!strcmp(ts[i].name, gr->members[j])) mem[k++] = &ts[i];
        int fail = 0;
        if (k == gr->n_members)
            for (int m = 0; m < N_METRICS && !fail; m++) {
                int any = 0;
                for (int j = 0; j < k; j++) any |= mem[j]->metrics[m];
                if (any) fail = compare_add_row(r, gr->name, 1, m, mem, k, o, e);
            }
        free(mem);
        if (fail) return -1;
    }
    return 0;
}

static void tasks_free(compare_task *ts, int n) {
    for (int i = 0; ts && i < n; i++) {
        compare_docs_free(&ts[i].a);
        compare_docs_free(&ts[i].b);
        free(ts[i].ia);
        free(ts[i].ib);
    }
    free(ts);
}

int compare_runs(sqlite3 *db, int64_t base, int64_t cand, const compare_opts *o, compare_result *r, cj_err *e) {
    memset(r, 0, sizeof *r);
    r->alpha = o->alpha;
    r->max_drop = o->max_drop;
    r->max_slowdown = o->max_slowdown;
    r->gate_latency = o->gate_latency;
    r->resamples = o->resamples;
    if (check_opts(o, e)) return -1;

    compare_run_row ra, rb;
    int rc = -1;
    char **ta = NULL, **tb = NULL, **common = NULL;
    int na = 0, nb = 0, nc = 0;
    compare_task *ts = NULL;
    memset(&rb, 0, sizeof rb);
    if (compare_load_run(db, base, &ra, &r->base, e)) goto out_nora;
    if (compare_load_run(db, cand, &rb, &r->cand, e)) goto out;
    protocol_notes(r, &ra, &rb);
    if (compare_task_names(db, base, &ta, &na, e) || compare_task_names(db, cand, &tb, &nb, e)) goto out;
    if (check_patterns(o, ta, na, tb, nb, e)) goto out;
    common = common_tasks(r, o, ta, na, tb, nb, &nc);
    if (!nc) {
        cj_fail(e, "runs %lld and %lld have no task in common%s", (long long)base, (long long)cand,
                o->tasks ? " among --tasks" : "");
        goto out;
    }
    ts = cj_xcalloc((size_t)nc, sizeof *ts);
    if (prepare_tasks(db, &ra, &rb, ts, common, nc, o, r, e)) goto out;
    for (int i = 0; i < nc; i++)
        for (int m = 0; m < N_METRICS; m++)
            if (ts[i].metrics[m] && compare_add_row(r, ts[i].name, 0, m, (compare_task *[]){&ts[i]}, 1, o, e))
                goto out;
    if (group_rows(r, ts, nc, o, e)) goto out;
    compare_rows_finish(r, o, e);
    if (compare_latency_rows(db, r, common, nc, o, e)) goto out;
    rc = 0;
out:
    run_row_free(&rb);
    run_row_free(&ra);
out_nora:
    tasks_free(ts, nc);
    free(common);
    compare_names_free(ta, na);
    compare_names_free(tb, nb);
    if (rc) compare_result_free(r);
    return rc;
}

static void run_free(compare_run *r) {
    free(r->label);
    free(r->model_sha256);
    free(r->status);
    free(r->host);
}

void compare_result_free(compare_result *r) {
    for (int i = 0; i < r->n_rows; i++) {
        free(r->rows[i].task);
        free(r->rows[i].metric);
    }
    free(r->rows);
    for (int i = 0; i < r->n_lat; i++) free(r->lat[i].task);
    free(r->lat);
    for (int i = 0; i < r->n_notes; i++) free(r->notes[i]);
    free(r->notes);
    run_free(&r->base);
    run_free(&r->cand);
    memset(r, 0, sizeof *r);
}
