/* report — writes the report of runs (report.h): reads each run from the
 * database, lays out and compares them (report_layout.c), runs the sections
 * into the two documents and writes report.md and index.html. The building
 * blocks are in report_doc.c, the sections in report_summary.c,
 * report_sections.c, report_latency.c and report_details.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rdb.h"
#include "../common/fileio.h"
#include "report_impl.h"

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return cj_xstrdup(t ? (const char *)t : "");
}

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* The runs row of run r->id. */
static int load_row(sqlite3 *db, report_run *r, cj_err *e) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT model_path, model_sha256, status, started_at, host, harness_version, git_commit, "
                           "task_hashes, seed, shots, \"limit\" FROM runs WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading runs");
    sqlite3_bind_int64(st, 1, r->id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? cj_fail(e, "run %lld: no such run", (long long)r->id)
                                 : rdb_fail(db, e, "reading runs");
    }
    r->model_path = col_dup(st, 0);
    r->model_sha256 = col_dup(st, 1);
    r->status = col_dup(st, 2);
    r->started_at = col_dup(st, 3);
    r->host = col_dup(st, 4);
    r->harness_version = col_dup(st, 5);
    r->git_commit = col_dup(st, 6);
    const char *th = (const char *)sqlite3_column_text(st, 7);
    r->task_hashes = th ? json_loads(th, 0, NULL) : NULL;
    r->has_seed = sqlite3_column_type(st, 8) != SQLITE_NULL;
    r->seed = sqlite3_column_int64(st, 8);
    r->shots = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 9);
    r->limit = sqlite3_column_type(st, 10) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 10);
    sqlite3_finalize(st);
    return 0;
}

/* The run's tags, its label made of them, and its step=N tag. */
static int load_tags(sqlite3 *db, report_run *r, cj_err *e) {
    sqlite3_stmt *st;
    sb tags, label;
    sb_init(&tags);
    sb_init(&label);
    sb_printf(&label, "run %lld", (long long)r->id);
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM tags WHERE run_id = ?1 ORDER BY key", -1, &st, NULL) !=
        SQLITE_OK)
        return rdb_fail(db, e, "reading tags");
    sqlite3_bind_int64(st, 1, r->id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
        k = k ? k : "";
        v = v ? v : "";
        sb_printf(&tags, "%s%s=%s", tags.len ? ", " : "", k, v);
        sb_printf(&label, " %s=%s", k, v);
        char *end;
        double step = strtod(v, &end);
        if (!strcmp(k, "step") && *v && !*end && isfinite(step)) r->step = step;
    }
    sqlite3_finalize(st);
    r->tags = sb_take(&tags);
    r->label = sb_take(&label);
    sb_init(&label);
    sb_printf(&label, "run %lld", (long long)r->id);
    r->name = sb_take(&label);
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading tags");
    return 0;
}

static int load_metrics(sqlite3 *db, report_run *r, cj_err *e) {
    sqlite3_stmt *st;
    /* groups first, then tasks, each by name, as `show` lists them */
    if (sqlite3_prepare_v2(db,
                           "SELECT task, kind, metric, value, stderr, n FROM metrics WHERE run_id = ?1 "
                           "ORDER BY kind = 'task', task, metric",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading metrics");
    sqlite3_bind_int64(st, 1, r->id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r->m = cj_xrealloc(r->m, (size_t)(r->n_m + 1) * sizeof *r->m);
        report_metric *m = &r->m[r->n_m++];
        m->task = col_dup(st, 0);
        m->kind = col_dup(st, 1);
        m->metric = col_dup(st, 2);
        m->value = col_real(st, 3);
        m->se = col_real(st, 4);
        m->n = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading metrics");
    return 0;
}

/* Per-doc wall times and their sums, when the database has a latency table. */
static int load_latency(sqlite3 *db, report_run *r, cj_err *e) {
    sqlite3_stmt *st;
    if (!rdb_has_table(db, "latency")) return 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT wall_s, COALESCE(prefill_tokens, 0) + COALESCE(decode_tokens, 0) FROM latency "
                           "WHERE run_id = ?1 AND wall_s IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return rdb_fail(db, e, "reading latency");
    sqlite3_bind_int64(st, 1, r->id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double w = sqlite3_column_double(st, 0);
        if (!(w >= 0) || !isfinite(w)) continue;
        if (r->n_lat == cap) {
            cap = cap ? cap * 2 : 256;
            r->lat = cj_xrealloc(r->lat, cap * sizeof *r->lat);
        }
        r->lat[r->n_lat++] = w;
        r->lat_wall += w;
        r->lat_tokens += sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rdb_fail(db, e, "reading latency");
    return 0;
}

static int load_run(sqlite3 *db, int64_t id, report_run *r, cj_err *e) {
    memset(r, 0, sizeof *r);
    r->id = id;
    r->step = NAN;
    if (load_row(db, r, e) || load_tags(db, r, e) || load_metrics(db, r, e)) return -1;
    return load_latency(db, r, e);
}

static void run_free(report_run *r) {
    free(r->model_path);
    free(r->model_sha256);
    free(r->status);
    free(r->started_at);
    free(r->host);
    free(r->harness_version);
    free(r->git_commit);
    json_decref(r->task_hashes);
    free(r->tags);
    free(r->label);
    free(r->name);
    for (int i = 0; i < r->n_m; i++) {
        free(r->m[i].task);
        free(r->m[i].kind);
        free(r->m[i].metric);
    }
    free(r->m);
    free(r->lat);
}

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#1b1f24;background:#fff}"
    "h1{font-size:1.6em}h2{margin-top:1.4em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.9em}"
    "th,td{border:1px solid #d0d7de;padding:.25em .6em}th{background:#f6f8fa}td.hash{overflow-wrap:anywhere}"
    "td.r{white-space:nowrap}"
    ".r{text-align:right;font-variant-numeric:tabular-nums}.l{text-align:left}"
    "figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{font-size:.85em;color:#57606a}.protocol{font-size:.8em;color:#57606a}.note{color:#9a6700}"
    "td.better{background:#dafbe1}td.worse{background:#ffebe9}td.sub{padding-left:1.6em;color:#3d444d}"
    "details{margin:.6em 0}summary{cursor:pointer;font-weight:600}.tw{overflow-x:auto}";

static int mkdir_p(const char *dir, cj_err *e) {
    char *p = cj_xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) {
            cj_fail(e, "%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) && errno != EEXIST) rc = cj_fail(e, "%s: cannot create folder: %s", p, strerror(errno));
    else if (!cj_is_dir(p)) rc = cj_fail(e, "%s: exists and is not a folder", p);
    free(p);
    return rc;
}

static int write_text(const char *dir, const char *name, const sb *s, cj_err *e) {
    char *path = cj_path_join(dir, name);
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f) rc = cj_fail(e, "%s: cannot write: %s", path, strerror(errno));
    else if (fwrite(s->s, 1, s->len, f) != s->len || fclose(f)) rc = cj_fail(e, "%s: write failed", path);
    else f = NULL;
    if (f) fclose(f);
    free(path);
    return rc;
}

/* "stories260K.bin" or "2 models (a.gguf, b.gguf)". Static buffer. */
static const char *models_line(const report_ctx *c) {
    static char buf[512];
    int distinct = 0;
    sb s;
    sb_init(&s);
    for (int k = 0; k < c->n_runs; k++) {
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = !strcmp(c->runs[j].model_path, c->runs[k].model_path);
        if (seen) continue;
        const char *base = strrchr(c->runs[k].model_path, '/');
        sb_printf(&s, "%s%s", distinct++ ? ", " : "", base ? base + 1 : c->runs[k].model_path);
    }
    if (distinct > 1) snprintf(buf, sizeof buf, "%d models (%.400s)", distinct, s.s);
    else snprintf(buf, sizeof buf, "%.400s", s.len ? s.s : "?");
    sb_free(&s);
    return buf;
}

/* The title, the style sheet and the opening paragraph; and, when gnuplot
 * cannot run (plot_err says why), the note that the charts are missing. */
static void page_head(report_ctx *c, const cj_err *plot_err) {
    report_info *info = c->info;
    sb_puts(&c->d.md, "# chaejeom report\n\n");
    sb_puts(&c->d.html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>chaejeom report</title>\n<style>");
    sb_puts(&c->d.html, CSS);
    sb_puts(&c->d.html, "</style>\n</head>\n<body>\n<h1>chaejeom report</h1>\n");
    report_p(&c->d,
             "%d run%s of %s, read from the results database; every number below can be recomputed from it%s.",
             c->n_runs, c->n_runs == 1 ? "" : "s", models_line(c), c->n_runs > 1 ? ". The first run is the base" : "");
    if (!c->can_plot) {
        snprintf(info->note, sizeof info->note, "charts skipped: %.900s (install gnuplot, e.g. gnuplot-nox)",
                 plot_err->msg);
        sb_printf(&c->d.md, "> **Note:** %s\n\n", info->note);
        sb_puts(&c->d.html, "<p class=\"note\"><strong>Note:</strong> ");
        report_html_esc(&c->d.html, info->note);
        sb_puts(&c->d.html, "</p>\n");
    }
}

int report_write(sqlite3 *db, const int64_t *ids, int n_runs, const report_opts *o, report_info *info, cj_err *e) {
    memset(info, 0, sizeof *info);
    if (n_runs < 1) return cj_fail(e, "report: no runs given");
    if (mkdir_p(o->out_dir, e)) return -1;
    report_ctx c;
    memset(&c, 0, sizeof c);
    c.info = info;
    c.o = o;
    c.runs = cj_xcalloc((size_t)n_runs, sizeof *c.runs);
    int rc = -1;
    for (int k = 0; k < n_runs; k++, c.n_runs++)
        if (load_run(db, ids[k], &c.runs[k], e)) {
            c.n_runs++;
            goto out;
        }
    sb_init(&c.d.md);
    sb_init(&c.d.html);
    c.d.dir = o->out_dir;
    cj_err pe;
    c.can_plot = plot_init(&c.plot, o->gnuplot, o->out_dir, &pe) == 0;
    report_layout(&c);
    report_compare(&c, db);
    page_head(&c, &pe);
    report_section_runs(&c);
    if (report_section_summary(&c, e) || report_section_subjects(&c, e) || report_section_steps(&c, e) ||
        report_section_calibration(&c, e))
        goto out_doc;
    report_section_hallucination(&c);
    if (report_section_latency(&c, e)) goto out_doc;
    report_section_details(&c);
    sb_puts(&c.d.html, "</body>\n</html>\n");
    if (write_text(o->out_dir, "report.md", &c.d.md, e) || write_text(o->out_dir, "index.html", &c.d.html, e))
        goto out_doc;
    rc = 0;
out_doc:
    report_layout_free(&c);
    sb_free(&c.d.md);
    sb_free(&c.d.html);
out:
    for (int k = 0; k < c.n_runs; k++) run_free(&c.runs[k]);
    free(c.runs);
    return rc;
}
