/* store_rows — the rows a run writes as it goes and the readers that
 * compute and report from them: docs, choices, latency, generations, the
 * latency summaries and metrics. The per-doc writers reuse cached
 * statements (the per-batch hot path). */
#include "store_impl.h"

#include <math.h>

/* --- per-doc rows ------------------------------------------------------------ */

int store_put_doc(store *s, int64_t run_id, const store_doc *d, cj_err *e) {
    sqlite3_stmt *st = store_stmt_cached(s, ST_DOC,
                                         "INSERT INTO docs (run_id, task, doc_id, doc_hash, prompt_hash, target, pred)"
                                         " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                         e);
    if (!st) return -1;
    int bad =
        store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, d->task, e) ||
        store_bind_text(s, st, 3, d->doc_id, e) || store_bind_text(s, st, 4, d->doc_hash, e) ||
        store_bind_text(s, st, 5, d->prompt_hash, e) ||
        (d->target >= 0 ? store_bind_int(s, st, 6, d->target, e) : store_bind_text(s, st, 6, d->target_text, e)) ||
        (d->pred >= 0 ? store_bind_int(s, st, 7, d->pred, e) : store_bind_null(s, st, 7, e));
    if (bad) return -1;
    if (store_step_done(s, st, "insert doc", e)) return cj_wrap(e, "task %s doc %s", d->task, d->doc_id);
    return 0;
}

int store_put_choice(store *s, int64_t run_id, const store_choice *c, cj_err *e) {
    sqlite3_stmt *st =
        store_stmt_cached(s, ST_CHOICE,
                          "INSERT INTO choices (run_id, task, doc_id, choice_idx, logprob, n_tokens, n_chars,"
                          " n_bytes, is_greedy, label, n_words) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          e);
    if (!st) return -1;
    int bad = store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, c->task, e) ||
              store_bind_text(s, st, 3, c->doc_id, e) || store_bind_int(s, st, 4, c->choice_idx, e) ||
              store_bind_real(s, st, 5, c->logprob, e) || store_bind_int(s, st, 6, c->n_tokens, e) ||
              store_bind_int(s, st, 7, c->n_chars, e) || store_bind_int(s, st, 8, c->n_bytes, e) ||
              store_bind_int(s, st, 9, c->is_greedy ? 1 : 0, e) ||
              (c->label >= 0 ? store_bind_int(s, st, 10, c->label, e) : store_bind_null(s, st, 10, e)) ||
              (c->n_words >= 0 ? store_bind_int(s, st, 11, c->n_words, e) : store_bind_null(s, st, 11, e));
    if (bad) return -1;
    if (store_step_done(s, st, "insert choice", e))
        return cj_wrap(e, "task %s doc %s choice %d", c->task, c->doc_id, c->choice_idx);
    return 0;
}

/* tokens / seconds, or NAN when the time is not positive or unknown. */
static double rate(double tokens, double seconds) { return seconds > 0 ? tokens / seconds : NAN; }

int store_put_latency_row(store *s, int64_t run_id, const store_latency *l, cj_err *e) {
    sqlite3_stmt *st =
        store_stmt_cached(s, ST_LATENCY,
                          "INSERT INTO latency (run_id, task, doc_id, prefill_tokens, decode_tokens, wall_s,"
                          " prefill_s, decode_s, ttft_s, prefill_tok_s, decode_tok_s)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          e);
    if (!st) return -1;
    int bad = store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, l->task, e) ||
              store_bind_text(s, st, 3, l->doc_id, e) || store_bind_int(s, st, 4, l->prefill_tokens, e) ||
              store_bind_int(s, st, 5, l->decode_tokens, e) || store_bind_real(s, st, 6, l->wall_s, e) ||
              store_bind_real(s, st, 7, l->prefill_s, e) || store_bind_real(s, st, 8, l->decode_s, e) ||
              store_bind_real(s, st, 9, l->ttft_s, e) ||
              store_bind_real(s, st, 10, rate(l->prefill_tokens, l->prefill_s), e) ||
              store_bind_real(s, st, 11, rate(l->decode_tokens, l->decode_s), e);
    if (bad) return -1;
    return store_step_done(s, st, "insert latency", e);
}

int store_put_latency(store *s, int64_t run_id, const char *task, const char *doc_id, int prefill_tokens,
                      int decode_tokens, double wall_s, cj_err *e) {
    store_latency l = {task, doc_id, prefill_tokens, decode_tokens, wall_s, NAN, NAN, NAN};
    if (decode_tokens == 0) {
        l.prefill_s = wall_s;
        l.decode_s = 0;
    }
    return store_put_latency_row(s, run_id, &l, e);
}

int store_latency_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_latency *l, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(
            s,
            "SELECT task, doc_id, prefill_tokens, decode_tokens, wall_s, prefill_s, decode_s, ttft_s FROM latency"
            " WHERE run_id = ?1 AND (?2 IS NULL OR task = ?2) ORDER BY task, doc_id",
            &st, e))
        return -1;
    if (store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_latency l = {
            .task = store_col_text(st, 0),
            .doc_id = store_col_text(st, 1),
            .prefill_tokens = sqlite3_column_int(st, 2),
            .decode_tokens = sqlite3_column_int(st, 3),
            .wall_s = store_col_real_or_nan(st, 4),
            .prefill_s = store_col_real_or_nan(st, 5),
            .decode_s = store_col_real_or_nan(st, 6),
            .ttft_s = store_col_real_or_nan(st, 7),
        };
        if (!l.task || !l.doc_id) {
            cj_fail(e, "%s: latency row without task or doc_id", s->path);
            goto fail;
        }
        if (cb(&l, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read latency");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_put_latency_summary(store *s, int64_t run_id, const store_latency_summary *l, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(
            s,
            "INSERT OR REPLACE INTO latency_summary (run_id, task, docs, prefill_tokens, decode_tokens, wall_s,"
            " prefill_s, decode_s, prefill_tok_s, decode_tok_s, ttft_mean_s, ttft_p95_s, p50_s, p95_s, p99_s,"
            " docs_per_s, peak_rss_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &st, e))
        return -1;
    int i = 1;
    int bad = store_bind_int(s, st, i++, run_id, e) || store_bind_text(s, st, i++, l->task, e) ||
              store_bind_int(s, st, i++, l->docs, e) || store_bind_int(s, st, i++, l->prefill_tokens, e) ||
              store_bind_int(s, st, i++, l->decode_tokens, e) || store_bind_real(s, st, i++, l->wall_s, e) ||
              store_bind_real(s, st, i++, l->prefill_s, e) || store_bind_real(s, st, i++, l->decode_s, e) ||
              store_bind_real(s, st, i++, l->prefill_tok_s, e) || store_bind_real(s, st, i++, l->decode_tok_s, e) ||
              store_bind_real(s, st, i++, l->ttft_mean_s, e) || store_bind_real(s, st, i++, l->ttft_p95_s, e) ||
              store_bind_real(s, st, i++, l->p50_s, e) || store_bind_real(s, st, i++, l->p95_s, e) ||
              store_bind_real(s, st, i++, l->p99_s, e) || store_bind_real(s, st, i++, l->docs_per_s, e);
    bad =
        bad || (l->peak_rss_bytes >= 0 ? store_bind_int(s, st, i, l->peak_rss_bytes, e) : store_bind_null(s, st, i, e));
    if (bad || store_step_done(s, st, "insert latency summary", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_latency_summaries_each(store *s, int64_t run_id, int (*cb)(const store_latency_summary *l, void *ctx),
                                 void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT task, docs, prefill_tokens, decode_tokens, wall_s, prefill_s, decode_s, prefill_tok_s,"
                      " decode_tok_s, ttft_mean_s, ttft_p95_s, p50_s, p95_s, p99_s, docs_per_s, peak_rss_bytes"
                      " FROM latency_summary WHERE run_id = ? ORDER BY task = '" STORE_ALL_TASKS "', task",
                      &st, e))
        return -1;
    if (store_bind_int(s, st, 1, run_id, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int i = 0;
        store_latency_summary l;
        l.task = store_col_text(st, i++);
        l.docs = sqlite3_column_int(st, i++);
        l.prefill_tokens = sqlite3_column_int64(st, i++);
        l.decode_tokens = sqlite3_column_int64(st, i++);
        l.wall_s = store_col_real_or_nan(st, i++);
        l.prefill_s = store_col_real_or_nan(st, i++);
        l.decode_s = store_col_real_or_nan(st, i++);
        l.prefill_tok_s = store_col_real_or_nan(st, i++);
        l.decode_tok_s = store_col_real_or_nan(st, i++);
        l.ttft_mean_s = store_col_real_or_nan(st, i++);
        l.ttft_p95_s = store_col_real_or_nan(st, i++);
        l.p50_s = store_col_real_or_nan(st, i++);
        l.p95_s = store_col_real_or_nan(st, i++);
        l.p99_s = store_col_real_or_nan(st, i++);
        l.docs_per_s = store_col_real_or_nan(st, i++);
        l.peak_rss_bytes = sqlite3_column_type(st, i) == SQLITE_INTEGER ? sqlite3_column_int64(st, i) : -1;
        if (!l.task) {
            cj_fail(e, "%s: latency_summary row without task", s->path);
            goto fail;
        }
        if (cb(&l, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read latency summary");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* --- generations ------------------------------------------------------------- */

int store_put_generation(store *s, int64_t run_id, const store_generation *g, cj_err *e) {
    sqlite3_stmt *st =
        store_stmt_cached(s, ST_GEN,
                          "INSERT INTO generations (run_id, task, doc_id, text, n_tokens, finish_reason, answer,"
                          " exact_match, f1, abstained, correct, scores, refs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          e);
    if (!st) return -1;
    int bad = store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, g->task, e) ||
              store_bind_text(s, st, 3, g->doc_id, e) || store_bind_text(s, st, 4, g->text ? g->text : "", e) ||
              store_bind_int(s, st, 5, g->n_tokens, e) || store_bind_text(s, st, 6, g->finish, e) ||
              store_bind_text(s, st, 7, g->answer, e) || store_bind_real(s, st, 8, g->exact_match, e) ||
              store_bind_real(s, st, 9, g->f1, e) ||
              (g->abstained >= 0 ? store_bind_int(s, st, 10, g->abstained, e) : store_bind_null(s, st, 10, e)) ||
              (g->correct >= 0 ? store_bind_int(s, st, 11, g->correct, e) : store_bind_null(s, st, 11, e)) ||
              store_bind_text(s, st, 12, g->scores, e) || store_bind_text(s, st, 13, g->refs, e);
    if (bad) return -1;
    if (store_step_done(s, st, "insert generation", e)) return cj_wrap(e, "task %s doc %s", g->task, g->doc_id);
    return 0;
}

int store_generations_each(store *s, int64_t run_id, const char *task,
                           int (*cb)(const store_generation *g, void *ctx), void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT task, doc_id, text, n_tokens, finish_reason, answer, exact_match, f1, abstained, correct,"
                      " scores, refs FROM generations WHERE run_id = ? AND task = ? ORDER BY doc_id",
                      &st, e))
        return -1;
    if (store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_generation g = {
            .task = store_col_text(st, 0),
            .doc_id = store_col_text(st, 1),
            .text = store_col_text(st, 2),
            .n_tokens = sqlite3_column_int(st, 3),
            .finish = store_col_text(st, 4),
            .answer = store_col_text(st, 5),
            .exact_match = store_col_real_or_nan(st, 6),
            .f1 = store_col_real_or_nan(st, 7),
            .abstained = store_col_int_or(st, 8, -1),
            .correct = store_col_int_or(st, 9, -1),
            .scores = store_col_text(st, 10),
            .refs = store_col_text(st, 11),
        };
        if (!g.task || !g.doc_id || !g.text) {
            cj_fail(e, "%s: generations row without task, doc_id or text", s->path);
            goto fail;
        }
        if (cb(&g, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read generations");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_doc_ids_each(store *s, int64_t run_id, const char *task, int (*cb)(const char *doc_id, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT doc_id FROM docs WHERE run_id = ? AND task = ? ORDER BY doc_id", &st, e)) return -1;
    if (store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(store_col_text(st, 0), ctx)) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read docs");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_choices_each(store *s, int64_t run_id, const char *task, int (*cb)(const store_choice_row *row, void *ctx),
                       void *ctx, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT c.doc_id, d.target, c.choice_idx, c.logprob, c.n_tokens, c.n_chars, c.n_bytes,"
                      " c.is_greedy, c.label, c.n_words FROM choices c JOIN docs d USING (run_id, task, doc_id)"
                      " WHERE c.run_id = ? AND c.task = ? ORDER BY c.doc_id, c.choice_idx",
                      &st, e))
        return -1;
    if (store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, task, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_choice_row r = {
            .doc_id = store_col_text(st, 0),
            .target = store_col_int_or(st, 1, -1),
            .choice_idx = sqlite3_column_int(st, 2),
            .logprob = sqlite3_column_double(st, 3),
            .n_tokens = sqlite3_column_int(st, 4),
            .n_chars = sqlite3_column_int(st, 5),
            .n_bytes = sqlite3_column_int(st, 6),
            .is_greedy = sqlite3_column_int(st, 7),
            .label = store_col_int_or(st, 8, -1),
            .n_words = sqlite3_column_type(st, 9) == SQLITE_INTEGER ? (long)sqlite3_column_int64(st, 9) : -1,
        };
        if (!r.doc_id) {
            cj_fail(e, "%s: choices row without doc_id", s->path);
            goto fail;
        }
        if (cb(&r, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read choices");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* --- metrics ----------------------------------------------------------------- */

int store_put_metric(store *s, int64_t run_id, const char *task, const char *kind, const char *metric, double value,
                     double stderr_, int n, cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "INSERT OR REPLACE INTO metrics (run_id, task, kind, metric, value, stderr, n)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      &st, e))
        return -1;
    int bad = store_bind_int(s, st, 1, run_id, e) || store_bind_text(s, st, 2, task, e) ||
              store_bind_text(s, st, 3, kind, e) || store_bind_text(s, st, 4, metric, e) ||
              store_bind_real(s, st, 5, value, e) || store_bind_real(s, st, 6, stderr_, e) ||
              store_bind_int(s, st, 7, n, e);
    if (bad || store_step_done(s, st, "insert metric", e)) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_metrics_each(store *s, int64_t run_id, int (*cb)(const store_metric_row *m, void *ctx), void *ctx,
                       cj_err *e) {
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT task, kind, metric, value, stderr, n FROM metrics WHERE run_id = ?"
                      " ORDER BY kind = 'task', task, metric",
                      &st, e))
        return -1;
    if (store_bind_int(s, st, 1, run_id, e)) goto fail;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_metric_row m = {
            .task = store_col_text(st, 0),
            .kind = store_col_text(st, 1),
            .metric = store_col_text(st, 2),
            .value = store_col_real_or_nan(st, 3),
            .stderr_ = store_col_real_or_nan(st, 4),
            .n = sqlite3_column_int(st, 5),
        };
        if (!m.task || !m.kind || !m.metric) {
            cj_fail(e, "%s: metrics row with NULL names", s->path);
            goto fail;
        }
        if (cb(&m, ctx)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_db_fail(s, e, "read metrics");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}
