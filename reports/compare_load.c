/* compare_load — what compare reads from the database: opening it, naming runs,
 * a run's row and label, the tasks it scored, and each doc's values recomputed
 * from the docs and choices tables (compare_impl.h). Kept apart from the
 * comparison so that all of compare's SQL is in one place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rdb.h"
#include "../metrics/score.h"
#include "compare_impl.h"

/* ---- per-doc values ----------------------------------------------------- */

void compare_docs_free(compare_docs *c) {
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


static int cdoc_cmp(const void *a, const void *b) {
    return strcmp(((const compare_doc *)a)->doc_id, ((const compare_doc *)b)->doc_id);
}

static compare_doc *cdocs_find(const compare_docs *c, const char *doc_id) {
    compare_doc key = {.doc_id = (char *)doc_id};
    return bsearch(&key, c->d, c->n, sizeof *c->d, cdoc_cmp);
}

typedef struct {
    score_choice *c;
    int *labels;
    int n, cap, has_labels, bad;
} choice_buf;

/* Scores one doc's gathered choices into d->v (the stored prediction, when
 * there is one, decides acc: it is the run's record of what the model said). */
static void score_doc(compare_doc *d, const choice_buf *cb, int target, int pred) {
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

/* The task's docs, sorted by id, with no values yet; and into *tp (one per
 * doc) their targets and predictions. */
static int read_docs(sqlite3 *db, int64_t run, const char *task, compare_docs *out, doc_tp **tp, cj_err *e) {
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *tp = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT doc_id, doc_hash, prompt_hash, target, pred FROM docs WHERE run_id = ?1 AND task = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading docs");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->d = cj_xrealloc(out->d, cap * sizeof *out->d);
        }
        compare_doc *d = &out->d[out->n++];
        d->doc_id = col_text(st, 0);
        if (!d->doc_id) d->doc_id = cj_xstrdup("");
        d->doc_hash = col_text(st, 1);
        d->prompt_hash = col_text(st, 2);
        for (int m = 0; m < N_METRICS; m++) d->v[m] = NAN;
    }
    if (rc == SQLITE_DONE) {
        /* targets and predictions in a second pass, once the docs are sorted
         * by id so that the pass (and the choices after it) can find them */
        qsort(out->d, out->n, sizeof *out->d, cdoc_cmp);
        sqlite3_reset(st);
        *tp = cj_xmalloc((out->n ? out->n : 1) * sizeof **tp);
        for (size_t i = 0; i < out->n; i++) (*tp)[i] = (doc_tp){-1, -1};
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            compare_doc *d = cdocs_find(out, id ? id : "");
            if (d) (*tp)[d - out->d] = (doc_tp){col_index(st, 3), col_index(st, 4)};
        }
    }
    /* the message before finalizing, which may reset it */
    int ret = rc == SQLITE_DONE ? 0 : rdb_fail(db, e, "reading docs");
    sqlite3_finalize(st);
    return ret;
}

/* Appends the choices row at st to the doc's choices gathered in cb. */
static void choice_push(choice_buf *cb, sqlite3_stmt *st) {
    if (cb->n == cb->cap) {
        cb->cap = cb->cap ? cb->cap * 2 : 8;
        cb->c = cj_xrealloc(cb->c, (size_t)cb->cap * sizeof *cb->c);
        cb->labels = cj_xrealloc(cb->labels, (size_t)cb->cap * sizeof *cb->labels);
    }
    /* choices must be numbered 0..n-1 without gaps, or indices mean nothing */
    if (sqlite3_column_int64(st, 1) != cb->n) cb->bad = 1;
    score_choice *c = &cb->c[cb->n];
    c->logprob = sqlite3_column_double(st, 2);
    c->n_tokens = sqlite3_column_int(st, 3);
    c->n_chars = sqlite3_column_int(st, 4);
    c->n_bytes = sqlite3_column_int(st, 5);
    c->is_greedy = sqlite3_column_int(st, 6) != 0;
    if (!isfinite(c->logprob)) cb->bad = 1;
    cb->labels[cb->n] = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 7) == 1;
    if (sqlite3_column_type(st, 7) != SQLITE_NULL) cb->has_labels = 1;
    cb->n++;
}

/* Streams the task's choices, ordered by doc, and scores each doc's values
 * once its last choice has been read. */
static int score_choices(sqlite3 *db, int64_t run, const char *task, compare_docs *out, const doc_tp *tp,
                         cj_err *e) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT doc_id, choice_idx, logprob, n_tokens, n_chars, n_bytes, is_greedy, label "
                           "FROM choices WHERE run_id = ?1 AND task = ?2 ORDER BY doc_id, choice_idx",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading choices");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    choice_buf cb = {0};
    char *cur = NULL;
    int rc;
    for (;;) {
        rc = sqlite3_step(st);
        const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (rc == SQLITE_ROW && !id) id = "";
        if (cur && (rc != SQLITE_ROW || strcmp(id, cur))) {
            compare_doc *d = cdocs_find(out, cur);
            if (d) score_doc(d, &cb, tp[d - out->d].target, tp[d - out->d].pred);
            free(cur);
            cur = NULL;
        }
        if (rc != SQLITE_ROW) break;
        if (!cur) {
            cur = cj_xstrdup(id);
            cb.n = cb.has_labels = cb.bad = 0;
        }
        choice_push(&cb, st);
    }
    free(cb.c);
    free(cb.labels);
    int ret = rc == SQLITE_DONE ? 0 : rdb_fail(db, e, "reading choices");
    sqlite3_finalize(st);
    return ret;
}

/* A generative task's per-doc exact_match (its first answer filter's),
 * from the generations the run stored. */
static int read_generations(sqlite3 *db, int64_t run, const char *task, compare_docs *out, cj_err *e) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT doc_id, exact_match FROM generations WHERE run_id = ?1 AND task = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading generations");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        compare_doc *d = cdocs_find(out, id ? id : "");
        if (d && sqlite3_column_type(st, 1) != SQLITE_NULL) d->v[M_EXACT] = sqlite3_column_double(st, 1);
    }
    int ret = rc == SQLITE_DONE ? 0 : rdb_fail(db, e, "reading generations");
    sqlite3_finalize(st);
    return ret;
}

int compare_load_task(sqlite3 *db, int64_t run, const char *task, compare_docs *out, cj_err *e) {
    doc_tp *tp;
    out->d = NULL;
    out->n = 0;
    int rc = read_docs(db, run, task, out, &tp, e);
    if (!rc) rc = score_choices(db, run, task, out, tp, e);
    if (!rc) rc = read_generations(db, run, task, out, e);
    free(tp);
    if (rc) compare_docs_free(out);
    return rc;
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

int compare_resolve_run(sqlite3 *db, const char *spec, int64_t *id, cj_err *e) {
    sqlite3_stmt *st;
    if (!strncmp(spec, "tag:", 4)) {
        const char *kv = spec + 4, *eq = strchr(kv, '=');
        if (!eq || eq == kv) return cj_fail(e, "run '%s': a tag is written tag:KEY=VALUE", spec);
        if (sqlite3_prepare_v2(db,
                               "SELECT r.id FROM runs r JOIN tags t ON t.run_id = r.id WHERE t.key = ?1 AND t.value = ?2 "
                               "ORDER BY r.status = 'done' DESC, r.id DESC LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
            return rdb_fail(db, e, "reading tags");
        sqlite3_bind_text(st, 1, kv, (int)(eq - kv), SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, eq + 1, -1, SQLITE_TRANSIENT);
    } else {
        char *end;
        long long v = strtoll(spec, &end, 10);
        if (!*spec || *end || v <= 0) return cj_fail(e, "run '%s': expected a run id or tag:KEY=VALUE", spec);
        if (sqlite3_prepare_v2(db, "SELECT id FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
            return rdb_fail(db, e, "reading runs");
        sqlite3_bind_int64(st, 1, v);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading runs");
    return cj_fail(e, "run '%s': no such run in the database", spec);
}

/* "run ID (MODEL FILE, KEY=VALUE, ...)": a run as the renderings name it. A
 * run whose tags cannot be read is named without them. */
static char *run_label(sqlite3 *db, int64_t id, const char *model_path) {
    sqlite3_stmt *st;
    sb l;
    sb_init(&l);
    sb_printf(&l, "run %lld", (long long)id);
    const char *base = model_path ? strrchr(model_path, '/') : NULL;
    base = base ? base + 1 : model_path;
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
    return sb_take(&l);
}

int compare_load_run(sqlite3 *db, int64_t id, compare_run_row *r, compare_run *cr, cj_err *e) {
    sqlite3_stmt *st;
    memset(r, 0, sizeof *r);
    if (sqlite3_prepare_v2(db,
                           "SELECT model_path, model_sha256, status, host, task_hashes, seed, shots, \"limit\" "
                           "FROM runs WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading runs");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) return cj_fail(e, "run %lld: no such run", (long long)id);
        return rdb_fail(db, e, "reading runs");
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
    cr->id = id;
    cr->label = run_label(db, id, r->model_path);
    cr->model_sha256 = cj_xstrdup(r->model_sha256 ? r->model_sha256 : "");
    cr->status = cj_xstrdup(r->status ? r->status : "");
    cr->host = cj_xstrdup(r->host ? r->host : "");
    return 0;
}

/* ---- the tasks of a run -------------------------------------------------- */

int compare_task_names(sqlite3 *db, int64_t run, char ***out, int *n, cj_err *e) {
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT task FROM docs WHERE run_id = ?1 ORDER BY task", -1, &st, NULL) !=
        SQLITE_OK)
        return rdb_fail(db, e, "reading docs");
    sqlite3_bind_int64(st, 1, run);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!t) continue;
        *out = cj_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
        (*out)[(*n)++] = cj_xstrdup(t);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading docs");
    return 0;
}

void compare_names_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}
