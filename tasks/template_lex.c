/* template_lex — the scanning level of the template engine: the tags of a
 * template's source with Jinja's whitespace control ({{- -}}, {%- -%},
 * {%+, trim_blocks, lstrip_blocks, comments), and inside a tag the blanks,
 * names, literals and operators of an expression, with syntax errors that
 * point at a column. Apart from the grammar so that the parser reads items,
 * not characters. */
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

void tpl_lex_skip_ws(tpl_parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r') p->pos++;
}

int tpl_lex_peek(tpl_parser *p, char c) {
    tpl_lex_skip_ws(p);
    return p->s[p->pos] == c;
}

static int is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

int tpl_lex_op(tpl_parser *p, const char *op) {
    tpl_lex_skip_ws(p);
    size_t n = strlen(op);
    if (strncmp(p->s + p->pos, op, n)) return 0;
    p->pos += n;
    return 1;
}

int tpl_lex_kw(tpl_parser *p, const char *kw) {
    tpl_lex_skip_ws(p);
    size_t n = strlen(kw);
    if (strncmp(p->s + p->pos, kw, n) || is_ident(p->s[p->pos + n])) return 0;
    p->pos += n;
    return 1;
}

int tpl_lex_fail(tpl_parser *p, const char *what) {
    const char *at = p->s + p->pos;
    if (*at) return cj_fail(p->e, "syntax error at column %zu: %s, found '%.12s'", p->pos + 1, what, at);
    return cj_fail(p->e, "syntax error at column %zu: %s, found the end", p->pos + 1, what);
}

char *tpl_lex_ident(tpl_parser *p) {
    tpl_lex_skip_ws(p);
    if (!is_ident_start(p->s[p->pos])) return NULL;
    size_t start = p->pos;
    while (is_ident(p->s[p->pos])) p->pos++;
    return cj_xstrndup(p->s + start, p->pos - start);
}

int tpl_lex_string(tpl_parser *p, json_t **out) {
    char q = p->s[p->pos++];
    sb b;
    sb_init(&b);
    for (;;) {
        char c = p->s[p->pos];
        if (!c) {
            sb_free(&b);
            return tpl_lex_fail(p, "unterminated string");
        }
        p->pos++;
        if (c == q) break;
        if (c == '\\') {
            char x = p->s[p->pos++];
            switch (x) {
            case 'n': sb_putc(&b, '\n'); break;
            case 't': sb_putc(&b, '\t'); break;
            case 'r': sb_putc(&b, '\r'); break;
            case '\\':
            case '\'':
            case '"': sb_putc(&b, x); break;
            default:
                sb_free(&b);
                p->pos--;
                return tpl_lex_fail(p, "unknown escape in string");
            }
        } else sb_putc(&b, c);
    }
    *out = json_stringn(b.s, b.len);
    sb_free(&b);
    return *out ? 0 : tpl_lex_fail(p, "string is not valid UTF-8");
}

int tpl_lex_number(tpl_parser *p, int neg, json_t **out) {
    json_int_t v = 0;
    size_t start = p->pos;
    if (p->s[p->pos] < '0' || p->s[p->pos] > '9') return tpl_lex_fail(p, "expected a number");
    while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        int d = p->s[p->pos++] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, neg ? -d : d, &v))
            return tpl_lex_fail(p, "integer out of range");
    }
    if (p->s[p->pos] == '.' && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9') {
        char *end;
        double d = strtod(p->s + start, &end);
        p->pos = (size_t)(end - p->s);
        *out = json_real(neg ? -d : d);
        return 0;
    }
    *out = json_integer(v);
    return 0;
}

/* ---------- the tags of a template ---------- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* The end of the tag whose inside starts at i: the offset of its closing
 * "}}" or "%}" (close), strings skipped; -1 when it never closes. */
static int find_close(tpl_scanner *sc, size_t i, char close, size_t *at, cj_err *e) {
    while (i < sc->len) {
        char c = sc->s[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < sc->len && sc->s[j] != c) j += sc->s[j] == '\\' ? 2 : 1;
            if (j >= sc->len) return cj_fail(e, "syntax error at offset %zu: unterminated string", i + 1);
            i = j + 1;
            continue;
        }
        if (c == close && i + 1 < sc->len && sc->s[i + 1] == '}') {
            *at = i;
            return 0;
        }
        i++;
    }
    return cj_fail(e, "syntax error at the end: expected '%c}'", close);
}

/* The text [*a, *b) before a tag loses what the tag's whitespace control
 * asks for: all trailing blanks ('-'), or under lstrip_blocks the blanks
 * between the line's start and a block tag. */
static void strip_before(tpl_scanner *sc, size_t *a, size_t *b, char kind, char mark) {
    if (mark == '-') {
        while (*b > *a && is_blank(sc->s[*b - 1])) (*b)--;
        return;
    }
    if (mark == '+' || !sc->lstrip_blocks || kind == '{') return;
    size_t l = *b;
    while (l > *a && sc->s[l - 1] != '\n') l--;
    int line_start = l > *a || *a == 0 || sc->s[*a - 1] == '\n';
    if (!line_start || l == *b) return;
    for (size_t i = l; i < *b; i++)
        if (!is_blank(sc->s[i])) return;
    *b = l;
}

int tpl_scan(tpl_scanner *sc, tpl_seg *seg, cj_err *e) {
    for (;;) {
        if (sc->has_pending) {
            sc->has_pending = 0;
            *seg = sc->pending;
            return 0;
        }
        size_t a = sc->pos;
        if (sc->strip_next)
            while (a < sc->len && is_blank(sc->s[a])) a++;
        sc->strip_next = 0;
        size_t open = a;
        while (open + 1 < sc->len &&
               !(sc->s[open] == '{' && (sc->s[open + 1] == '{' || sc->s[open + 1] == '%' || sc->s[open + 1] == '#')))
            open++;
        if (open + 1 >= sc->len) {
            sc->pos = sc->len;
            seg->kind = a < sc->len ? SEG_TEXT : SEG_END;
            seg->start = a, seg->end = sc->len;
            return 0;
        }
        char kind = sc->s[open + 1];
        size_t in = open + 2;
        char mark = sc->s[in];
        /* In task templates "{{-3}}" is minus three, as it always was. */
        if (mark == '-' && kind == '{' && !sc->trim_blocks && sc->s[in + 1] >= '0' && sc->s[in + 1] <= '9') mark = 0;
        if (mark == '-' || mark == '+') in++;
        else mark = 0;
        size_t close = 0;
        if (kind == '#') {
            const char *c = strstr(sc->s + in, "#}");
            if (!c) return cj_fail(e, "syntax error at the end: unclosed comment");
            close = (size_t)(c - sc->s);
        } else if (find_close(sc, in, kind == '{' ? '}' : '%', &close, e))
            return -1;
        size_t b = open;
        strip_before(sc, &a, &b, kind, mark);
        char end_mark = close > in && (sc->s[close - 1] == '-' || sc->s[close - 1] == '+') ? sc->s[close - 1] : 0;
        sc->pos = close + 2;
        if (end_mark == '-') sc->strip_next = 1;
        else if (end_mark != '+' && sc->trim_blocks && kind != '{') {
            if (sc->s[sc->pos] == '\n') sc->pos++;
            else if (sc->s[sc->pos] == '\r' && sc->s[sc->pos + 1] == '\n') sc->pos += 2;
        }
        if (kind != '#') {
            sc->pending.kind = kind == '{' ? SEG_VAR : SEG_BLOCK;
            sc->pending.start = in;
            sc->pending.end = end_mark ? close - 1 : close;
            sc->has_pending = 1;
        }
        if (b > a) {
            seg->kind = SEG_TEXT;
            seg->start = a, seg->end = b;
            return 0;
        }
    }
}
