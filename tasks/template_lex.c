/* template_lex — the scanning level of the template parser: blanks, names,
 * string and integer literals, and syntax errors that point at a column.
 * Apart from the grammar so that the parser reads items, not characters;
 * Jinja's block tags, comments and whitespace control will be scanned here. */
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

int tpl_lex_int(tpl_parser *p, int neg, json_t **out) {
    json_int_t v = 0;
    if (p->s[p->pos] < '0' || p->s[p->pos] > '9') return tpl_lex_fail(p, "expected a number");
    while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        int d = p->s[p->pos++] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, neg ? -d : d, &v))
            return tpl_lex_fail(p, "integer out of range");
    }
    *out = json_integer(v);
    return 0;
}
