#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "ds_text.h"

typedef struct {
    const char *name; /* for messages */
    const char *buf;  /* the whole input, len bytes, valid UTF-8 */
    size_t len;
    size_t pos;       /* next byte to read */
    long line;        /* physical line of buf[pos], from 1 */
    sb text;          /* the current record's field values, back to back */
    size_t *span;     /* [2 * cap]: field i is text.s[span[2i]], span[2i + 1] bytes */
    size_t n, cap;    /* fields in the current record; capacity in fields */
    char delim;       /* between fields */
    int quoting;      /* 0: '"' is an ordinary character */
    unsigned char ends_field[256]; /* the delimiter and line breaks */
} csv_reader;

static void reader_init(csv_reader *r, const char *name, const char *buf, size_t len, const ds_csv_opts *o) {
    memset(r, 0, sizeof *r);
    r->name = name;
    r->buf = buf;
    r->len = len;
    r->line = 1;
    r->delim = o->delimiter ? o->delimiter : ',';
    r->quoting = !o->no_quoting;
    r->ends_field[(unsigned char)r->delim] = r->ends_field['\n'] = r->ends_field['\r'] = 1;
    sb_init(&r->text);
}

static void reader_free(csv_reader *r) {
    sb_free(&r->text);
    free(r->span);
}

static void push_field(csv_reader *r, size_t start) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->span = cj_xrealloc(r->span, r->cap * 2 * sizeof *r->span);
    }
    r->span[2 * r->n] = start;
    r->span[2 * r->n + 1] = r->text.len - start;
    r->n++;
}

/* Appends a quoted field's contents to r->text; r->pos is just past the
 * opening quote. Leaves r->pos just past the closing quote. */
static int read_quoted(csv_reader *r, cj_err *e) {
    long open_line = r->line;
    for (;;) {
        const char *p = r->buf + r->pos;
        const char *q = memchr(p, '"', r->len - r->pos);
        if (!q) return cj_fail(e, "%s:%ld: unterminated quoted field", r->name, open_line);
        size_t run = (size_t)(q - p);
        r->line += ds_count_breaks(p, run);
        sb_putn(&r->text, p, run);
        r->pos += run + 1;
        if (r->pos < r->len && r->buf[r->pos] == '"') { /* "" is one quote */
            sb_putc(&r->text, '"');
            r->pos++;
            continue;
        }
        return 0;
    }
}

/* Reads the next record into r->text / r->span. Returns 1 if one was read,
 * 0 at the end of input, -1 on error. *start_line is where it begins. */
static int read_record(csv_reader *r, long *start_line, cj_err *e) {
    size_t b;
    while (r->pos < r->len && (b = ds_break_len(r->buf, r->len, r->pos)) > 0) { /* empty lines */
        r->pos += b;
        r->line++;
    }
    if (r->pos == r->len) return 0;
    *start_line = r->line;
    sb_clear(&r->text);
    r->n = 0;
    for (;;) {
        size_t start = r->text.len;
        if (r->quoting && r->pos < r->len && r->buf[r->pos] == '"') {
            r->pos++;
            if (read_quoted(r, e) != 0) return -1;
        } else {
            size_t i = r->pos;
            while (i < r->len && !r->ends_field[(unsigned char)r->buf[i]]) i++;
            sb_putn(&r->text, r->buf + r->pos, i - r->pos);
            r->pos = i;
        }
        push_field(r, start);
        if (r->pos == r->len) return 1;
        char c = r->buf[r->pos];
        if (c == r->delim) {
            r->pos++;
            continue;
        }
        b = ds_break_len(r->buf, r->len, r->pos);
        if (b == 0) {
            const char *p = r->buf + r->pos;
            int k = (int)ds_utf8_seq((const unsigned char *)p, r->len - r->pos);
            return cj_fail(e, "%s:%ld: unexpected '%.*s' after a closing quote (write a quote inside a quoted "
                           "field as \"\", or set \"quoting\": false)", r->name, r->line, k, p);
        }
        r->pos += b;
        r->line++;
        return 1;
    }
}

/* Fails on a repeated column name (line > 0: the header row's line). */
static int check_names(const char *name, const char *const *names, size_t n, long line, cj_err *e) {
    json_t *set = ds_xjson(json_object()); /* used as a hash set: linear in n */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (json_object_get(set, names[i])) {
            int k = ds_snip(names[i], strlen(names[i]), 80);
            if (line > 0) rc = cj_fail(e, "%s:%ld: duplicate column name \"%.*s\"", name, line, k, names[i]);
            else rc = cj_fail(e, "%s: duplicate column name \"%.*s\"", name, k, names[i]);
        } else {
            ds_xcheck(json_object_set_new_nocheck(set, names[i], json_null()));
        }
    }
    json_decref(set);
    return rc;
}

/* Copies the current record's fields as NUL-terminated names (caller frees
 * each and the array). Field values hold no NUL: the input was checked. */
static char **take_names(const csv_reader *r) {
    char **names = cj_xcalloc(r->n, sizeof *names);
    for (size_t i = 0; i < r->n; i++) names[i] = cj_xstrndup(r->text.s + r->span[2 * i], r->span[2 * i + 1]);
    return names;
}

static json_t *record_object(const csv_reader *r, const char *const *names) {
    json_t *o = ds_xjson(json_object());
    for (size_t i = 0; i < r->n; i++) {
        json_t *v = ds_xjson(json_stringn_nocheck(r->text.s + r->span[2 * i], r->span[2 * i + 1]));
        ds_xcheck(json_object_set_new_nocheck(o, names[i], v));
    }
    return o;
}

static int parse_records(csv_reader *r, const char *const *names, size_t n_names, json_t *docs, cj_err *e) {
    long line = 0;
    int rc;
    while ((rc = read_record(r, &line, e)) == 1) {
        if (r->n != n_names)
            return cj_fail(e, "%s:%ld: expected %zu columns, found %zu", r->name, line, n_names, r->n);
        ds_xcheck(json_array_append_new(docs, record_object(r, names)));
    }
    return rc;
}

int csv_parse(const char *name, const char *buf, size_t len, const ds_csv_opts *opts, json_t **docs, cj_err *e) {
    *docs = NULL;
    if (ds_text_check(name, buf, len, e) != 0) return -1;
    csv_reader r;
    reader_init(&r, name, buf, len, opts);
    json_t *out = ds_xjson(json_array());
    char **owned = NULL;
    const char *const *names = NULL;
    size_t n_names = 0;
    int rc = -1;
    if (opts->header) {
        long line = 0;
        int got = read_record(&r, &line, e);
        if (got == 0) cj_fail(e, "%s: empty file, expected a header row", name);
        if (got != 1) goto done;
        owned = take_names(&r);
        names = (const char *const *)owned;
        n_names = r.n;
        if (check_names(name, names, n_names, line, e) != 0) goto done;
    } else {
        if (!opts->columns || opts->n_columns <= 0) {
            cj_fail(e, "%s: a CSV file without a header row needs column names", name);
            goto done;
        }
        names = opts->columns;
        n_names = (size_t)opts->n_columns;
        if (check_names(name, names, n_names, 0, e) != 0) goto done;
    }
    rc = parse_records(&r, names, n_names, out, e);
done:
    if (owned) {
        for (size_t i = 0; i < n_names; i++) free(owned[i]);
        free(owned);
    }
    reader_free(&r);
    if (rc != 0) {
        json_decref(out);
        return -1;
    }
    *docs = out;
    return 0;
}
