/* listlit — fields that hold a list written as text, parsed into a JSON list
 * (dataset.h: ds_list_fields). Some datasets store a doc's choices in one
 * CSV column as a Python literal (`['a', 'b']`, what str() of a list
 * prints) or as JSON (`["a", "b"]`).
 *
 * A value that parses as a JSON array is taken as JSON. Anything else must
 * be a Python list literal, as ast.literal_eval reads it: items are strings
 * ('...' or "...", with Python's escapes: \\ \' \" \n \t \r \a \b \f \v \0,
 * \xHH, \uXXXX, \UXXXXXXXX, \ooo; an unknown escape keeps its backslash),
 * integers and floats (kept as JSON numbers), True, False, None and nested
 * lists, separated by commas (a trailing comma allowed). Escapes that make
 * an invalid code point (a lone surrogate) are an error, since the text must
 * stay UTF-8. Errors name the file, the doc and the field, and the byte
 * offset in the value. Ownership: fields are replaced in place; nothing is
 * left allocated on failure beyond the docs the caller owns. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "dataset.h"
#include "ds_text.h"

#define MAX_DEPTH 32

typedef struct {
    const char *s;
    size_t n, i;
    const char *err; /* static message; NULL while fine */
} lit;

static void skip_ws(lit *p) {
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) && p->s[p->i]) p->i++;
}

static json_t *fail(lit *p, const char *msg) {
    if (!p->err) p->err = msg;
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads `digits` hex digits at p->i into *cp. */
static int read_hex(lit *p, int digits, unsigned long *cp) {
    *cp = 0;
    for (int k = 0; k < digits; k++) {
        int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
        if (h < 0) return -1;
        *cp = *cp * 16 + (unsigned long)h;
        p->i++;
    }
    return 0;
}

static void put_utf8(sb *b, unsigned long cp) {
    if (cp < 0x80) sb_putc(b, (char)cp);
    else if (cp < 0x800) {
        sb_putc(b, (char)(0xC0 | (cp >> 6)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sb_putc(b, (char)(0xE0 | (cp >> 12)));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        sb_putc(b, (char)(0xF0 | (cp >> 18)));
        sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* One escape after the backslash (p->i at the character after it). */
static int read_escape(lit *p, sb *b) {
    static const char simple_in[] = "\\'\"ntrabfv\n", simple_out[] = "\\'\"\n\t\r\a\b\f\v";
    char c = p->s[p->i++];
    const char *k = strchr(simple_in, c);
    if (k && c) {
        if (c != '\n') sb_putc(b, simple_out[k - simple_in]); /* backslash-newline continues the line */
        return 0;
    }
    unsigned long cp;
    if (c == 'x' || c == 'u' || c == 'U') {
        if (read_hex(p, c == 'x' ? 2 : c == 'u' ? 4 : 8, &cp)) return -1;
    } else if (c >= '0' && c <= '7') {
        cp = (unsigned long)(c - '0');
        for (int d = 0; d < 2 && p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '7'; d++)
            cp = cp * 8 + (unsigned long)(p->s[p->i++] - '0');
    } else {
        sb_putc(b, '\\'); /* Python keeps an unknown escape as written */
        p->i--;
        return 0;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) return -1;
    put_utf8(b, cp);
    return 0;
}

static json_t *read_string(lit *p) {
    char q = p->s[p->i++];
    sb b;
    sb_init(&b);
    while (p->i < p->n && p->s[p->i] != q) {
        char c = p->s[p->i++];
        if (c == '\n') break;
        if (c != '\\') sb_putc(&b, c);
        else if (p->i >= p->n || read_escape(p, &b)) {
            sb_free(&b);
            return fail(p, "bad escape in a string");
        }
    }
    if (p->i >= p->n || p->s[p->i] != q) {
        sb_free(&b);
        return fail(p, "unterminated string");
    }
    p->i++;
    json_t *v = json_stringn_nocheck(b.s ? b.s : "", b.len);
    sb_free(&b);
    return v ? v : fail(p, "out of memory");
}

static json_t *read_number(lit *p) {
    size_t st = p->i;
    while (p->i < p->n && (isalnum((unsigned char)p->s[p->i]) || strchr("+-._", p->s[p->i]))) p->i++;
    char buf[64];
    size_t len = p->i - st;
    if (len == 0 || len >= sizeof buf) return fail(p, "expected a string, a number, True, False, None or a list");
    memcpy(buf, p->s + st, len);
    buf[len] = 0;
    if (!strcmp(buf, "True")) return json_true();
    if (!strcmp(buf, "False")) return json_false();
    if (!strcmp(buf, "None")) return json_null();
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (*end == 0 && strchr(buf, '_') == NULL) return json_integer(x);
    double d = strtod(buf, &end);
    if (*end == 0 && strchr(buf, '_') == NULL && !strpbrk(buf, "xXnN")) return json_real(d);
    return fail(p, "expected a string, a number, True, False, None or a list");
}

static json_t *read_value(lit *p, int depth);

static json_t *read_list(lit *p, int depth) {
    if (depth > MAX_DEPTH) return fail(p, "lists nested too deep");
    p->i++; /* '[' */
    json_t *a = json_array();
    for (;;) {
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return a;
        }
        json_t *v = read_value(p, depth + 1);
        if (!v) break;
        json_array_append_new(a, v);
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') p->i++;
        else if (p->i >= p->n || p->s[p->i] != ']') {
            fail(p, "expected ',' or ']'");
            break;
        }
    }
    json_decref(a);
    return NULL;
}

static json_t *read_value(lit *p, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '[') return read_list(p, depth);
    if (c == '\'' || c == '"') return read_string(p);
    return read_number(p);
}

/* The list held by text s[0, n), or NULL with *err and *at set. */
static json_t *parse_list_literal(const char *s, size_t n, const char **err, size_t *at) {
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &je);
    if (json_is_array(j)) return j;
    json_decref(j);
    lit p = {s, n, 0, NULL};
    skip_ws(&p);
    json_t *v = p.i < n && s[p.i] == '[' ? read_list(&p, 0) : fail(&p, "expected a list starting with '['");
    if (v) {
        skip_ws(&p);
        if (p.i < n) {
            json_decref(v);
            v = fail(&p, "text after the list");
        }
    }
    *err = p.err;
    *at = p.i;
    return v;
}

int ds_list_fields(const char *name, json_t *docs, const char *const *fields, int n_fields, cj_err *e) {
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc) {
        for (int f = 0; f < n_fields; f++) {
            json_t *v = json_object_get(doc, fields[f]);
            if (!v) return cj_fail(e, "%s: doc %zu: no field '%s' (dataset.list_fields)", name, i, fields[f]);
            if (json_is_array(v)) continue; /* JSON files may hold real lists already */
            if (!json_is_string(v))
                return cj_fail(e, "%s: doc %zu: field '%s' is not a list literal", name, i, fields[f]);
            const char *err = NULL;
            size_t at = 0;
            json_t *l = parse_list_literal(json_string_value(v), json_string_length(v), &err, &at);
            if (!l) {
                const char *s = json_string_value(v);
                int k = ds_snip(s, json_string_length(v), 60);
                return cj_fail(e, "%s: doc %zu: field '%s': %s at offset %zu in \"%.*s\"", name, i, fields[f],
                               err ? err : "not a list", at, k, s);
            }
            ds_xcheck(json_object_set_new_nocheck(doc, fields[f], l));
        }
    }
    return 0;
}
