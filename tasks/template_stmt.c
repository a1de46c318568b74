/* template_stmt — the statements of the template engine (template.h:
 * tpl_compile, tpl_compile_chat): literal text, {{ output }}, and the block
 * tags chat templates use — if / elif / else, for (tuple targets, an "if"
 * clause, else, break / continue), set (a name, names, ns.attr, or a block
 * up to endset), macro, filter, generation — each parsed into a tpl_stmt over the
 * expressions of template_parse.c. A tag that is not one of these, or a
 * block left open, fails when the template loads. Nesting is limited so
 * that a hostile template cannot exhaust the stack. */
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

#define TPL_MAX_BLOCKS 64

typedef struct {
    tpl_scanner sc;
    cj_err *e;
    int depth;
    char *tag;    /* the inside of the block tag that ended the last body (malloc'd) */
    tpl_parser p; /* over tag, after its keyword */
} compiler;

static void body_free(tpl_body *b);

static void stmt_free(tpl_stmt *s) {
    if (!s) return;
    tpl_node_free(s->expr);
    tpl_node_free(s->cond);
    for (int i = 0; s->defaults && i < s->n_names; i++) tpl_node_free(s->defaults[i]);
    for (int i = 0; i < s->n_names; i++) free(s->names[i]);
    free(s->names);
    free(s->defaults);
    free(s->attr);
    free(s->name);
    body_free(&s->body);
    body_free(&s->orelse);
    free(s);
}

static void body_free(tpl_body *b) {
    for (int i = 0; i < b->n; i++) stmt_free(b->items[i]);
    free(b->items);
    b->items = NULL;
    b->n = 0;
}

static tpl_stmt *stmt_new(tpl_st_kind k) {
    tpl_stmt *s = cj_xcalloc(1, sizeof *s);
    s->kind = k;
    return s;
}

static void body_add(tpl_body *b, tpl_stmt *s) {
    b->items = cj_xrealloc(b->items, (size_t)(b->n + 1) * sizeof *b->items);
    b->items[b->n++] = s;
}

static void add_name(tpl_stmt *s, char *name) {
    s->names = cj_xrealloc(s->names, (size_t)(s->n_names + 1) * sizeof *s->names);
    s->names[s->n_names++] = name;
}

/* The tag's expression must end here. */
static int tag_end(compiler *c) {
    tpl_lex_skip_ws(&c->p);
    return c->p.s[c->p.pos] ? tpl_lex_fail(&c->p, "expected the end of the tag") : 0;
}

/* Names "a" or "a, b" (for and set targets); -1 when none. */
static int parse_targets(compiler *c, tpl_stmt *s) {
    do {
        char *id = tpl_lex_ident(&c->p);
        if (!id) return tpl_lex_fail(&c->p, "expected a name");
        add_name(s, id);
    } while (tpl_lex_op(&c->p, ","));
    return 0;
}

static int parse_body(compiler *c, tpl_body *b, const char *ends);

/* The body of s up to one of the tags in ends ("else endif"); c->tag and
 * c->p are on the tag that ended it. */
static int sub_body(compiler *c, tpl_body *b, const char *ends) {
    if (++c->depth > TPL_MAX_BLOCKS) return cj_fail(c->e, "blocks nested more than %d deep", TPL_MAX_BLOCKS);
    int rc = parse_body(c, b, ends);
    c->depth--;
    return rc;
}

/* The keyword of the tag that ended a body. */
static int ended_with(compiler *c, const char *kw) {
    tpl_parser q = c->p;
    q.pos = 0;
    return tpl_lex_kw(&q, kw);
}

static int parse_if(compiler *c, tpl_stmt *s) {
    if (!(s->expr = tpl_parse_expr(&c->p)) || tag_end(c) || sub_body(c, &s->body, "elif else endif")) return -1;
    if (ended_with(c, "elif")) {
        tpl_stmt *x = stmt_new(ST_IF);
        body_add(&s->orelse, x);
        return parse_if(c, x);
    }
    if (ended_with(c, "else") && (tag_end(c) || sub_body(c, &s->orelse, "endif"))) return -1;
    return tag_end(c);
}

static int parse_for(compiler *c, tpl_stmt *s) {
    if (parse_targets(c, s)) return -1;
    if (!tpl_lex_kw(&c->p, "in")) return tpl_lex_fail(&c->p, "expected 'in'");
    c->p.no_cond = 1;
    s->expr = tpl_parse_expr(&c->p);
    c->p.no_cond = 0;
    if (!s->expr) return -1;
    if (tpl_lex_kw(&c->p, "if") && !(s->cond = tpl_parse_expr(&c->p))) return -1;
    if (tag_end(c) || sub_body(c, &s->body, "else endfor")) return -1;
    if (ended_with(c, "else") && (tag_end(c) || sub_body(c, &s->orelse, "endfor"))) return -1;
    return tag_end(c);
}

static int parse_set(compiler *c, tpl_stmt *s) {
    if (parse_targets(c, s)) return -1;
    if (s->n_names == 1 && tpl_lex_op(&c->p, ".")) {
        if (!(s->attr = tpl_lex_ident(&c->p))) return tpl_lex_fail(&c->p, "expected an attribute name");
    }
    if (tpl_lex_op(&c->p, "=")) return (s->expr = tpl_parse_expr(&c->p)) ? tag_end(c) : -1;
    if (s->n_names != 1 || s->attr) return tpl_lex_fail(&c->p, "expected '='");
    s->kind = ST_SETBLOCK;
    if (tag_end(c) || sub_body(c, &s->body, "endset")) return -1;
    return tag_end(c);
}

static int parse_macro(compiler *c, tpl_stmt *s) {
    if (!(s->name = tpl_lex_ident(&c->p))) return tpl_lex_fail(&c->p, "expected the macro's name");
    if (!tpl_lex_op(&c->p, "(")) return tpl_lex_fail(&c->p, "expected '('");
    while (!tpl_lex_op(&c->p, ")")) {
        char *id = tpl_lex_ident(&c->p);
        if (!id) return tpl_lex_fail(&c->p, "expected a parameter name");
        add_name(s, id);
        s->defaults = cj_xrealloc(s->defaults, (size_t)s->n_names * sizeof *s->defaults);
        s->defaults[s->n_names - 1] = NULL;
        if (tpl_lex_op(&c->p, "=") && !(s->defaults[s->n_names - 1] = tpl_parse_expr(&c->p))) return -1;
        if (!tpl_lex_op(&c->p, ",") && !tpl_lex_peek(&c->p, ')')) return tpl_lex_fail(&c->p, "expected ',' or ')'");
    }
    if (tag_end(c) || sub_body(c, &s->body, "endmacro")) return -1;
    return tag_end(c);
}

/* transformers' {% generation %} marks the assistant's text for masks; in a
 * rendering it is its body. */
static int parse_generation(compiler *c, tpl_stmt *s) {
    s->expr = tpl_node_lit(json_true());
    if (tag_end(c) || sub_body(c, &s->body, "endgeneration")) return -1;
    return tag_end(c);
}

static int parse_control(compiler *c, tpl_stmt *s) {
    (void)s;
    return tag_end(c);
}

static int parse_filter(compiler *c, tpl_stmt *s) {
    tpl_node *self = cj_xcalloc(1, sizeof *self);
    self->kind = TPL_SELF;
    if (!(s->expr = tpl_parse_filters(&c->p, self, 0)) || tag_end(c) || sub_body(c, &s->body, "endfilter")) return -1;
    return tag_end(c);
}

/* A block tag (its keyword read by the caller) that opens a statement. */
static int parse_tag(compiler *c, const char *kw, tpl_body *b) {
    static const struct {
        const char *kw;
        tpl_st_kind kind;
        int (*parse)(compiler *, tpl_stmt *);
    } TAGS[] = {{"if", ST_IF, parse_if},          {"for", ST_FOR, parse_for},          {"set", ST_SET, parse_set},
                {"macro", ST_MACRO, parse_macro}, {"filter", ST_FILTER, parse_filter}, {"break", ST_BREAK, parse_control},
                {"continue", ST_CONTINUE, parse_control}, {"generation", ST_IF, parse_generation}};
    for (size_t i = 0; i < sizeof TAGS / sizeof *TAGS; i++) {
        if (strcmp(TAGS[i].kw, kw)) continue;
        tpl_stmt *s = stmt_new(TAGS[i].kind);
        body_add(b, s);
        return TAGS[i].parse(c, s);
    }
    return cj_fail(c->e, "unknown tag '%s'", kw);
}

/* 1 if word is one of the space-separated words of list. */
static int in_words(const char *word, const char *list) {
    size_t n = strlen(word);
    for (const char *s = list; s && *s;) {
        const char *sp = strchr(s, ' ');
        size_t len = sp ? (size_t)(sp - s) : strlen(s);
        if (len == n && !strncmp(s, word, n)) return 1;
        s = sp ? sp + 1 : NULL;
    }
    return 0;
}

static int add_text(tpl_body *b, const char *s, size_t n, cj_err *e) {
    tpl_stmt *x = stmt_new(ST_TEXT);
    body_add(b, x);
    x->expr = tpl_node_lit(json_stringn(s, n));
    return x->expr->lit ? 0 : cj_fail(e, "template text is not valid UTF-8");
}

static int add_output(compiler *c, tpl_body *b, const char *src) {
    tpl_parser p = {src, 0, 0, 0, c->e};
    tpl_node *x = tpl_parse_expr(&p);
    if (!x) return -1;
    tpl_stmt *s = stmt_new(ST_OUT);
    s->expr = x;
    body_add(b, s);
    tpl_lex_skip_ws(&p);
    return src[p.pos] ? tpl_lex_fail(&p, "expected '}}'") : 0;
}

/* Statements up to a block tag whose keyword is in ends (NULL: up to the
 * end of the source, which then must come). */
static int parse_body(compiler *c, tpl_body *b, const char *ends) {
    for (;;) {
        tpl_seg g;
        if (tpl_scan(&c->sc, &g, c->e)) return -1;
        if (g.kind == SEG_END) return ends ? cj_fail(c->e, "syntax error at the end: missing {%% %s %%}", strrchr(ends, ' ') ? strrchr(ends, ' ') + 1 : ends) : 0;
        if (g.kind == SEG_TEXT) {
            if (add_text(b, c->sc.s + g.start, g.end - g.start, c->e)) return -1;
            continue;
        }
        char *src = cj_xstrndup(c->sc.s + g.start, g.end - g.start);
        if (g.kind == SEG_VAR) {
            int rc = add_output(c, b, src);
            free(src);
            if (rc) return -1;
            continue;
        }
        free(c->tag);
        c->tag = src;
        c->p = (tpl_parser){src, 0, 0, 0, c->e};
        char *kw = tpl_lex_ident(&c->p);
        if (!kw) return tpl_lex_fail(&c->p, "expected a tag name");
        int end = ends && in_words(kw, ends);
        int rc = end ? 0 : parse_tag(c, kw, b);
        free(kw);
        if (end || rc) return rc;
    }
}

/* Jinja reads a template with its newlines as "\n" and without one final
 * newline (keep_trailing_newline off). */
static char *normalize_newlines(const char *src) {
    size_t n = strlen(src), k = 0;
    char *out = cj_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            out[k++] = '\n';
            if (src[i + 1] == '\n') i++;
        } else out[k++] = src[i];
    }
    if (k && out[k - 1] == '\n') k--;
    out[k] = 0;
    return out;
}

static int compile(const char *src, int chat, tpl **out, cj_err *e) {
    tpl *t = cj_xcalloc(1, sizeof *t);
    t->chat = chat;
    char *text = chat ? normalize_newlines(src) : cj_xstrdup(src);
    compiler c = {{text, 0, strlen(text), chat, chat, 0, {0, 0, 0}, 0}, e, 0, NULL, {0}};
    int rc = parse_body(&c, &t->body, NULL);
    free(c.tag);
    free(text);
    if (rc) {
        tpl_free(t);
        *out = NULL;
        return -1;
    }
    t->is_expr = !chat && t->body.n == 1 && t->body.items[0]->kind == ST_OUT;
    *out = t;
    return 0;
}

int tpl_compile(const char *src, tpl **out, cj_err *e) { return compile(src, 0, out, e); }

int tpl_compile_chat(const char *src, tpl **out, cj_err *e) { return compile(src, 1, out, e); }

void tpl_free(tpl *t) {
    if (!t) return;
    body_free(&t->body);
    free(t);
}

int tpl_is_expr(const tpl *t) { return t->is_expr; }
