/* SQL safety: every value reaches SQLite through bound parameters.
 *
 * 1. Round trips: hostile strings (quotes, SQL injection attempts, Korean,
 *    control bytes next to the terminating NUL, invalid UTF-8, printf and
 *    SQLite parameter syntax) go in as task names, doc ids, tags, paths,
 *    metric names and cache keys through every store entry point and come
 *    back byte for byte; the schema is untouched afterwards. The store API
 *    takes NUL-terminated strings, so a value cannot carry an embedded NUL;
 *    where lengths are used (the request hashes) NUL is the separator, and
 *    the split point must change the hash.
 * 2. An audit of the sources (harness/, reports/, store/, cli/, metrics/; run from the repo root):
 *    no SQL text is built with printf-style or string-builder interpolation,
 *    no SQLite printf (sqlite3_mprintf, ...) is used, and every SQL argument
 *    of sqlite3_prepare* / sqlite3_exec (and the store's wrappers,
 *    store/store_impl.h) is a string literal or a variable holding only
 *    literals. The one exception is store_schema.c's "PRAGMA user_version =
 *    %d": PRAGMA takes no parameters, and the value is a migration counter,
 *    not input. */
#include <dirent.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../store/store.h"
#include "../check.h"

static const char *const EVIL[] = {
    "'; DROP TABLE runs; --",
    "Robert'); DROP TABLE docs;--",
    "\"double\" 'single' `back` [bracket]",
    "' OR '1'='1",
    "한국어 과제: 수학 (고등학교) — ‘따옴표’",
    "\x01",
    "ctrl \x01\x02\x1f\x7f end\x01",
    "invalid utf-8 \xff\xfe\xc3",
    "printf %s %d %n %% %q %Q %w",
    "params ? ?1 :name @name $name",
    "back\\slash \\' \\\" newline\nreturn\rtab\t",
    "emoji 🙂 and 日本語",
    "",
};
#define N_EVIL ((int)(sizeof EVIL / sizeof EVIL[0]))

static char *tmp_db(void) {
    static int k;
    char *p = malloc(128);
    snprintf(p, 128, "/tmp/cj_test_sqlsafety_%d_%d.db", (int)getpid(), k++);
    unlink(p);
    return p;
}

static void rm_db(char *p) {
    char q[160];
    unlink(p);
    snprintf(q, sizeof q, "%s-wal", p);
    unlink(q);
    snprintf(q, sizeof q, "%s-shm", p);
    unlink(q);
    free(p);
}

/* The tables and indexes, as one string, to compare before and after. */
static char *schema(const char *path) {
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t n = 0;
    char *out = calloc(1, 1);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return out;
    }
    if (sqlite3_prepare_v2(db, "SELECT type || ' ' || name FROM sqlite_master ORDER BY name", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            size_t l = strlen(t);
            out = realloc(out, n + l + 2);
            memcpy(out + n, t, l);
            out[n + l] = ';';
            out[n + l + 1] = 0;
            n += l + 1;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

/* The value of tag key for run_id, read back with a bound query; NULL if none. */
static char *tag_value(const char *path, int64_t run_id, const char *key) {
    sqlite3 *db;
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    if (sqlite3_prepare_v2(db, "SELECT value FROM tags WHERE run_id = ?1 AND key = ?2", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            int len = sqlite3_column_bytes(st, 0);
            out = malloc((size_t)len + 1);
            memcpy(out, t ? t : "", (size_t)len);
            out[len] = 0;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

/* Every string field of a run, evil, back through store_run_get and
 * store_runs_each (which filters by the evil config hash). */
typedef struct {
    int n;
    int64_t id;
} found_runs;

static int count_run(const store_run *r, void *ctx) {
    found_runs *f = ctx;
    f->n++;
    f->id = r->id;
    return 0;
}

static void test_runs_round_trip(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    char *before = schema(p);
    int64_t ids[N_EVIL];
    for (int i = 0; i < N_EVIL; i++) {
        const char *v = EVIL[i], *w = EVIL[(i + 1) % N_EVIL];
        store_run r = {
            .model_path = v, .model_sha256 = w, .model_format = v, .model_arch = w, .model_params = 7,
            .model_dtype = v, .tokenizer = w, .tokenizer_sha256 = v, .tasks = w, .task_hashes = v,
            .data_hashes = w, .seed = 1, .threads = 1, .batch = 1, .shots = -1, .limit = 0,
            .harness_version = v, .git_commit = w, .host = v, .config_hash = v, .tags = w, .pid = 1,
        };
        CHECKF(store_run_insert(s, &r, &ids[i], &e) == 0, "%s", e.msg);
        CHECKF(store_tag_put(s, ids[i], v, w, &e) == 0, "%s", e.msg);
    }
    for (int i = 0; i < N_EVIL; i++) {
        const char *v = EVIL[i], *w = EVIL[(i + 1) % N_EVIL];
        store_run g;
        int found = 0;
        CHECK(store_run_get(s, ids[i], &g, &found, &e) == 0 && found);
        if (!found) continue;
        CHECK_STR(g.model_path, v);
        CHECK_STR(g.model_sha256, w);
        CHECK_STR(g.model_format, v);
        CHECK_STR(g.model_arch, w);
        CHECK_STR(g.model_dtype, v);
        CHECK_STR(g.tokenizer, w);
        CHECK_STR(g.tokenizer_sha256, v);
        CHECK_STR(g.tasks, w);
        CHECK_STR(g.task_hashes, v);
        CHECK_STR(g.data_hashes, w);
        CHECK_STR(g.harness_version, v);
        CHECK_STR(g.git_commit, w);
        CHECK_STR(g.host, v);
        CHECK_STR(g.config_hash, v);
        CHECK_STR(g.tags, w);
        CHECK_STR(g.status, "running");
        store_run_clear(&g);
        /* the evil config hash selects exactly its own run */
        found_runs f = {0, 0};
        CHECK(store_runs_each(s, v, count_run, &f, &e) == 0);
        CHECKF(f.n == 1 && f.id == ids[i], "config hash #%d matched %d runs", i, f.n);
        char *t = tag_value(p, ids[i], v);
        CHECK_STR(t, w);
        free(t);
        CHECK(store_run_set_status(s, ids[i], "done", &e) == 0);
        CHECK(store_run_claim(s, ids[i], 2, v, &e) == 0);
        CHECK(store_run_get(s, ids[i], &g, &found, &e) == 0 && found);
        CHECK_STR(g.host, v);
        store_run_clear(&g);
    }
    found_runs all = {0, 0};
    CHECK(store_runs_each(s, NULL, count_run, &all, &e) == 0);
    CHECK(all.n == N_EVIL);
    store_close(s);
    char *after = schema(p);
    CHECK_STR(after, before);
    free(before);
    free(after);
    rm_db(p);
}

/* docs, choices, latency, metrics and the request cache, keyed by evil names. */
typedef struct {
    const char *want;
    int n, same;
} seen;

static int doc_id_cb(const char *doc_id, void *ctx) {
    seen *x = ctx;
    x->n++;
    x->same += !strcmp(doc_id, x->want);
    return 0;
}

static int choice_cb(const store_choice_row *r, void *ctx) {
    seen *x = ctx;
    x->n++;
    x->same += !strcmp(r->doc_id, x->want) && r->choice_idx == x->n - 1;
    return 0;
}

static int metric_cb(const store_metric_row *m, void *ctx) {
    seen *x = ctx;
    if (!strcmp(m->task, x->want)) {
        x->n++;
        x->same += !strcmp(m->metric, x->want) && !strcmp(m->kind, "task") && m->value == 0.25 && m->n == 4;
    }
    return 0;
}

static void test_rows_round_trip(void) {
    char *p = tmp_db();
    store *s;
    cj_err e;
    CHECK(store_open(p, &s, &e) == 0);
    char *before = schema(p);
    int64_t id;
    store_run r = {.tasks = "[]", .config_hash = "x", .shots = -1};
    CHECK(store_run_insert(s, &r, &id, &e) == 0);
    CHECK(store_begin(s, &e) == 0);
    for (int i = 0; i < N_EVIL; i++) {
        const char *task = EVIL[i], *doc = EVIL[(i + 3) % N_EVIL];
        store_doc d = {.task = task, .doc_id = doc, .doc_hash = task, .prompt_hash = doc, .target = -1,
                       .target_text = task, .pred = 1};
        CHECKF(store_put_doc(s, id, &d, &e) == 0, "%s", e.msg);
        for (int c = 0; c < 2; c++) {
            store_choice ch = {.task = task, .doc_id = doc, .choice_idx = c, .logprob = -1.5 * c, .n_tokens = 1,
                               .n_chars = 1, .n_bytes = 1, .is_greedy = 0, .label = c, .n_words = -1};
            CHECKF(store_put_choice(s, id, &ch, &e) == 0, "%s", e.msg);
        }
        CHECKF(store_put_latency(s, id, task, doc, 3, 0, 0.5, &e) == 0, "%s", e.msg);
        CHECKF(store_put_metric(s, id, task, "task", task, 0.25, 0.1, 4, &e) == 0, "%s", e.msg);
        store_cached c = {-2.5, 3, 1};
        CHECKF(store_cache_put(s, task, doc, &c, &e) == 0, "%s", e.msg);
    }
    CHECK(store_commit(s, &e) == 0);
    for (int i = 0; i < N_EVIL; i++) {
        const char *task = EVIL[i], *doc = EVIL[(i + 3) % N_EVIL];
        seen x = {doc, 0, 0};
        CHECK(store_doc_ids_each(s, id, task, doc_id_cb, &x, &e) == 0);
        CHECKF(x.n == 1 && x.same == 1, "docs of task #%d: %d rows, %d equal", i, x.n, x.same);
        seen y = {doc, 0, 0};
        CHECK(store_choices_each(s, id, task, choice_cb, &y, &e) == 0);
        CHECKF(y.n == 2 && y.same == 2, "choices of task #%d: %d rows, %d equal", i, y.n, y.same);
        seen m = {task, 0, 0};
        CHECK(store_metrics_each(s, id, metric_cb, &m, &e) == 0);
        CHECKF(m.n == 1 && m.same == 1, "metrics of task #%d: %d rows, %d equal", i, m.n, m.same);
        store_cached got = {0, 0, 0};
        int found = 0;
        CHECK(store_cache_get(s, task, doc, &got, &found, &e) == 0);
        CHECKF(found && got.logprob == -2.5 && got.n_tokens == 3 && got.is_greedy == 1, "cache entry #%d", i);
        /* a key that only differs by a trailing byte is another key */
        char longer[256];
        snprintf(longer, sizeof longer, "%s\x01", doc);
        CHECK(store_cache_get(s, task, longer, &got, &found, &e) == 0 && !found);
    }
    store_close(s);
    char *after = schema(p);
    CHECK_STR(after, before);
    free(before);
    free(after);
    rm_db(p);
}

/* Where the store hashes with lengths, NUL separates the parts: moving the
 * split, or hashing the same bytes as another kind of request, changes it. */
static void test_hash_separators(void) {
    char a[65], b[65], c[65], d[65];
    store_request_hash("ab", "c", a);
    store_request_hash("a", "bc", b);
    CHECK(strcmp(a, b) != 0);
    store_request_hash("a\x01", "b", a);
    store_request_hash("a", "\x01" "b", b);
    CHECK(strcmp(a, b) != 0);
    store_rolling_hash("text", c);
    store_request_hash("rolling", "text", d);
    CHECK(strcmp(c, d) != 0);
    store_request_hash("", "", a);
    store_request_hash("", "\x01", b);
    CHECK(strcmp(a, b) != 0);
    CHECK(strlen(a) == 64 && strspn(a, "0123456789abcdef") == 64);
}

/* --- the source audit ------------------------------------------------------------ */

/* The source with comments removed (literals kept), malloc'd. */
static char *strip_comments(const char *src) {
    size_t n = strlen(src);
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        if (src[i] == '"' || src[i] == '\'') {
            char q = src[i];
            *o++ = src[i++];
            while (i < n && src[i] != q) {
                if (src[i] == '\\' && i + 1 < n) *o++ = src[i++];
                *o++ = src[i++];
            }
            if (i < n) *o++ = src[i++];
        } else if (src[i] == '/' && src[i + 1] == '*') {
            const char *end = strstr(src + i + 2, "*/");
            i = end ? (size_t)(end - src) + 2 : n;
            *o++ = ' ';
        } else if (src[i] == '/' && src[i + 1] == '/') {
            while (i < n && src[i] != '\n') i++;
        } else {
            *o++ = src[i++];
        }
    }
    *o = 0;
    return out;
}

static int is_ident(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* The arguments of the call whose '(' is at *p: top-level commas split them.
 * Writes up to max [start, end) pairs; returns how many. */
static int call_args(const char *p, const char **start, const char **end, int max) {
    int depth = 0, n = 0;
    const char *a = p + 1;
    for (const char *q = p; *q; q++) {
        if (*q == '"' || *q == '\'') {
            char c = *q;
            for (q++; *q && *q != c; q++)
                if (*q == '\\' && q[1]) q++;
            if (!*q) break;
            continue;
        }
        if (*q == '(') depth++;
        else if (*q == ')' && --depth == 0) {
            if (n < max) start[n] = a, end[n] = q;
            return n + 1;
        } else if (*q == ',' && depth == 1) {
            if (n < max) start[n] = a, end[n] = q;
            n++;
            a = q + 1;
        }
    }
    return n;
}

/* Concatenated contents of the string literals in [a, b). */
static void literals(const char *a, const char *b, char *out, size_t cap) {
    size_t o = 0;
    for (const char *q = a; q < b; q++) {
        if (*q != '"') continue;
        for (q++; q < b && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < b) q++;
            if (o + 1 < cap) out[o++] = *q;
        }
    }
    out[o] = 0;
}

static int has_sql_keyword(const char *s) {
    static const char *const kw[] = {"SELECT ", "INSERT ", "UPDATE ", "DELETE ", "PRAGMA ", "CREATE ",
                                     "DROP ",   "ATTACH ", "ALTER ",  "REPLACE ", " WHERE ", " VALUES"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strstr(s, kw[i])) return 1;
    return 0;
}

static int is_literal_expr(const char *a, const char *b) {
    while (a < b && (*a == ' ' || *a == '\n' || *a == '\t')) a++;
    /* a literal, a literal behind a macro (RUN_COLUMNS), or a choice between literals */
    if (*a == '"') return 1;
    if (*a >= 'A' && *a <= 'Z') return 1;
    for (const char *q = a; q < b; q++) {
        if (*q == '"') return 0;
        if (*q == '?') {
            for (q++; q < b && (*q == ' ' || *q == '\n'); q++) {}
            return q < b && *q == '"';
        }
    }
    return 0;
}

/* Every assignment "NAME = ..." in code assigns literals (or a choice of them). */
static int assigned_only_literals(const char *code, const char *name, char *why, size_t cap) {
    size_t l = strlen(name);
    for (const char *q = code; (q = strstr(q, name)); q += l) {
        if ((q > code && is_ident(q[-1])) || is_ident(q[l])) continue;
        const char *r = q + l;
        while (*r == ' ') r++;
        if (*r != '=' || r[1] == '=') continue;
        const char *end = strchr(r, ';');
        if (!end || !is_literal_expr(r + 1, end)) {
            snprintf(why, cap, "%.80s", q);
            return 0;
        }
    }
    return 1;
}

typedef struct {
    int files, calls, problems;
} audit;

static int audit_quiet; /* the self-test's findings are expected */

static void report(audit *a, const char *path, const char *code, const char *at, const char *what) {
    int line = 1;
    for (const char *q = code; q < at; q++) line += *q == '\n';
    if (!audit_quiet) printf("  %s:~%d: %s\n", path, line, what);
    a->problems++;
}

static void audit_file(audit *a, const char *path) {
    char *src;
    size_t len;
    cj_err e;
    if (cj_read_file(path, &src, &len, &e)) {
        printf("  %s\n", e.msg);
        a->problems++;
        return;
    }
    char *code = strip_comments(src);
    free(src);
    a->files++;
    /* printf-family and string builders whose literals hold SQL */
    static const char *const builders[] = {"snprintf", "sprintf",   "vsnprintf", "asprintf", "sb_printf",
                                           "sb_puts",  "sb_append", "strcat",    "strcpy"};
    static const char *const sqlite_printf[] = {"sqlite3_mprintf", "sqlite3_vmprintf", "sqlite3_snprintf",
                                                "sqlite3_str_appendf", "sqlite3_str_vappendf"};
    /* calls that take SQL, and which argument (0-based) is the SQL */
    static const struct {
        const char *name;
        int arg;
    } takers[] = {{"sqlite3_prepare_v2", 1}, {"sqlite3_prepare_v3", 1}, {"sqlite3_prepare", 1},
                  {"sqlite3_exec", 1},       {"store_prepare", 1},      {"store_exec", 1},
                  {"store_stmt_cached", 2}};
    char lit[4096];
    for (const char *q = code; *q; q++) {
        if (!is_ident(*q) || (q > code && is_ident(q[-1]))) continue;
        const char *w = q;
        while (is_ident(*q)) q++;
        size_t wl = (size_t)(q - w);
        const char *paren = q;
        while (*paren == ' ') paren++;
        int call = *paren == '(';
        for (size_t i = 0; i < sizeof sqlite_printf / sizeof sqlite_printf[0]; i++)
            if (wl == strlen(sqlite_printf[i]) && !strncmp(w, sqlite_printf[i], wl))
                report(a, path, code, w, "SQLite printf: build SQL with bound parameters instead");
        if (!call) {
            q--;
            continue;
        }
        const char *as[8], *ae[8];
        int na = call_args(paren, as, ae, 8);
        if (na < 1 || na > 8) {
            q--;
            continue;
        }
        for (size_t i = 0; i < sizeof builders / sizeof builders[0]; i++) {
            if (wl != strlen(builders[i]) || strncmp(w, builders[i], wl)) continue;
            literals(paren, ae[na - 1], lit, sizeof lit);
            if (!has_sql_keyword(lit) || !strcmp(lit, "PRAGMA user_version = %d")) continue;
            report(a, path, code, w,
                   strchr(lit, '%') ? "SQL text built with printf-style interpolation"
                                    : "SQL text assembled with a string builder");
        }
        for (size_t i = 0; i < sizeof takers / sizeof takers[0]; i++) {
            if (wl != strlen(takers[i].name) || strncmp(w, takers[i].name, wl)) continue;
            int k = takers[i].arg;
            if (na <= k) continue; /* another function of the same name */
            char argtext[128];
            snprintf(argtext, sizeof argtext, "%.*s", (int)(ae[k] - as[k] < 127 ? ae[k] - as[k] : 127), as[k]);
            if (strstr(argtext, "char")) continue; /* the wrapper's own definition */
            a->calls++;
            if (is_literal_expr(as[k], ae[k])) continue;
            const char *v = as[k];
            while (*v == ' ' || *v == '\n') v++;
            char name[64];
            size_t nl = 0;
            while (is_ident(v[nl]) && nl < sizeof name - 1) nl++;
            memcpy(name, v, nl);
            name[nl] = 0;
            char why[128];
            if (!strcmp(name, "pragma")) continue; /* store_migrate(): the user_version PRAGMA, checked above */
            if (!strcmp(name, "sql") && assigned_only_literals(code, "sql", why, sizeof why)) continue;
            if (!strcmp(name, "sql")) {
                report(a, path, code, w, why);
                continue;
            }
            /* the wrappers themselves pass their sql parameter on */
            report(a, path, code, w, "SQL argument is neither a literal nor a variable holding literals");
        }
        q--;
    }
    free(code);
}

static void audit_dir(audit *a, const char *dir) {
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s (run from the repository root)", dir);
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l < 3 || strcmp(ent->d_name + l - 2, ".c")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        audit_file(a, path);
    }
    closedir(d);
}

static void test_source_audit(void) {
    audit a = {0, 0, 0};
    audit_dir(&a, "harness");
    audit_dir(&a, "reports");
    audit_dir(&a, "store");
    audit_dir(&a, "cli");
    audit_dir(&a, "metrics");
    CHECKF(a.problems == 0, "%d places build SQL from values", a.problems);
    CHECKF(a.files >= 10 && a.calls >= 20, "audit saw only %d files, %d SQL calls", a.files, a.calls);
}

/* The audit itself catches what it is meant to catch. */
static void test_audit_catches(void) {
    const char *bad[] = {
        ("void f(sqlite3 *db, const char *t) { char q[99]; snprintf(q, 99, \"SELECT * FROM runs WHERE task = '%s'\", t);"
         " sqlite3_exec(db, q, 0, 0, 0); }"),
        "void f(sqlite3 *db, const char *t) { char *q = sqlite3_mprintf(\"DELETE FROM runs WHERE id=%q\", t); }",
        "void f(sb *b, const char *t) { sb_puts(b, \"SELECT x FROM docs WHERE task = '\"); sb_puts(b, t); }",
        "void f(sqlite3 *db, sqlite3_stmt **st, char *buf) { sqlite3_prepare_v2(db, buf, -1, st, 0); }",
    };
    char path[] = "/tmp/cj_test_sqlsafety_audit_XXXXXX.c";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = mkstemps(path, 2);
        CHECK(fd >= 0);
        if (fd < 0) return;
        CHECK(write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]));
        close(fd);
        audit a = {0, 0, 0};
        audit_quiet = 1;
        audit_file(&a, path);
        audit_quiet = 0;
        CHECKF(a.problems > 0, "the audit missed bad example %zu", i);
        unlink(path);
        memcpy(path + strlen(path) - 8, "XXXXXX", 6);
    }
}

int main(void) {
    RUN(test_runs_round_trip);
    RUN(test_rows_round_trip);
    RUN(test_hash_separators);
    RUN(test_source_audit);
    RUN(test_audit_catches);
    return check_summary_();
}
