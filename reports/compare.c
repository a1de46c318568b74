/* compare — see compare.h for the contract. */
#include "compare.h"

#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/pstats.h"
#include "../metrics/score.h"

/* ---- per-doc metrics ---------------------------------------------------- */

typedef struct {
    const char *name;
    int binary;
    int higher_better;
} metric_info;

/* Every metric compare can recompute per doc. Order is the fallback order
 * for a task with no primary metric: the first one with values wins. */
static const metric_info METRICS[] = {
    {"acc", 1, 1}, {"acc_norm", 1, 1}, {"acc_bytes", 1, 1}, {"exact_match", 1, 1}, {"mc2", 0, 1}, {"brier", 0, 0},
};
enum { M_ACC, M_ACC_NORM, M_ACC_BYTES, M_EXACT, M_MC2, M_BRIER, N_METRICS };

static int metric_index(const char *name) {
    for (int i = 0; i < N_METRICS; i++)
        if (!strcmp(METRICS[i].name, name)) return i;
    return -1;
}

typedef struct {
    char *doc_id, *doc_hash, *prompt_hash;
    double v[N_METRICS]; /* NAN where the doc has no value */
} cdoc;

typedef struct {
    cdoc *d;
    size_t n;
} cdocs;

static void cdocs_free(cdocs *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->d[i].doc_id);
        free(c->d[i].doc_hash);
        free(c->d[i].prompt_hash);
    }
    free(c->d);
    c->d = NULL;
    c->n = 0;
}

static char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? cj_xstrdup((const char *)t) : NULL;
}

/* An integer column, or -1 when NULL or not an integer (e.g. a target
 * stored as text because the doc has several true answers). */
static int col_index(sqlite3_stmt *st, int i) {
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER) return -1;
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v >= 0 && v < 1000000 ? (int)v : -1;
}

static int db_fail(sqlite3 *db, cj_err *e, const char *what) {
    return cj_fail(e, "database: %s: %s", what, sqlite3_errmsg(db));
}

static int cdoc_cmp(const void *a, const void *b) {
    return strcmp(((const cdoc *)a)->doc_id, ((const cdoc *)b)->doc_id);
}

static cdoc *cdocs_find(const cdocs *c, const char *doc_id) {
    cdoc key = {.doc_id = (char *)doc_id};
    return bsearch(&key, c->d, c->n, sizeof *c->d, cdoc_cmp);
}

typedef struct {
    score_choice *c;
    int *labels;
    int n, cap, has_labels, bad;
} choice_buf;

/* Scores one doc's gathered choices into d->v (the stored prediction, when
 * there is one, decides acc: it is the run's record of what the model said). */
static void score_doc(cdoc *d, const choice_buf *cb, int target, int pred) {
    if (cb->n == 0 || cb->bad) return;
    score_mc s;
    score_mc_doc(cb->c, cb->n, target, cb->has_labels ? cb->labels : NULL, &s);
    d->v[M_ACC] = s.acc;
    d->v[M_ACC_NORM] = s.acc_norm;
    d->v[M_ACC_BYTES] = s.acc_bytes;
    d->v[M_EXACT] = s.exact_match;
    d->v[M_MC2] = s.mc2;
    if (target >= 0 && target < cb->n) {
        if (pred >= 0) d->v[M_ACC] = pred == target;
        double mx = -INFINITY, z = 0, brier = 0;
        for (int i = 0; i < cb->n; i++)
            if (cb->c[i].logprob > mx) mx = cb->c[i].logprob;
        for (int i = 0; i < cb->n; i++) z += exp(cb->c[i].logprob - mx);
        for (int i = 0; i < cb->n; i++) {
            double p = exp(cb->c[i].logprob - mx) / z, y = i == target;
            brier += (p - y) * (p - y);
        }
        d->v[M_BRIER] = isfinite(brier) ? brier : NAN;
    }
}

/* Per-doc targets and predictions, kept aside while the choices stream in. */
typedef struct {
    int target, pred;
} doc_tp;

static int load_task(sqlite3 *db, int64_t run, const char *task, cdocs *out, cj_err *e) {
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    doc_tp *tp = NULL;
    out->d = NULL;
    out->n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT doc_id, doc_hash, prompt_hash, target, pred FROM docs WHERE run_id = ?1 AND task = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, e, "reading docs");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->d = cj_xrealloc(out->d, cap * sizeof *out->d);
        }
        cdoc *d = &out->d[out->n++];
        d->doc_id = col_text(st, 0);
        if (!d->doc_id) d->doc_id = cj_xstrdup("");
        d->doc_hash = col_text(st, 1);
        d->prompt_hash = col_text(st, 2);
        for (int m = 0; m < N_METRICS; m++) d->v[m] = NAN;
    }
    if (rc != SQLITE_DONE) {
        db_fail(db, e, "reading docs");
        goto fail;
    }
    /* targets and predictions in a second pass, once the docs are sorted by
     * id so that the pass (and the choices below) can find them */
    qsort(out->d, out->n, sizeof *out->d, cdoc_cmp);
    sqlite3_reset(st);
    tp = cj_xmalloc((out->n ? out->n : 1) * sizeof *tp);
    for (size_t i = 0; i < out->n; i++) tp[i] = (doc_tp){-1, -1};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        cdoc *d = cdocs_find(out, id ? id : "");
        if (d) tp[d - out->d] = (doc_tp){col_index(st, 3), col_index(st, 4)};
    }
    if (rc != SQLITE_DONE) {
        db_fail(db, e, "reading docs");
        goto fail;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "SELECT doc_id, choice_idx, logprob, n_tokens, n_chars, n_bytes, is_greedy, label "
                           "FROM choices WHERE run_id = ?1 AND task = ?2 ORDER BY doc_id, choice_idx",
                           -1, &st, NULL) != SQLITE_OK) {
        st = NULL;
        db_fail(db, e, "reading choices");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    choice_buf cb = {0};
    char *cur = NULL;
    for (;;) {
        rc = sqlite3_step(st);
        const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (rc == SQLITE_ROW && !id) id = "";
        if (cur && (rc != SQLITE_ROW || strcmp(id, cur))) {
            cdoc *d = cdocs_find(out, cur);
            if (d) score_doc(d, &cb, tp[d - out->d].target, tp[d - out->d].pred);
            free(cur);
            cur = NULL;
        }
        if (rc != SQLITE_ROW) break;
        if (!cur) {
            cur = cj_xstrdup(id);
            cb.n = cb.has_labels = cb.bad = 0;
        }
        if (cb.n == cb.cap) {
            cb.cap = cb.cap ? cb.cap * 2 : 8;
            cb.c = cj_xrealloc(cb.c, (size_t)cb.cap * sizeof *cb.c);
            cb.labels = cj_xrealloc(cb.labels, (size_t)cb.cap * sizeof *cb.labels);
        }
        /* choices must be numbered 0..n-1 without gaps, or indices mean nothing */
        if (sqlite3_column_int64(st, 1) != cb.n) cb.bad = 1;
        score_choice *c = &cb.c[cb.n];
        c->logprob = sqlite3_column_double(st, 2);
        c->n_tokens = sqlite3_column_int(st, 3);
        c->n_chars = sqlite3_column_int(st, 4);
        c->n_bytes = sqlite3_column_int(st, 5);
        c->is_greedy = sqlite3_column_int(st, 6) != 0;
        if (!isfinite(c->logprob)) cb.bad = 1;
        cb.labels[cb.n] = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 7) == 1;
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) cb.has_labels = 1;
        cb.n++;
    }
    free(cb.c);
    free(cb.labels);
    if (rc != SQLITE_DONE) {
        db_fail(db, e, "reading choices");
        goto fail;
    }
    sqlite3_finalize(st);
    free(tp);
    return 0;
fail:
    sqlite3_finalize(st);
    free(tp);
    cdocs_free(out);
    return -1;
}

/* ---- opening and naming runs -------------------------------------------- */

int compare_open_db(const char *path, sqlite3 **db, cj_err *e) {
    *db = NULL;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cj_fail(e, "%s: cannot open database: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 30000);
    sqlite3_stmt *st;
    int ok = sqlite3_prepare_v2(*db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'", -1, &st,
                                NULL) == SQLITE_OK;
    int found = ok && sqlite3_step(st) == SQLITE_ROW;
    if (ok) sqlite3_finalize(st);
    if (!found) {
        cj_fail(e, "%s: not a chaejeom database (no runs table%s%s)", path, ok ? "" : ": ",
                ok ? "" : sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

static int has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return r;
}

int compare_resolve_run(sqlite3 *db, const char *spec, int64_t *id, cj_err *e) {
    sqlite3_stmt *st;
    if (!strncmp(spec, "tag:", 4)) {
        const char *kv = spec + 4, *eq = strchr(kv, '=');
        if (!eq || eq == kv) return cj_fail(e, "run '%s': a tag is written tag:KEY=VALUE", spec);
        if (sqlite3_prepare_v2(db,
                               "SELECT r.id FROM runs r JOIN tags t ON t.run_id = r.id WHERE t.key = ?1 AND t.value = ?2 "
                               "ORDER BY r.status = 'done' DESC, r.id DESC LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
            return db_fail(db, e, "reading tags");
        sqlite3_bind_text(st, 1, kv, (int)(eq - kv), SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, eq + 1, -1, SQLITE_TRANSIENT);
    } else {
        char *end;
        long long v = strtoll(spec, &end, 10);
        if (!*spec || *end || v <= 0) return cj_fail(e, "run '%s': expected a run id or tag:KEY=VALUE", spec);
        if (sqlite3_prepare_v2(db, "SELECT id FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
            return db_fail(db, e, "reading runs");
        sqlite3_bind_int64(st, 1, v);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return db_fail(db, e, "reading runs");
    return cj_fail(e, "run '%s': no such run in the database", spec);
}

/* What compare needs from a runs row. */
typedef struct {
    char *model_path, *model_sha256, *status, *host, *task_hashes;
    int64_t seed;
    int has_seed;
    int shots, limit; /* -1 when NULL */
} run_row;

static void run_row_free(run_row *r) {
    free(r->model_path);
    free(r->model_sha256);
    free(r->status);
    free(r->host);
    free(r->task_hashes);
}

static int load_run(sqlite3 *db, int64_t id, run_row *r, compare_run *cr, cj_err *e) {
    sqlite3_stmt *st;
    memset(r, 0, sizeof *r);
    if (sqlite3_prepare_v2(db,
                           "SELECT model_path, model_sha256, status, host, task_hashes, seed, shots, \"limit\" "
                           "FROM runs WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, e, "reading runs");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) return cj_fail(e, "run %lld: no such run", (long long)id);
        return db_fail(db, e, "reading runs");
    }
    r->model_path = col_text(st, 0);
    r->model_sha256 = col_text(st, 1);
    r->status = col_text(st, 2);
    r->host = col_text(st, 3);
    r->task_hashes = col_text(st, 4);
    r->has_seed = sqlite3_column_type(st, 5) != SQLITE_NULL;
    r->seed = sqlite3_column_int64(st, 5);
    r->shots = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 6);
    r->limit = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 7);
    sqlite3_finalize(st);

    /* label: run id, model file name, and its tags */
    sb l;
    sb_init(&l);
    sb_printf(&l, "run %lld", (long long)id);
    const char *base = r->model_path ? strrchr(r->model_path, '/') : NULL;
    base = base ? base + 1 : r->model_path;
    sb_printf(&l, " (%s", base && *base ? base : "unknown model");
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM tags WHERE run_id = ?1 ORDER BY key", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
            sb_printf(&l, ", %s=%s", k ? k : "", v ? v : "");
        }
        sqlite3_finalize(st);
    }
    sb_putc(&l, ')');
    cr->id = id;
    cr->label = sb_take(&l);
    cr->model_sha256 = cj_xstrdup(r->model_sha256 ? r->model_sha256 : "");
    cr->status = cj_xstrdup(r->status ? r->status : "");
    cr->host = cj_xstrdup(r->host ? r->host : "");
    return 0;
}

/* ---- the comparison ---------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void note(compare_result *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->notes = cj_xrealloc(r->notes, (size_t)(r->n_notes + 1) * sizeof *r->notes);
    r->notes[r->n_notes++] = cj_xstrdup(buf);
}

static int task_names(sqlite3 *db, int64_t run, char ***out, int *n, cj_err *e) {
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT task FROM docs WHERE run_id = ?1 ORDER BY task", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(db, e, "reading docs");
    sqlite3_bind_int64(st, 1, run);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!t) continue;
        *out = cj_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
        (*out)[(*n)++] = cj_xstrdup(t);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(db, e, "reading docs");
    return 0;
}

static void free_names(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int in_list(char *const *v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

/* A task compared: both runs' docs and the pairs (indices into each). */
typedef struct {
    const char *name;
    cdocs a, b;
    size_t *ia, *ib;
    size_t n_pairs, n_unpaired;
    int metrics[N_METRICS]; /* which metrics get a row */
} ctask;

static uint64_t fnv1a(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* One row from paired values; the test, interval and means. */
static int fill_row(compare_row *row, const double *base, const double *cand, size_t n, const compare_opts *o,
                    cj_err *e) {
    row->n = (long)n;
    double sa = 0, sb_ = 0;
    long b = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        sa += base[i];
        sb_ += cand[i];
        if (base[i] > cand[i]) b++;
        if (cand[i] > base[i]) c++;
    }
    row->base = sa / (double)n;
    row->cand = sb_ / (double)n;
    row->diff = row->cand - row->base;
    row->b = b;
    row->c = c;
    ps_boot bo;
    uint64_t seed = fnv1a(row->metric, fnv1a("/", fnv1a(row->task, 0xcbf29ce484222325ULL ^ o->seed)));
    if (ps_paired_bootstrap(base, cand, n, o->resamples, 1 - o->alpha, seed, &bo, e))
        return cj_wrap(e, "%s %s", row->task, row->metric);
    row->lo = bo.lo;
    row->hi = bo.hi;
    row->p = row->binary ? ps_mcnemar_exact(b, c) : bo.p;
    return 0;
}

/* Appends a row for metric m over the pairs of tasks[0..k). */
static int add_row(compare_result *r, const char *name, int is_group, int m, ctask *const *tasks, int k,
                   const compare_opts *o, cj_err *e) {
    size_t cap = 0;
    for (int t = 0; t < k; t++) cap += tasks[t]->n_pairs;
    double *base = cj_xmalloc((cap ? cap : 1) * sizeof *base), *cand = cj_xmalloc((cap ? cap : 1) * sizeof *cand);
    size_t n = 0;
    long unpaired = 0;
    for (int t = 0; t < k; t++) {
        const ctask *ct = tasks[t];
        unpaired += (long)ct->n_unpaired;
        for (size_t i = 0; i < ct->n_pairs; i++) {
            double x = ct->a.d[ct->ia[i]].v[m], y = ct->b.d[ct->ib[i]].v[m];
            if (isnan(x) || isnan(y)) continue;
            base[n] = x;
            cand[n] = y;
            n++;
        }
    }
    int rc = 0;
    if (n == 0) {
        note(r, "%s: no paired per-doc values of %s", name, METRICS[m].name);
    } else {
        r->rows = cj_xrealloc(r->rows, (size_t)(r->n_rows + 1) * sizeof *r->rows);
        compare_row *row = &r->rows[r->n_rows++];
        memset(row, 0, sizeof *row);
        row->task = cj_xstrdup(name);
        row->metric = cj_xstrdup(METRICS[m].name);
        row->is_group = is_group;
        row->binary = METRICS[m].binary;
        row->higher_better = METRICS[m].higher_better;
        row->scale = 100;
        row->n_unpaired = unpaired;
        rc = fill_row(row, base, cand, n, o, e);
    }
    free(base);
    free(cand);
    return rc;
}

/* Pairs a task's docs by id; refuses differing content unless forced. */
static int pair_task(ctask *t, const compare_opts *o, compare_result *r, cj_err *e) {
    size_t i = 0, j = 0, cap = t->a.n < t->b.n ? t->a.n : t->b.n;
    t->ia = cj_xmalloc((cap ? cap : 1) * sizeof *t->ia);
    t->ib = cj_xmalloc((cap ? cap : 1) * sizeof *t->ib);
    size_t hash_diff = 0, prompt_diff = 0;
    const cdoc *first = NULL, *first_b = NULL;
    while (i < t->a.n && j < t->b.n) {
        int c = strcmp(t->a.d[i].doc_id, t->b.d[j].doc_id);
        if (c < 0) {
            i++;
            t->n_unpaired++;
        } else if (c > 0) {
            j++;
            t->n_unpaired++;
        } else {
            const cdoc *x = &t->a.d[i], *y = &t->b.d[j];
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
        note(r, "%s: %zu docs have different content hashes (compared anyway, --force)", t->name, hash_diff);
    }
    if (prompt_diff) note(r, "%s: the prompts differ on %zu of %zu docs (shots or few-shot sampling differ)", t->name,
                          prompt_diff, t->n_pairs);
    if (t->n_unpaired)
        note(r, "%s: %zu docs are in only one run and are left out of the pairing", t->name, t->n_unpaired);
    if (!t->n_pairs) note(r, "%s: no doc is in both runs", t->name);
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
        for (int i = 0; i < na && !hit; i++) hit = !fnmatch(p, a[i], 0) && in_list(b, nb, a[i]);
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

/* 1 if some paired doc has a value of metric m in both runs. */
static int has_values(const ctask *t, int m) {
    for (size_t i = 0; i < t->n_pairs; i++)
        if (!isnan(t->a.d[t->ia[i]].v[m]) && !isnan(t->b.d[t->ib[i]].v[m])) return 1;
    return 0;
}

/* Chooses which metrics get a row for task t. */
static int choose_metrics(ctask *t, const compare_opts *o, compare_result *r, cj_err *e) {
    if (o->metrics) {
        char *list = cj_xstrdup(o->metrics), *save = NULL;
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            while (*p == ' ') p++;
            int m = metric_index(p);
            if (m < 0) {
                cj_fail(e,
                        "--metric: '%s' is not a per-doc metric compare can pair (acc, acc_norm, acc_bytes, "
                        "exact_match, mc2, brier)",
                        p);
                free(list);
                return -1;
            }
            t->metrics[m] = 1;
        }
        free(list);
        return 0;
    }
    const char *pm = o->primary_metric ? o->primary_metric(t->name, o->ctx) : NULL;
    int m = pm ? metric_index(pm) : -1;
    if (m >= 0 && has_values(t, m)) {
        t->metrics[m] = 1;
        return 0;
    }
    for (int k = 0; k < N_METRICS; k++)
        if (has_values(t, k)) {
            if (pm) note(r, "%s: its metric %s has no per-doc values to pair; compared on %s", t->name, pm,
                         METRICS[k].name);
            t->metrics[k] = 1;
            return 0;
        }
    if (t->n_pairs) note(r, "%s: no per-doc metric to pair (corpus-level metrics are not tested)", t->name);
    return 0;
}

static void rows_finish(compare_result *r, const compare_opts *o, cj_err *e) {
    double *p = cj_xmalloc((size_t)(r->n_rows ? r->n_rows : 1) * sizeof *p);
    for (int i = 0; i < r->n_rows; i++) p[i] = r->rows[i].p;
    /* p-values come from our own tests and are always in [0, 1] */
    if (ps_holm(p, (size_t)r->n_rows, p, e)) abort();
    for (int i = 0; i < r->n_rows; i++) {
        compare_row *w = &r->rows[i];
        w->p_holm = p[i];
        double gain = w->diff * w->scale * (w->higher_better ? 1 : -1);
        if (w->p_holm < o->alpha && gain != 0) w->verdict = gain > 0 ? CMP_BETTER : CMP_WORSE;
        w->gated = w->verdict == CMP_WORSE && -gain > o->max_drop;
        if (w->gated) r->gate_failed = 1;
    }
    free(p);
}

/* ---- latency ------------------------------------------------------------ */

typedef struct {
    char *task;
    double wall, tokens;
    double *w; /* per-doc wall seconds */
    size_t n, cap;
} lat_acc;

typedef struct {
    lat_acc *t;
    int n;
} lat_set;

static lat_acc *lat_get(lat_set *s, const char *task) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].task, task)) return &s->t[i];
    s->t = cj_xrealloc(s->t, (size_t)(s->n + 1) * sizeof *s->t);
    lat_acc *a = &s->t[s->n++];
    memset(a, 0, sizeof *a);
    a->task = cj_xstrdup(task);
    return a;
}

static void lat_add(lat_acc *a, double wall, double tokens) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->w = cj_xrealloc(a->w, a->cap * sizeof *a->w);
    }
    a->w[a->n++] = wall;
    a->wall += wall;
    a->tokens += tokens;
}

static void lat_free(lat_set *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].task);
        free(s->t[i].w);
    }
    free(s->t);
}

/* Latency rows of the selected tasks, plus their total under "(all)". */
static int lat_load(sqlite3 *db, int64_t run, char *const *tasks, int n_tasks, lat_set *s, cj_err *e) {
    sqlite3_stmt *st;
    memset(s, 0, sizeof *s);
    if (sqlite3_prepare_v2(db,
                           "SELECT task, wall_s, COALESCE(prefill_tokens, 0) + COALESCE(decode_tokens, 0) "
                           "FROM latency WHERE run_id = ?1 AND wall_s IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, e, "reading latency");
    sqlite3_bind_int64(st, 1, run);
    lat_acc *all = lat_get(s, "(all)");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        double w = sqlite3_column_double(st, 1), tok = sqlite3_column_double(st, 2);
        if (!t || !in_list(tasks, n_tasks, t) || !(w >= 0) || !isfinite(w)) continue;
        lat_add(lat_get(s, t), w, tok);
        all = &s->t[0]; /* lat_get may have moved the array */
        lat_add(all, w, tok);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(db, e, "reading latency");
    return 0;
}

static void lat_stats(lat_acc *a, double *docs_s, double *tok_s, double *p95) {
    *docs_s = a->wall > 0 ? (double)a->n / a->wall : NAN;
    *tok_s = a->wall > 0 ? a->tokens / a->wall : NAN;
    ps_sort(a->w, a->n);
    *p95 = ps_quantile_sorted(a->w, a->n, 0.95);
}

static int compare_latency_rows(sqlite3 *db, compare_result *r, char *const *tasks, int n_tasks, const compare_opts *o,
                                cj_err *e) {
    if (!has_table(db, "latency")) return 0;
    lat_set la, lb;
    if (lat_load(db, r->base.id, tasks, n_tasks, &la, e)) return -1;
    if (lat_load(db, r->cand.id, tasks, n_tasks, &lb, e)) {
        lat_free(&la);
        return -1;
    }
    /* index 0 is the "(all)" total */
    if (la.t[0].n && !lb.t[0].n) note(r, "the candidate has no latency rows (its results came from the request cache?)");
    if (!la.t[0].n && lb.t[0].n) note(r, "the base has no latency rows (its results came from the request cache?)");
    for (int i = 0; i < la.n; i++) {
        lat_acc *x = &la.t[i], *y = NULL;
        for (int j = 0; j < lb.n; j++)
            if (!strcmp(lb.t[j].task, x->task)) y = &lb.t[j];
        if (!y || !x->n || !y->n) continue;
        r->lat = cj_xrealloc(r->lat, (size_t)(r->n_lat + 1) * sizeof *r->lat);
        compare_latency *l = &r->lat[r->n_lat++];
        memset(l, 0, sizeof *l);
        l->task = cj_xstrdup(x->task);
        l->n_base = (long)x->n;
        l->n_cand = (long)y->n;
        lat_stats(x, &l->base_docs_s, &l->base_tokens_s, &l->base_p95);
        lat_stats(y, &l->cand_docs_s, &l->cand_tokens_s, &l->cand_p95);
        l->slowdown = l->base_docs_s > 0 ? 1 - l->cand_docs_s / l->base_docs_s : 0;
        double p95_growth = l->base_p95 > 0 ? l->cand_p95 / l->base_p95 - 1 : 0;
        l->flagged = l->slowdown > o->max_slowdown || p95_growth > o->max_slowdown;
        if (l->flagged) r->latency_flagged = 1;
        /* only the total gates: a task of a few docs is too noisy to fail a build on */
        if (l->flagged && o->gate_latency && !strcmp(l->task, "(all)")) r->gate_failed = 1;
    }
    lat_free(&la);
    lat_free(&lb);
    if (r->n_lat && strcmp(r->base.host, r->cand.host))
        note(r, "latency was measured on different hosts (%s, %s): the speeds are not comparable",
             r->base.host[0] ? r->base.host : "?", r->cand.host[0] ? r->cand.host : "?");
    return 0;
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

static void protocol_notes(compare_result *r, const run_row *a, const run_row *b) {
    if (a->model_sha256 && b->model_sha256 && !strcmp(a->model_sha256, b->model_sha256) && r->base.id != r->cand.id)
        note(r, "both runs used the same model weights (sha256 %.12s): differences come from the protocol or noise",
             a->model_sha256);
    if (a->shots != b->shots) note(r, "shots differ: base %d, candidate %d (-1: task default)", a->shots, b->shots);
    if (a->limit != b->limit) note(r, "--limit differs: base %d, candidate %d (-1: all docs)", a->limit, b->limit);
    if (a->has_seed != b->has_seed || a->seed != b->seed)
        note(r, "seeds differ: base %lld, candidate %lld (doc samples and few-shot draws may differ)",
             (long long)a->seed, (long long)b->seed);
    if (a->status && strcmp(a->status, "done")) note(r, "base run %lld is '%s'", (long long)r->base.id, a->status);
    if (b->status && strcmp(b->status, "done")) note(r, "candidate run %lld is '%s'", (long long)r->cand.id, b->status);
}

int compare_runs(sqlite3 *db, int64_t base, int64_t cand, const compare_opts *o, compare_result *r, cj_err *e) {
    memset(r, 0, sizeof *r);
    r->alpha = o->alpha;
    r->max_drop = o->max_drop;
    r->max_slowdown = o->max_slowdown;
    r->gate_latency = o->gate_latency;
    r->resamples = o->resamples;
    if (!(o->alpha > 0 && o->alpha < 1)) return cj_fail(e, "--alpha %g: must be in (0, 1)", o->alpha);
    if (!(o->max_drop >= 0)) return cj_fail(e, "--max-drop %g: must be >= 0 points", o->max_drop);
    if (o->resamples < 1) return cj_fail(e, "--resamples %ld: must be >= 1", o->resamples);
    if (!(o->max_slowdown >= 0)) return cj_fail(e, "--max-slowdown %g: must be >= 0", o->max_slowdown);

    run_row ra, rb;
    int rc = -1;
    char **ta = NULL, **tb = NULL, **common = NULL;
    int na = 0, nb = 0, nc = 0;
    ctask *ts = NULL;
    json_t *ha = NULL, *hb = NULL;
    memset(&rb, 0, sizeof rb);
    if (load_run(db, base, &ra, &r->base, e)) goto out_nora;
    if (load_run(db, cand, &rb, &r->cand, e)) goto out;
    protocol_notes(r, &ra, &rb);
    if (task_names(db, base, &ta, &na, e) || task_names(db, cand, &tb, &nb, e)) goto out;
    if (check_patterns(o, ta, na, tb, nb, e)) goto out;
    for (int i = 0; i < na; i++) {
        if (!task_selected(ta[i], o)) continue;
        if (!in_list(tb, nb, ta[i])) {
            note(r, "%s: scored only in the base run", ta[i]);
            continue;
        }
        common = cj_xrealloc(common, (size_t)(nc + 1) * sizeof *common);
        common[nc++] = ta[i];
    }
    for (int i = 0; i < nb; i++)
        if (task_selected(tb[i], o) && !in_list(ta, na, tb[i])) note(r, "%s: scored only in the candidate run", tb[i]);
    if (!nc) {
        cj_fail(e, "runs %lld and %lld have no task in common%s", (long long)base, (long long)cand,
                o->tasks ? " among --tasks" : "");
        goto out;
    }

    ha = ra.task_hashes ? json_loads(ra.task_hashes, 0, NULL) : NULL;
    hb = rb.task_hashes ? json_loads(rb.task_hashes, 0, NULL) : NULL;
    ts = cj_xcalloc((size_t)nc, sizeof *ts);
    for (int i = 0; i < nc; i++) {
        ctask *t = &ts[i];
        t->name = common[i];
        const char *x = def_hash(ha, t->name), *y = def_hash(hb, t->name);
        if (x && y && strcmp(x, y)) {
            if (!o->force) {
                cj_fail(e,
                        "task %s: the task definitions differ (base %.12s, candidate %.12s); the scores are not "
                        "comparable (--force compares anyway)",
                        t->name, x, y);
                goto out;
            }
            note(r, "%s: task definitions differ (base %.12s, candidate %.12s); compared anyway (--force)", t->name, x,
                 y);
        } else if (!x || !y) {
            note(r, "%s: no definition hash recorded in %s run; the definitions could not be checked", t->name,
                 !x ? "the base" : "the candidate");
        }
        if (load_task(db, base, t->name, &t->a, e) || load_task(db, cand, t->name, &t->b, e)) goto out;
        if (pair_task(t, o, r, e) || choose_metrics(t, o, r, e)) goto out;
    }
    for (int i = 0; i < nc; i++)
        for (int m = 0; m < N_METRICS; m++)
            if (ts[i].metrics[m] && add_row(r, ts[i].name, 0, m, (ctask *[]){&ts[i]}, 1, o, e)) goto out;

    /* groups whose every leaf task was compared: pooled pairs, a
     * size-weighted mean like the group's own metric */
    for (int g = 0; g < o->n_groups; g++) {
        const compare_group *gr = &o->groups[g];
        if (gr->n_members <= 0) continue;
        ctask **mem = cj_xmalloc((size_t)gr->n_members * sizeof *mem);
        int k = 0;
        for (int j = 0; j < gr->n_members; j++)
            for (int i = 0; i < nc; i++)
                if (!strcmp(ts[i].name, gr->members[j])) mem[k++] = &ts[i];
        int fail = 0;
        if (k == gr->n_members)
            for (int m = 0; m < N_METRICS && !fail; m++) {
                int any = 0;
                for (int j = 0; j < k; j++) any |= mem[j]->metrics[m];
                if (any) fail = add_row(r, gr->name, 1, m, mem, k, o, e);
            }
        free(mem);
        if (fail) goto out;
    }
    rows_finish(r, o, e);
    if (compare_latency_rows(db, r, common, nc, o, e)) goto out;
    rc = 0;
out:
    run_row_free(&rb);
    run_row_free(&ra);
out_nora:
    for (int i = 0; ts && i < nc; i++) {
        cdocs_free(&ts[i].a);
        cdocs_free(&ts[i].b);
        free(ts[i].ia);
        free(ts[i].ib);
    }
    free(ts);
    free(common);
    free_names(ta, na);
    free_names(tb, nb);
    json_decref(ha);
    json_decref(hb);
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

/* ---- renderings --------------------------------------------------------- */

const char *compare_verdict_name(compare_verdict v) {
    return v == CMP_BETTER ? "better" : v == CMP_WORSE ? "worse" : "no significant change";
}

static const char *fmt_p(char buf[32], double p) {
    snprintf(buf, 32, p < 1e-4 ? "%.1e" : "%.4f", p);
    return buf;
}

static const char *row_mark(const compare_row *w) {
    return w->gated ? "worse (GATE)" : compare_verdict_name(w->verdict);
}

void compare_format_table(const compare_result *r, sb *o) {
    sb_printf(o, "base:      %s\ncandidate: %s\n", r->base.label, r->cand.label);
    sb_printf(o,
              "paired tests (McNemar exact for 0/1 metrics, bootstrap of %ld resamples otherwise), Holm-corrected "
              "over %d rows; alpha %g; gate: a significant drop of more than %g points\n\n",
              r->resamples, r->n_rows, r->alpha, r->max_drop);
    int w = 4;
    for (int i = 0; i < r->n_rows; i++) {
        int l = (int)strlen(r->rows[i].task) + (r->rows[i].is_group ? 2 : 0);
        if (l > w) w = l;
    }
    sb_printf(o, "%-*s  %-11s %6s %8s %8s %8s  %-19s %8s %8s  %s\n", w, "task", "metric", "n", "base", "cand",
              "diff", "interval", "p", "p(Holm)", "result");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char name[300], ci[64];
        snprintf(name, sizeof name, "%s%s%s", x->is_group ? "[" : "", x->task, x->is_group ? "]" : "");
        snprintf(ci, sizeof ci, "[%+.2f, %+.2f]", x->lo * x->scale, x->hi * x->scale);
        sb_printf(o, "%-*s  %-11s %6ld %8.2f %8.2f %+8.2f  %-19s ", w, name, x->metric, x->n, x->base * x->scale,
                  x->cand * x->scale, x->diff * x->scale, ci);
        char p1[32], p2[32];
        sb_printf(o, "%8s %8s  %s\n", fmt_p(p1, x->p), fmt_p(p2, x->p_holm), row_mark(x));
    }
    if (r->n_lat) {
        sb_printf(o, "\nlatency (flag: more than %.0f%% slower in docs/s or p95)%s\n", r->max_slowdown * 100,
                  r->gate_latency ? ", gating" : "");
        sb_printf(o, "%-*s  %9s %9s %9s %9s %9s %9s %8s\n", w, "task", "docs/s", "docs/s'", "tok/s", "tok/s'",
                  "p95 s", "p95 s'", "slower");
        for (int i = 0; i < r->n_lat; i++) {
            const compare_latency *l = &r->lat[i];
            sb_printf(o, "%-*s  %9.2f %9.2f %9.1f %9.1f %9.4f %9.4f %7.1f%%%s\n", w, l->task, l->base_docs_s,
                      l->cand_docs_s, l->base_tokens_s, l->cand_tokens_s, l->base_p95, l->cand_p95, l->slowdown * 100,
                      l->flagged ? "  SLOW" : "");
        }
        sb_puts(o, "(' = candidate)\n");
    }
    for (int i = 0; i < r->n_notes; i++) sb_printf(o, "%snote: %s\n", i ? "" : "\n", r->notes[i]);
    sb_putc(o, '\n');
    int gated = 0;
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].gated) {
            const compare_row *x = &r->rows[i];
            char p[32];
            sb_printf(o, "GATE FAILED: %s %s is worse by %.2f points (%.2f -> %.2f, p(Holm) %s)\n", x->task, x->metric,
                      fabs(x->diff * x->scale), x->base * x->scale, x->cand * x->scale, fmt_p(p, x->p_holm));
            gated = 1;
        }
    if (r->gate_failed && !gated) sb_puts(o, "GATE FAILED: latency (see SLOW above)\n");
    if (!r->gate_failed) sb_puts(o, "gate passed: no significant drop beyond the threshold\n");
}

/* Markdown escapes for table cells: pipes would split the cell. */
static void md_cell(sb *o, const char *s) {
    for (; *s; s++) {
        if (*s == '|' || *s == '\\' || *s == '`' || *s == '*' || *s == '_') sb_putc(o, '\\');
        sb_putc(o, *s == '\n' ? ' ' : *s);
    }
}

void compare_format_md(const compare_result *r, sb *o) {
    int n_worse = 0, n_better = 0;
    for (int i = 0; i < r->n_rows; i++) {
        n_worse += r->rows[i].verdict == CMP_WORSE;
        n_better += r->rows[i].verdict == CMP_BETTER;
    }
    sb_puts(o, "### chaejeom compare: ");
    if (r->gate_failed) sb_puts(o, "❌ gate failed\n\n");
    else sb_puts(o, "✅ gate passed\n\n");
    sb_puts(o, "**Base** ");
    md_cell(o, r->base.label);
    sb_puts(o, " → **candidate** ");
    md_cell(o, r->cand.label);
    sb_printf(o,
              "  \n%d better, %d worse, %d with no significant change (α = %g after Holm over %d rows; gate: a "
              "significant drop of more than %g points).\n\n",
              n_better, n_worse, r->n_rows - n_better - n_worse, r->alpha, r->n_rows, r->max_drop);
    sb_puts(o, "| task | metric | n | base | candidate | Δ (points) | interval | p | p (Holm) | result |\n");
    sb_puts(o, "|---|---|---:|---:|---:|---:|---|---:|---:|---|\n");
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char p1[32], p2[32];
        sb_puts(o, "| ");
        if (x->is_group) sb_puts(o, "**");
        md_cell(o, x->task);
        if (x->is_group) sb_puts(o, "**");
        sb_puts(o, " | ");
        md_cell(o, x->metric);
        sb_printf(o, " | %ld | %.2f | %.2f | %+.2f | [%+.2f, %+.2f] | %s | %s | %s |\n", x->n, x->base * x->scale,
                  x->cand * x->scale, x->diff * x->scale, x->lo * x->scale, x->hi * x->scale, fmt_p(p1, x->p),
                  fmt_p(p2, x->p_holm),
                  x->gated                     ? "❌ worse (gate)"
                  : x->verdict == CMP_WORSE   ? "🔻 worse"
                  : x->verdict == CMP_BETTER  ? "🔺 better"
                                              : "no significant change");
    }
    if (r->n_lat) {
        sb_printf(o, "\n**Latency** (flag: more than %.0f%% slower in docs/s or p95%s)\n\n", r->max_slowdown * 100,
                  r->gate_latency ? "; gating" : "; not gating");
        sb_puts(o, "| task | docs/s base | docs/s cand | tokens/s base | tokens/s cand | p95 s base | p95 s cand | "
                   "slower | |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (int i = 0; i < r->n_lat; i++) {
            const compare_latency *l = &r->lat[i];
            sb_puts(o, "| ");
            md_cell(o, l->task);
            sb_printf(o, " | %.2f | %.2f | %.1f | %.1f | %.4f | %.4f | %.1f%% | %s |\n", l->base_docs_s,
                      l->cand_docs_s, l->base_tokens_s, l->cand_tokens_s, l->base_p95, l->cand_p95, l->slowdown * 100,
                      l->flagged ? "🐢 slow" : "");
        }
    }
    if (r->n_notes) {
        sb_puts(o, "\n<details><summary>Notes</summary>\n\n");
        for (int i = 0; i < r->n_notes; i++) {
            sb_puts(o, "- ");
            md_cell(o, r->notes[i]);
            sb_putc(o, '\n');
        }
        sb_puts(o, "\n</details>\n");
    }
}

/* JSON numbers cannot be NaN or infinite: those become null. */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jrun(const compare_run *c) {
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)c->id, "label", c->label, "model_sha256",
                     c->model_sha256, "status", c->status, "host", c->host);
}

void compare_format_json(const compare_result *r, sb *o) {
    json_t *root = json_object(), *rows = json_array(), *lat = json_array(), *notes = json_array();
    json_object_set_new(root, "base", jrun(&r->base));
    json_object_set_new(root, "candidate", jrun(&r->cand));
    json_object_set_new(root, "alpha", json_real(r->alpha));
    json_object_set_new(root, "max_drop", json_real(r->max_drop));
    json_object_set_new(root, "max_slowdown", json_real(r->max_slowdown));
    json_object_set_new(root, "resamples", json_integer(r->resamples));
    json_object_set_new(root, "gate_failed", json_boolean(r->gate_failed));
    json_object_set_new(root, "latency_flagged", json_boolean(r->latency_flagged));
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        json_t *j = json_object();
        json_object_set_new(j, "task", json_string(x->task));
        json_object_set_new(j, "kind", json_string(x->is_group ? "group" : "task"));
        json_object_set_new(j, "metric", json_string(x->metric));
        json_object_set_new(j, "test", json_string(x->binary ? "mcnemar_exact" : "paired_bootstrap"));
        json_object_set_new(j, "higher_is_better", json_boolean(x->higher_better));
        json_object_set_new(j, "n", json_integer(x->n));
        json_object_set_new(j, "n_unpaired", json_integer(x->n_unpaired));
        json_object_set_new(j, "base", jnum(x->base));
        json_object_set_new(j, "candidate", jnum(x->cand));
        json_object_set_new(j, "diff", jnum(x->diff));
        json_object_set_new(j, "diff_points", jnum(x->diff * x->scale));
        json_object_set_new(j, "ci_low", jnum(x->lo));
        json_object_set_new(j, "ci_high", jnum(x->hi));
        if (x->binary) {
            json_object_set_new(j, "base_only_right", json_integer(x->b));
            json_object_set_new(j, "candidate_only_right", json_integer(x->c));
        }
        json_object_set_new(j, "p", jnum(x->p));
        json_object_set_new(j, "p_holm", jnum(x->p_holm));
        json_object_set_new(j, "result", json_string(compare_verdict_name(x->verdict)));
        json_object_set_new(j, "gated", json_boolean(x->gated));
        json_array_append_new(rows, j);
    }
    for (int i = 0; i < r->n_lat; i++) {
        const compare_latency *l = &r->lat[i];
        json_array_append_new(
            lat, json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "task", l->task, "n_base",
                           (json_int_t)l->n_base, "n_candidate", (json_int_t)l->n_cand, "docs_s_base",
                           jnum(l->base_docs_s), "docs_s_candidate", jnum(l->cand_docs_s), "tokens_s_base",
                           jnum(l->base_tokens_s), "tokens_s_candidate", jnum(l->cand_tokens_s), "p95_s_base",
                           jnum(l->base_p95), "p95_s_candidate", jnum(l->cand_p95), "slowdown", jnum(l->slowdown),
                           "flagged", l->flagged));
    }
    for (int i = 0; i < r->n_notes; i++) json_array_append_new(notes, json_string(r->notes[i]));
    json_object_set_new(root, "rows", rows);
    json_object_set_new(root, "latency", lat);
    json_object_set_new(root, "notes", notes);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    sb_puts(o, s);
    sb_putc(o, '\n');
    free(s);
    json_decref(root);
}

/* XML attribute/text escape; drops control characters XML 1.0 forbids. */
static void xml_esc(sb *o, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&') sb_puts(o, "&amp;");
        else if (c == '<') sb_puts(o, "&lt;");
        else if (c == '>') sb_puts(o, "&gt;");
        else if (c == '"') sb_puts(o, "&quot;");
        else if (c == '\'') sb_puts(o, "&apos;");
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;
        else sb_putc(o, (char)c);
    }
}

void compare_format_junit(const compare_result *r, sb *o) {
    int failures = 0, tests = r->n_rows + r->n_lat;
    for (int i = 0; i < r->n_rows; i++) failures += r->rows[i].gated;
    for (int i = 0; i < r->n_lat; i++) failures += r->gate_latency && r->lat[i].flagged && !strcmp(r->lat[i].task, "(all)");
    sb_puts(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    sb_printf(o, "<testsuites tests=\"%d\" failures=\"%d\">\n", tests, failures);
    sb_printf(o, "  <testsuite name=\"chaejeom compare\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\">\n",
              tests, failures);
    sb_puts(o, "    <properties>\n      <property name=\"base\" value=\"");
    xml_esc(o, r->base.label);
    sb_puts(o, "\"/>\n      <property name=\"candidate\" value=\"");
    xml_esc(o, r->cand.label);
    sb_printf(o, "\"/>\n      <property name=\"alpha\" value=\"%g\"/>\n      <property name=\"max_drop\" value=\"%g\"/>\n    </properties>\n",
              r->alpha, r->max_drop);
    for (int i = 0; i < r->n_rows; i++) {
        const compare_row *x = &r->rows[i];
        char p1[32], p2[32], msg[512];
        snprintf(msg, sizeof msg, "%s %s: %.2f -> %.2f (%+.2f points, interval [%+.2f, %+.2f], p %s, p(Holm) %s): %s",
                 x->task, x->metric, x->base * x->scale, x->cand * x->scale, x->diff * x->scale, x->lo * x->scale,
                 x->hi * x->scale, fmt_p(p1, x->p), fmt_p(p2, x->p_holm), row_mark(x));
        sb_puts(o, "    <testcase classname=\"chaejeom.compare.");
        xml_esc(o, x->is_group ? "group" : "task");
        sb_puts(o, "\" name=\"");
        xml_esc(o, x->task);
        sb_putc(o, '/');
        xml_esc(o, x->metric);
        sb_puts(o, "\" time=\"0\">\n");
        if (x->gated) {
            sb_puts(o, "      <failure type=\"regression\" message=\"");
            xml_esc(o, msg);
            sb_puts(o, "\"/>\n");
        } else {
            sb_puts(o, "      <system-out>");
            xml_esc(o, msg);
            sb_puts(o, "</system-out>\n");
        }
        sb_puts(o, "    </testcase>\n");
    }
    for (int i = 0; i < r->n_lat; i++) {
        const compare_latency *l = &r->lat[i];
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %.2f -> %.2f docs/s (%.1f%% slower), p95 %.4f -> %.4f s", l->task,
                 l->base_docs_s, l->cand_docs_s, l->slowdown * 100, l->base_p95, l->cand_p95);
        sb_puts(o, "    <testcase classname=\"chaejeom.compare.latency\" name=\"");
        xml_esc(o, l->task);
        sb_puts(o, "\" time=\"0\">\n");
        int fails = r->gate_latency && l->flagged && !strcmp(l->task, "(all)");
        sb_puts(o, fails ? "      <failure type=\"slowdown\" message=\"" : "      <system-out>");
        xml_esc(o, msg);
        sb_puts(o, fails ? "\"/>\n" : "</system-out>\n");
        sb_puts(o, "    </testcase>\n");
    }
    sb_puts(o, "  </testsuite>\n</testsuites>\n");
}
