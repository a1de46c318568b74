/* template_parse — the expression grammar of the template engine, Jinja's:
 * conditional "a if c else b", or / and / not, comparisons and "in",
 * "~" and arithmetic, unary minus, then the postfix chain of fields,
 * indexes, slices, calls, filters and "is" tests over literals (strings,
 * numbers, lists, tuples, dicts, true / false / none) and names.
 * Recursive descent over the items template_lex.c scans. Filter and method
 * names are resolved, and their arity checked, here, so that a misspelt or
 * misused function fails when the template loads, not when a doc is
 * rendered. Depth-limited, so that a hostile template cannot exhaust the
 * stack. */
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

/* Depth of an expression tree: nesting, and each operator or postfix item
 * that wraps what came before it. */
#define TPL_MAX_DEPTH 128

void tpl_node_free(tpl_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n_kids; i++) {
        tpl_node_free(n->kids[i]);
        if (n->kwnames) free(n->kwnames[i]);
    }
    free(n->kids);
    free(n->kwnames);
    free(n->name);
    json_decref(n->lit);
    free(n);
}

static tpl_node *node_new(tpl_kind k) {
    tpl_node *n = cj_xcalloc(1, sizeof *n);
    n->kind = k;
    return n;
}

tpl_node *tpl_node_lit(json_t *v) {
    tpl_node *n = node_new(TPL_LIT);
    n->lit = v;
    return n;
}

static void node_add(tpl_node *n, tpl_node *kid) {
    n->kids = cj_xrealloc(n->kids, (size_t)(n->n_kids + 1) * sizeof *n->kids);
    n->kids[n->n_kids++] = kid;
}

static tpl_node *node2(tpl_kind k, tpl_node *a, tpl_node *b) {
    tpl_node *n = node_new(k);
    node_add(n, a);
    node_add(n, b);
    return n;
}

/* The lexer's error, as a NULL tree. */
static tpl_node *fail_at(tpl_parser *p, const char *what) {
    tpl_lex_fail(p, what);
    return NULL;
}

/* Consumes the c that closes n; NULL, with n freed, when it is missing. */
static tpl_node *close_with(tpl_parser *p, tpl_node *n, char c, const char *what) {
    if (!tpl_lex_peek(p, c)) {
        tpl_node_free(n);
        return fail_at(p, what);
    }
    p->pos++;
    return n;
}

/* Counts one more level of the tree being built (tpl_parse_expr restores
 * the count when it returns); NULL, with n freed, beyond TPL_MAX_DEPTH. */
static tpl_node *deeper(tpl_parser *p, tpl_node *n) {
    if (++p->depth <= TPL_MAX_DEPTH) return n;
    tpl_node_free(n);
    return fail_at(p, "expression nested too deeply");
}

/* "name=" at p->pos: the keyword, consumed; NULL otherwise. */
static char *keyword_arg(tpl_parser *p) {
    size_t save = p->pos;
    char *id = tpl_lex_ident(p);
    if (id && tpl_lex_peek(p, '=') && p->s[p->pos + 1] != '=') {
        p->pos++;
        return id;
    }
    free(id);
    p->pos = save;
    return NULL;
}

/* The arguments "(a, k=b)" after the '(' of call c; keywords go to names
 * (one per argument, NULL for positional ones). */
static int parse_args(tpl_parser *p, tpl_node *c, char ***names) {
    int n = 0;
    if (!tpl_lex_peek(p, ')')) {
        for (;;) {
            char *kw = keyword_arg(p);
            tpl_node *a = tpl_parse_expr(p);
            if (!a) {
                free(kw);
                return -1;
            }
            node_add(c, a);
            *names = cj_xrealloc(*names, (size_t)(n + 1) * sizeof **names);
            (*names)[n++] = kw;
            if (!tpl_lex_peek(p, ',')) break;
            p->pos++;
        }
        if (!tpl_lex_peek(p, ')')) return tpl_lex_fail(p, "expected ',' or ')'");
    }
    p->pos++;
    return 0;
}

/* The position of keyword kw among f's parameters, or -1. */
static int param_index(const tpl_fn *f, const char *kw) {
    if (!f->params) return -1;
    const char *s = f->params;
    size_t n = strlen(kw);
    for (int i = 0; *s; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == n && !strncmp(s, kw, n)) return i;
        if (!comma) break;
        s = comma + 1;
    }
    return -1;
}

static int arity_fail(tpl_parser *p, const tpl_fn *f, int nargs) {
    if (f->min_args == f->max_args)
        return cj_fail(p->e, "template function '%s' takes %d argument%s, got %d", f->name, f->min_args,
                       f->min_args == 1 ? "" : "s", nargs);
    return cj_fail(p->e, "template function '%s' takes %d to %d arguments, got %d", f->name, f->min_args,
                   f->max_args, nargs);
}

/* Puts the parsed arguments of c (kids after the subject) at their
 * parameters' positions, and checks that the required ones are there. */
static int place_args(tpl_parser *p, tpl_node *c, char **names) {
    const tpl_fn *f = c->fn;
    int nargs = c->n_kids - 1;
    tpl_node *slot[TPL_MAX_ARGS] = {0};
    int rc = 0, npos = 0;
    for (int i = 0; i < nargs; i++) {
        int at = names && names[i] ? param_index(f, names[i]) : npos++;
        if (names && names[i] && at < 0) rc = cj_fail(p->e, "template function '%s' has no argument '%s'", f->name, names[i]);
        else if (!rc && at >= f->max_args) rc = arity_fail(p, f, npos);
        else if (!rc && slot[at]) rc = cj_fail(p->e, "template function '%s': argument %d given twice", f->name, at + 1);
        if (rc) break;
        slot[at] = c->kids[i + 1];
        c->kids[i + 1] = NULL;
    }
    for (int i = 0; !rc && i < f->min_args; i++)
        if (!slot[i]) rc = arity_fail(p, f, npos);
    if (names)
        for (int i = 0; i < nargs; i++) free(names[i]);
    free(names);
    for (int i = 0; i < nargs; i++) tpl_node_free(c->kids[i + 1]);
    c->n_kids = 1;
    for (int i = 0; i < f->max_args; i++) {
        if (rc) tpl_node_free(slot[i]);
        else node_add(c, slot[i]);
    }
    return rc;
}

/* The call of function name (taken) on subject (taken), with its
 * arguments if a '(' follows. */
static tpl_node *parse_call(tpl_parser *p, tpl_node *subject, char *name) {
    const tpl_fn *f = tpl_fn_find(name);
    if (!f) cj_fail(p->e, "unknown template function '%s'", name);
    free(name);
    if (!f) {
        tpl_node_free(subject);
        return NULL;
    }
    tpl_node *c = node_new(TPL_CALL);
    c->fn = f;
    node_add(c, subject);
    char **names = NULL;
    if (tpl_lex_peek(p, '(')) {
        p->pos++;
        if (parse_args(p, c, &names)) {
            for (int i = 0; i < c->n_kids - 1; i++) free(names[i]);
            free(names);
            tpl_node_free(c);
            return NULL;
        }
    }
    if (place_args(p, c, names)) {
        tpl_node_free(c);
        return NULL;
    }
    return c;
}

/* Items up to the closing character, after the opening one; a trailing
 * comma is allowed. Dict items are "key: value" pairs. */
static tpl_node *parse_items(tpl_parser *p, tpl_kind k, char close) {
    tpl_node *l = node_new(k);
    while (!tpl_lex_peek(p, close)) {
        tpl_node *it = tpl_parse_expr(p);
        if (it && k == TPL_DICT) {
            node_add(l, it);
            it = tpl_lex_op(p, ":") ? tpl_parse_expr(p) : fail_at(p, "expected ':'");
        }
        if (!it) {
            tpl_node_free(l);
            return NULL;
        }
        node_add(l, it);
        if (!tpl_lex_peek(p, ',')) break;
        p->pos++;
    }
    return close_with(p, l, close, close == ']' ? "expected ',' or ']'" : close == '}' ? "expected ',' or '}'" : "expected ')'");
}

/* "( expr )" or a tuple "(a, b)", after the '('. */
static tpl_node *parse_paren(tpl_parser *p) {
    if (tpl_lex_peek(p, ')')) {
        p->pos++;
        return node_new(TPL_LIST);
    }
    tpl_node *n = tpl_parse_expr(p);
    if (!n || !tpl_lex_peek(p, ',')) return n ? close_with(p, n, ')', "expected ')'") : NULL;
    p->pos++;
    tpl_node *t = parse_items(p, TPL_LIST, ')');
    if (!t) {
        tpl_node_free(n);
        return NULL;
    }
    node_add(t, NULL);
    memmove(t->kids + 1, t->kids, (size_t)(t->n_kids - 1) * sizeof *t->kids);
    t->kids[0] = n;
    return t;
}

static tpl_node *parse_name(tpl_parser *p) {
    char *id = tpl_lex_ident(p);
    if (!id) return fail_at(p, "expected a field, a literal or '('");
    json_t *v = NULL;
    if (!strcmp(id, "true") || !strcmp(id, "True")) v = json_true();
    else if (!strcmp(id, "false") || !strcmp(id, "False")) v = json_false();
    else if (!strcmp(id, "none") || !strcmp(id, "None")) v = json_null();
    if (v) {
        free(id);
        return tpl_node_lit(v);
    }
    tpl_node *n = node_new(TPL_FIELD);
    n->name = id;
    return n;
}

/* A string literal, joined with the string literals right after it. */
static tpl_node *parse_strings(tpl_parser *p) {
    json_t *v;
    if (tpl_lex_string(p, &v)) return NULL;
    while (tpl_lex_peek(p, '\'') || tpl_lex_peek(p, '"')) {
        json_t *w;
        if (tpl_lex_string(p, &w)) {
            json_decref(v);
            return NULL;
        }
        sb b;
        sb_init(&b);
        sb_putn(&b, json_string_value(v), json_string_length(v));
        sb_putn(&b, json_string_value(w), json_string_length(w));
        json_decref(v);
        json_decref(w);
        v = json_stringn(b.s, b.len);
        sb_free(&b);
    }
    return tpl_node_lit(v);
}

static tpl_node *parse_primary(tpl_parser *p) {
    tpl_lex_skip_ws(p);
    char c = p->s[p->pos];
    json_t *v;
    if (c == '\'' || c == '"') return parse_strings(p);
    if (c >= '0' && c <= '9') return tpl_lex_number(p, 0, &v) ? NULL : tpl_node_lit(v);
    p->pos++;
    if (c == '(') return parse_paren(p);
    if (c == '[') return parse_items(p, TPL_LIST, ']');
    if (c == '{') return parse_items(p, TPL_DICT, '}');
    p->pos--;
    return parse_name(p);
}

/* After "n.": a field of n, or the method call n.f(args). */
static tpl_node *parse_dot(tpl_parser *p, tpl_node *n) {
    char *id = tpl_lex_ident(p);
    if (!id) {
        tpl_node_free(n);
        return fail_at(p, "expected a field name after '.'");
    }
    if (tpl_lex_peek(p, '(')) return parse_call(p, n, id);
    tpl_node *g = node_new(TPL_GET);
    g->name = id;
    node_add(g, n);
    return g;
}

/* An optional part of a slice: NULL (and *ok) when absent. */
static tpl_node *slice_part(tpl_parser *p, int *ok) {
    *ok = 1;
    if (tpl_lex_peek(p, ':') || tpl_lex_peek(p, ']')) return NULL;
    tpl_node *n = tpl_parse_expr(p);
    *ok = n != NULL;
    return n;
}

/* After "n[": an index or a slice, and the closing ']'. */
static tpl_node *parse_index(tpl_parser *p, tpl_node *n) {
    int ok;
    tpl_node *i = slice_part(p, &ok), *x;
    if (ok && tpl_lex_peek(p, ':')) {
        x = node_new(TPL_SLICE);
        node_add(x, n);
        node_add(x, i);
        for (int k = 0; k < 2 && ok; k++) {
            tpl_node *part = tpl_lex_op(p, ":") ? slice_part(p, &ok) : NULL;
            node_add(x, part);
        }
    } else if (ok && i) {
        x = node2(TPL_INDEX, n, i);
    } else {
        tpl_node_free(n);
        return ok ? fail_at(p, "expected an index") : NULL;
    }
    if (!ok) {
        tpl_node_free(x);
        return NULL;
    }
    return close_with(p, x, ']', "expected ']'");
}

/* name(args): a macro or a global function (raise_exception, range, ...). */
static tpl_node *parse_fcall(tpl_parser *p, tpl_node *n) {
    if (n->kind != TPL_FIELD) {
        tpl_node_free(n);
        return fail_at(p, "only names can be called");
    }
    n->kind = TPL_FCALL;
    if (parse_args(p, n, &n->kwnames)) {
        tpl_node_free(n);
        return NULL;
    }
    return n;
}

/* After "n is": [not] test [argument]. */
static tpl_node *parse_test(tpl_parser *p, tpl_node *n) {
    int neg = tpl_lex_kw(p, "not");
    char *id = tpl_lex_ident(p);
    int arity = id ? tpl_test_known(id) : 0;
    if (!arity) {
        if (id) cj_fail(p->e, "unknown template test '%s'", id);
        else tpl_lex_fail(p, "expected a test name after 'is'");
        free(id);
        tpl_node_free(n);
        return NULL;
    }
    tpl_node *t = node_new(TPL_TEST);
    t->name = id;
    t->negate = neg;
    node_add(t, n);
    if (arity == 2) {
        int paren = tpl_lex_peek(p, '(');
        if (paren) p->pos++;
        tpl_node *a = paren ? tpl_parse_expr(p) : parse_primary(p);
        if (!a || (paren && !(a = close_with(p, a, ')', "expected ')'")))) {
            tpl_node_free(t);
            return NULL;
        }
        node_add(t, a);
    }
    return t;
}

tpl_node *tpl_parse_filters(tpl_parser *p, tpl_node *n, int first_bar) {
    while (n && (!first_bar || tpl_lex_peek(p, '|')) && (n = deeper(p, n))) {
        if (first_bar) p->pos++;
        first_bar = 1;
        char *id = tpl_lex_ident(p);
        if (!id) {
            tpl_node_free(n);
            return fail_at(p, "expected a function name after '|'");
        }
        n = parse_call(p, n, id);
    }
    return n;
}

static tpl_node *parse_postfix(tpl_parser *p) {
    tpl_node *n = parse_primary(p);
    while (n) {
        tpl_lex_skip_ws(p);
        char c = p->s[p->pos];
        int is = tpl_lex_kw(p, "is");
        if (!is && c != '.' && c != '[' && c != '(' && c != '|') break;
        if (!(n = deeper(p, n))) return NULL;
        if (is) n = parse_test(p, n);
        else if (c == '|') n = tpl_parse_filters(p, n, 1);
        else {
            p->pos++;
            n = c == '.' ? parse_dot(p, n) : c == '[' ? parse_index(p, n) : parse_fcall(p, n);
        }
    }
    return n;
}

static tpl_node *parse_unary(tpl_parser *p) {
    if (!tpl_lex_peek(p, '-')) return parse_postfix(p);
    p->pos++;
    if (p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        json_t *v;
        if (tpl_lex_number(p, 1, &v)) return NULL;
        tpl_node *n = tpl_node_lit(v);
        return tpl_parse_filters(p, n, 1);
    }
    tpl_node *x = parse_unary(p);
    if (!x) return NULL;
    tpl_node *n = node_new(TPL_NEG);
    node_add(n, x);
    return n;
}

/* One level of left-associative binary operators, from tightest: the
 * operators of a level and the node each makes. */
typedef struct {
    const char *text;
    int word; /* a keyword ("in"), not punctuation */
    tpl_op op;
} binop;

static const binop MUL_OPS[] = {{"//", 0, TPL_FLOORDIV}, {"*", 0, TPL_MUL}, {"/", 0, TPL_DIV}, {"%", 0, TPL_MOD}, {0, 0, 0}};
static const binop ADD_OPS[] = {{"+", 0, TPL_ADD}, {"-", 0, TPL_SUB}, {0, 0, 0}};
static const binop CAT_OPS[] = {{"~", 0, TPL_CAT}, {0, 0, 0}};
static const binop CMP_OPS[] = {{"==", 0, TPL_EQ}, {"!=", 0, TPL_NE}, {"<=", 0, TPL_LE}, {">=", 0, TPL_GE},
                                {"<", 0, TPL_LT},  {">", 0, TPL_GT},  {"in", 1, TPL_IN}, {0, 0, 0}};
static const binop *const LEVELS[] = {CMP_OPS, CAT_OPS, ADD_OPS, MUL_OPS};
#define N_LEVELS 4

static int match_op(tpl_parser *p, const binop *ops, tpl_op *op) {
    size_t save = p->pos;
    if (ops == CMP_OPS && tpl_lex_kw(p, "not")) {
        if (tpl_lex_kw(p, "in")) {
            *op = TPL_NOTIN;
            return 1;
        }
        p->pos = save;
        return 0;
    }
    for (const binop *o = ops; o->text; o++)
        if (o->word ? tpl_lex_kw(p, o->text) : tpl_lex_op(p, o->text)) {
            if (o->op == TPL_MUL && p->s[p->pos] == '*') break; /* "**" is not ours */
            *op = o->op;
            return 1;
        }
    p->pos = save;
    return 0;
}

static tpl_node *parse_level(tpl_parser *p, int level) {
    if (level == N_LEVELS) return parse_unary(p);
    tpl_node *l = parse_level(p, level + 1);
    tpl_op op;
    while (l && match_op(p, LEVELS[level], &op) && (l = deeper(p, l))) {
        tpl_node *r = parse_level(p, level + 1);
        if (!r) {
            tpl_node_free(l);
            return NULL;
        }
        l = node2(TPL_BIN, l, r);
        l->op = op;
    }
    return l;
}

static tpl_node *parse_not(tpl_parser *p) {
    if (!tpl_lex_kw(p, "not")) return parse_level(p, 0);
    tpl_node *x = parse_not(p);
    if (!x || !(x = deeper(p, x))) return NULL;
    tpl_node *n = node_new(TPL_NOT);
    node_add(n, x);
    return n;
}

static tpl_node *parse_logic(tpl_parser *p, int is_or) {
    tpl_node *l = is_or ? parse_logic(p, 0) : parse_not(p);
    while (l && tpl_lex_kw(p, is_or ? "or" : "and") && (l = deeper(p, l))) {
        tpl_node *r = is_or ? parse_logic(p, 0) : parse_not(p);
        if (!r) {
            tpl_node_free(l);
            return NULL;
        }
        l = node2(is_or ? TPL_OR : TPL_AND, l, r);
    }
    return l;
}

tpl_node *tpl_parse_expr(tpl_parser *p) {
    int depth = p->depth;
    if (++p->depth > TPL_MAX_DEPTH) return fail_at(p, "expression nested too deeply");
    int no_cond = p->no_cond;
    p->no_cond = 0; /* only the top level of the expression */
    tpl_node *n = parse_logic(p, 1);
    p->no_cond = no_cond;
    if (n && !no_cond && tpl_lex_kw(p, "if")) {
        tpl_node *c = parse_logic(p, 1), *e = NULL;
        if (c && tpl_lex_kw(p, "else") && !(e = tpl_parse_expr(p))) {
            tpl_node_free(c);
            c = NULL;
        }
        if (!c) {
            tpl_node_free(n);
            n = NULL;
        } else {
            tpl_node *x = node2(TPL_COND, n, c);
            node_add(x, e);
            n = x;
        }
    }
    p->depth = depth;
    return n;
}
