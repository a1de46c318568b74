/* template_parse — the grammar of the template language: a template becomes
 * a list of parts, literal text and expression trees (template.h:
 * tpl_compile). Recursive descent over the items template_lex.c scans;
 * function names are resolved and their arity checked here, so that a
 * misspelt or misused function fails when the definition loads, not when a
 * doc is rendered. Depth-limited, so that a hostile definition cannot
 * exhaust the stack. */
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

/* Depth of an expression tree: nesting, and each '.', '[...]', '|' and
 * '+' / '-' that wraps what came before it. */
#define TPL_MAX_DEPTH 128

static void node_free(tpl_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n_kids; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->name);
    json_decref(n->lit);
    free(n);
}

static tpl_node *node_new(tpl_kind k) {
    tpl_node *n = cj_xcalloc(1, sizeof *n);
    n->kind = k;
    return n;
}

/* Takes the reference v (NULL only when the text was not valid UTF-8,
 * which the caller reports). */
static tpl_node *node_lit(json_t *v) {
    tpl_node *n = node_new(TPL_LIT);
    n->lit = v;
    return n;
}

static void node_add(tpl_node *n, tpl_node *kid) {
    n->kids = cj_xrealloc(n->kids, (size_t)(n->n_kids + 1) * sizeof *n->kids);
    n->kids[n->n_kids++] = kid;
}

/* The lexer's error, as a NULL tree. */
static tpl_node *fail_at(tpl_parser *p, const char *what) {
    tpl_lex_fail(p, what);
    return NULL;
}

/* Consumes the c that closes n; NULL, with n freed, when it is missing. */
static tpl_node *close_with(tpl_parser *p, tpl_node *n, char c, const char *what) {
    if (!tpl_lex_peek(p, c)) {
        node_free(n);
        return fail_at(p, what);
    }
    p->pos++;
    return n;
}

static tpl_node *parse_expr(tpl_parser *p);

/* The arguments "(a, b)" of call c, when a '(' follows its name. */
static int parse_args(tpl_parser *p, tpl_node *c) {
    if (!tpl_lex_peek(p, '(')) return 0;
    p->pos++;
    if (!tpl_lex_peek(p, ')')) {
        for (;;) {
            tpl_node *a = parse_expr(p);
            if (!a) return -1;
            node_add(c, a);
            if (!tpl_lex_peek(p, ',')) break;
            p->pos++;
        }
        if (!tpl_lex_peek(p, ')')) return tpl_lex_fail(p, "expected ',' or ')'");
    }
    p->pos++;
    return 0;
}

static int check_arity(tpl_parser *p, const tpl_fn *f, int nargs) {
    if (nargs >= f->min_args && nargs <= f->max_args) return 0;
    if (f->min_args == f->max_args)
        return cj_fail(p->e, "template function '%s' takes %d argument%s, got %d", f->name, f->min_args,
                       f->min_args == 1 ? "" : "s", nargs);
    return cj_fail(p->e, "template function '%s' takes %d to %d arguments, got %d", f->name, f->min_args,
                   f->max_args, nargs);
}

/* The call of function name (taken) on subject (taken), with its
 * arguments if they follow. */
static tpl_node *parse_call(tpl_parser *p, tpl_node *subject, char *name) {
    const tpl_fn *f = tpl_fn_find(name);
    if (!f) cj_fail(p->e, "unknown template function '%s'", name);
    free(name);
    if (!f) {
        node_free(subject);
        return NULL;
    }
    tpl_node *c = node_new(TPL_CALL);
    c->fn = f;
    node_add(c, subject);
    if (parse_args(p, c) || check_arity(p, f, c->n_kids - 1)) {
        node_free(c);
        return NULL;
    }
    return c;
}

/* A list literal, after its '['; a trailing comma is allowed. */
static tpl_node *parse_list(tpl_parser *p) {
    tpl_node *l = node_new(TPL_LIST);
    if (tpl_lex_peek(p, ']')) {
        p->pos++;
        return l;
    }
    for (;;) {
        tpl_node *it = parse_expr(p);
        if (!it) {
            node_free(l);
            return NULL;
        }
        node_add(l, it);
        if (!tpl_lex_peek(p, ',')) break;
        p->pos++;
        if (tpl_lex_peek(p, ']')) break;
    }
    return close_with(p, l, ']', "expected ',' or ']'");
}

static tpl_node *parse_primary(tpl_parser *p) {
    tpl_lex_skip_ws(p);
    char c = p->s[p->pos];
    json_t *v;
    if (c == '\'' || c == '"') return tpl_lex_string(p, &v) ? NULL : node_lit(v);
    if (c >= '0' && c <= '9') return tpl_lex_int(p, 0, &v) ? NULL : node_lit(v);
    if (c == '-') {
        p->pos++;
        return tpl_lex_int(p, 1, &v) ? NULL : node_lit(v);
    }
    if (c == '(') {
        p->pos++;
        tpl_node *n = parse_expr(p);
        return n ? close_with(p, n, ')', "expected ')'") : NULL;
    }
    if (c == '[') {
        p->pos++;
        return parse_list(p);
    }
    char *id = tpl_lex_ident(p);
    if (!id) return fail_at(p, "expected a field, a literal or '('");
    tpl_node *n = node_new(TPL_FIELD);
    n->name = id;
    return n;
}

/* Counts one more level of the tree being built (parse_expr restores the
 * count when it returns); NULL, with n freed, beyond TPL_MAX_DEPTH. */
static tpl_node *deeper(tpl_parser *p, tpl_node *n) {
    if (++p->depth <= TPL_MAX_DEPTH) return n;
    node_free(n);
    return fail_at(p, "expression nested too deeply");
}

/* After "n.": a field of n, or the method call n.f(args). */
static tpl_node *parse_dot(tpl_parser *p, tpl_node *n) {
    char *id = tpl_lex_ident(p);
    if (!id) {
        node_free(n);
        return fail_at(p, "expected a field name after '.'");
    }
    if (tpl_lex_peek(p, '(')) return parse_call(p, n, id);
    tpl_node *g = node_new(TPL_GET);
    g->name = id;
    node_add(g, n);
    return g;
}

/* After "n[": the index and the closing ']'. */
static tpl_node *parse_index(tpl_parser *p, tpl_node *n) {
    tpl_node *i = parse_expr(p);
    if (!i) {
        node_free(n);
        return NULL;
    }
    tpl_node *x = node_new(TPL_INDEX);
    node_add(x, n);
    node_add(x, i);
    return close_with(p, x, ']', "expected ']'");
}

static tpl_node *parse_postfix(tpl_parser *p) {
    tpl_node *n = parse_primary(p);
    while (n) {
        int dot = tpl_lex_peek(p, '.');
        if (!dot && !tpl_lex_peek(p, '[')) break;
        if (!(n = deeper(p, n))) return NULL;
        p->pos++;
        n = dot ? parse_dot(p, n) : parse_index(p, n);
    }
    return n;
}

static tpl_node *parse_pipe(tpl_parser *p) {
    tpl_node *n = parse_postfix(p);
    while (n && tpl_lex_peek(p, '|') && (n = deeper(p, n))) {
        p->pos++;
        char *id = tpl_lex_ident(p);
        if (!id) {
            node_free(n);
            return fail_at(p, "expected a function name after '|'");
        }
        n = parse_call(p, n, id);
    }
    return n;
}

static tpl_node *parse_expr(tpl_parser *p) {
    int depth = p->depth;
    if (++p->depth > TPL_MAX_DEPTH) return fail_at(p, "expression nested too deeply");
    tpl_node *l = parse_pipe(p);
    while (l && (tpl_lex_peek(p, '+') || tpl_lex_peek(p, '-')) && (l = deeper(p, l))) {
        tpl_kind k = p->s[p->pos++] == '+' ? TPL_ADD : TPL_SUB;
        tpl_node *r = parse_pipe(p);
        if (!r) {
            node_free(l);
            l = NULL;
            break;
        }
        tpl_node *b = node_new(k);
        node_add(b, l);
        node_add(b, r);
        l = b;
    }
    p->depth = depth;
    return l;
}

static void tpl_add(tpl *t, tpl_node *n) {
    t->parts = cj_xrealloc(t->parts, (size_t)(t->n_parts + 1) * sizeof *t->parts);
    t->parts[t->n_parts++] = n;
}

static int add_text(tpl *t, const char *s, size_t n, cj_err *e) {
    if (!n) return 0;
    tpl_node *x = node_lit(json_stringn(s, n));
    tpl_add(t, x);
    return x->lit ? 0 : cj_fail(e, "template text is not valid UTF-8");
}

int tpl_compile(const char *src, tpl **out, cj_err *e) {
    tpl *t = cj_xcalloc(1, sizeof *t);
    tpl_parser p = {src, 0, 0, e};
    int n_expr = 0;
    for (;;) {
        const char *open = strstr(src + p.pos, "{{");
        size_t end = open ? (size_t)(open - src) : strlen(src);
        if (add_text(t, src + p.pos, end - p.pos, e)) goto fail;
        if (!open) break;
        p.pos = end + 2;
        tpl_node *x = parse_expr(&p);
        if (!x) goto fail;
        tpl_add(t, x);
        n_expr++;
        tpl_lex_skip_ws(&p);
        if (strncmp(src + p.pos, "}}", 2)) {
            tpl_lex_fail(&p, "expected '}}'");
            goto fail;
        }
        p.pos += 2;
    }
    t->is_expr = t->n_parts == 1 && n_expr == 1;
    *out = t;
    return 0;
fail:
    tpl_free(t);
    *out = NULL;
    return -1;
}

void tpl_free(tpl *t) {
    if (!t) return;
    for (int i = 0; i < t->n_parts; i++) node_free(t->parts[i]);
    free(t->parts);
    free(t);
}

int tpl_is_expr(const tpl *t) { return t->is_expr; }
