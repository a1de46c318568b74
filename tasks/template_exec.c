/* template_exec — running a compiled template (template.h: tpl_render,
 * tpl_eval, tpl_render_chat): statements, Jinja's scopes (a for loop's
 * body and a macro's body have their own names; if blocks do not), the
 * loop variable, macros, and the global functions chat templates call —
 * raise_exception (the error is the template's own message, unchanged),
 * namespace, range, dict and strftime_now (pinned to the date the caller
 * gives, so that a rendering never depends on the clock). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template_impl.h"

/* Writes a value the way the template's kind does. */
static int output(tpl_ctx *c, const json_t *v, sb *out) {
    size_t before = out->len;
    if (c->chat) tpl_py_str(v, out);
    else if (tpl_value_text(v, out, c->e)) return -1;
    return tpl_charge(c, out->len - before);
}

static int exec_stmt(const tpl_stmt *s, tpl_ctx *c, sb *out);

int tpl_exec_body(const tpl_body *b, tpl_ctx *c, sb *out) {
    for (int i = 0; i < b->n; i++) {
        int rc = exec_stmt(b->items[i], c, out);
        if (rc) return rc;
    }
    return 0;
}

/* The items a for loop walks: a list's, a dict's keys, a string's
 * characters; Undefined walks nothing. A new reference or NULL. */
static json_t *iter_items(const json_t *v, tpl_ctx *c) {
    if (json_is_array(v)) return json_incref((json_t *)v);
    json_t *l = json_array();
    if (tpl_is_undef(v)) return l;
    if (json_is_object(v) && !tpl_is_namespace(v) && tpl_macro_index(v) < 0) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_array_append_new(l, json_string(k));
        return l;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
            json_array_append_new(l, json_stringn(s + i, j - i));
            i = j;
        }
        return l;
    }
    json_decref(l);
    cj_fail(c->e, "'%s' object is not iterable", tpl_py_type(v));
    return NULL;
}

/* Binds the targets of s to item (unpacked when there are several). */
static int bind(const tpl_stmt *s, json_t *vars, const json_t *item, tpl_ctx *c) {
    if (s->n_names == 1) {
        json_object_set(vars, s->names[0], (json_t *)item);
        return 0;
    }
    if (!json_is_array(item) || json_array_size(item) != (size_t)s->n_names)
        return cj_fail(c->e, "cannot unpack %s into %d names", tpl_type_name(item), s->n_names);
    for (int i = 0; i < s->n_names; i++) json_object_set(vars, s->names[i], json_array_get(item, i));
    return 0;
}

/* The items that pass the loop's "if" clause. */
static json_t *filter_items(const tpl_stmt *s, json_t *items, tpl_ctx *c) {
    if (!s->cond) return items;
    json_t *kept = json_array();
    tpl_frame f = {json_object(), c->top};
    c->top = &f;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *t = NULL;
        if (tpl_charge(c, TPL_ITEM_COST) || bind(s, f.vars, json_array_get(items, i), c) ||
            !(t = tpl_eval_node(s->cond, c))) {
            json_decref(kept);
            kept = NULL;
            break;
        }
        if (tpl_truthy(t)) json_array_append(kept, json_array_get(items, i));
        json_decref(t);
    }
    c->top = f.parent;
    json_decref(f.vars);
    json_decref(items);
    return kept;
}

static json_t *loop_object(json_t *items, size_t i) {
    size_t n = json_array_size(items);
    json_t *l = json_object();
    json_object_set_new(l, "index", json_integer((json_int_t)i + 1));
    json_object_set_new(l, "index0", json_integer((json_int_t)i));
    json_object_set_new(l, "revindex", json_integer((json_int_t)(n - i)));
    json_object_set_new(l, "revindex0", json_integer((json_int_t)(n - i - 1)));
    json_object_set_new(l, "first", json_boolean(i == 0));
    json_object_set_new(l, "last", json_boolean(i + 1 == n));
    json_object_set_new(l, "length", json_integer((json_int_t)n));
    if (i > 0) json_object_set(l, "previtem", json_array_get(items, i - 1));
    if (i + 1 < n) json_object_set(l, "nextitem", json_array_get(items, i + 1));
    return l;
}

static int exec_for(const tpl_stmt *s, tpl_ctx *c, sb *out) {
    json_t *v = tpl_eval_node(s->expr, c), *items;
    if (!v) return -1;
    items = iter_items(v, c);
    json_decref(v);
    if (!items || !(items = filter_items(s, items, c))) return -1;
    int rc = 0;
    size_t n = json_array_size(items);
    for (size_t i = 0; i < n && rc != -1; i++) {
        tpl_frame f = {json_object(), c->top};
        json_object_set_new(f.vars, "loop", loop_object(items, i));
        rc = tpl_charge(c, TPL_ITEM_COST) ? -1 : bind(s, f.vars, json_array_get(items, i), c);
        c->top = &f;
        if (!rc) rc = tpl_exec_body(&s->body, c, out);
        c->top = f.parent;
        json_decref(f.vars);
        if (rc == TPL_BREAK) break;
    }
    json_decref(items);
    if (rc == -1) return -1;
    return n ? 0 : tpl_exec_body(&s->orelse, c, out);
}

static int exec_set(const tpl_stmt *s, tpl_ctx *c, json_t *v) {
    if (s->attr) {
        json_t *ns = tpl_lookup(c, s->names[0]);
        if (!tpl_is_namespace(ns)) return cj_fail(c->e, "cannot assign attribute on non-namespace object");
        json_object_set(ns, s->attr, v);
        return 0;
    }
    return bind(s, c->top->vars, v, c);
}

/* The text a body renders, as a string value. */
static json_t *render_body(const tpl_body *b, tpl_ctx *c) {
    sb t;
    sb_init(&t);
    json_t *v = tpl_exec_body(b, c, &t) == -1 ? NULL : json_stringn(t.s ? t.s : "", t.len);
    sb_free(&t);
    return v;
}

static int exec_value_stmt(const tpl_stmt *s, tpl_ctx *c, sb *out) {
    json_t *v = s->kind == ST_SETBLOCK || s->kind == ST_FILTER ? render_body(&s->body, c) : tpl_eval_node(s->expr, c);
    if (!v) return -1;
    int rc;
    if (s->kind == ST_FILTER) {
        const json_t *self = c->self;
        c->self = v;
        json_t *r = tpl_eval_node(s->expr, c);
        c->self = self;
        rc = r ? output(c, r, out) : -1;
        json_decref(r);
    } else rc = s->kind == ST_OUT ? output(c, v, out) : exec_set(s, c, v);
    json_decref(v);
    return rc;
}

static int exec_stmt(const tpl_stmt *s, tpl_ctx *c, sb *out) {
    switch (s->kind) {
    case ST_TEXT: return output(c, s->expr->lit, out);
    case ST_IF: {
        json_t *v = tpl_eval_node(s->expr, c);
        if (!v) return -1;
        int t = tpl_truthy(v);
        json_decref(v);
        return tpl_exec_body(t ? &s->body : &s->orelse, c, out);
    }
    case ST_FOR: return exec_for(s, c, out);
    case ST_MACRO:
        c->macros = cj_xrealloc(c->macros, (size_t)(c->n_macros + 1) * sizeof *c->macros);
        c->macros[c->n_macros] = s;
        json_object_set_new(c->top->vars, s->name, tpl_macro_value(c->n_macros++));
        return 0;
    case ST_BREAK: return TPL_BREAK;
    case ST_CONTINUE: return TPL_CONTINUE;
    default: return exec_value_stmt(s, c, out);
    }
}

/* ---------- calls ---------- */

static json_t *call_macro(const tpl_node *n, const tpl_stmt *m, json_t *const *args, tpl_ctx *c) {
    if (c->calls >= TPL_MAX_CALLS) {
        cj_fail(c->e, "macro calls nested more than %d deep", TPL_MAX_CALLS);
        return NULL;
    }
    tpl_frame f = {json_object(), c->root};
    int npos = 0;
    for (int i = 0; i < n->n_kids; i++) {
        const char *kw = n->kwnames && n->kwnames[i] ? n->kwnames[i] : NULL;
        int at = -1;
        for (int k = 0; k < m->n_names && kw; k++)
            if (!strcmp(m->names[k], kw)) at = k;
        if (!kw) at = npos++;
        if (at < 0 || at >= m->n_names) {
            json_decref(f.vars);
            cj_fail(c->e, "macro '%s' takes no argument %s", m->name, kw ? kw : "that many");
            return NULL;
        }
        json_object_set(f.vars, m->names[at], args[i]);
    }
    tpl_frame *top = c->top;
    c->top = &f;
    c->calls++;
    json_t *r = NULL;
    for (int k = 0; k < m->n_names; k++) {
        if (json_object_get(f.vars, m->names[k])) continue;
        json_t *d = m->defaults[k] ? tpl_eval_node(m->defaults[k], c) : tpl_undef("'%s' is undefined", m->names[k]);
        if (!d) goto out;
        json_object_set_new(f.vars, m->names[k], d);
    }
    r = render_body(&m->body, c);
out:
    c->calls--;
    c->top = top;
    json_decref(f.vars);
    return r;
}

/* The keyword arguments of a call as a new object (namespace, dict). */
static json_t *kwargs_object(const tpl_node *n, json_t *const *args, json_t *into, tpl_ctx *c) {
    for (int i = 0; i < n->n_kids; i++) {
        if (n->kwnames && n->kwnames[i]) json_object_set(into, n->kwnames[i], args[i]);
        else if (json_is_object(args[i])) json_object_update(into, args[i]);
        else {
            json_decref(into);
            cj_fail(c->e, "%s: positional arguments must be mappings", n->name);
            return NULL;
        }
    }
    return into;
}

static json_t *fn_range(const tpl_node *n, json_t *const *args, tpl_ctx *c) {
    json_int_t b[3] = {0, 0, 1};
    int k = n->n_kids;
    for (int i = 0; i < k; i++)
        if (!json_is_integer(args[i]) || k > 3) {
            cj_fail(c->e, "range: needs 1 to 3 integers");
            return NULL;
        }
    if (k == 1) b[1] = json_integer_value(args[0]);
    for (int i = 0; k > 1 && i < k; i++) b[i] = json_integer_value(args[i]);
    if (!k || b[2] == 0) {
        cj_fail(c->e, "range: needs 1 to 3 integers, a step other than 0");
        return NULL;
    }
    json_t *l = json_array();
    for (json_int_t x = b[0]; b[2] > 0 ? x < b[1] : x > b[1]; x += b[2]) {
        if (json_array_size(l) >= TPL_MAX_ITEMS || tpl_charge(c, TPL_ITEM_COST)) {
            json_decref(l);
            cj_fail(c->e, "range: more than %zu items", TPL_MAX_ITEMS);
            return NULL;
        }
        json_array_append_new(l, json_integer(x));
    }
    return l;
}

static json_t *fn_strftime(json_t *const *args, int nargs, tpl_ctx *c) {
    struct tm tm = {0};
    if (nargs != 1 || !json_is_string(args[0])) {
        cj_fail(c->e, "strftime_now: needs one format string");
        return NULL;
    }
    if (!c->date || !strptime(c->date, "%Y-%m-%d", &tm)) {
        cj_fail(c->e, "strftime_now: no date was given for this rendering");
        return NULL;
    }
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    char buf[256];
    size_t len = strftime(buf, sizeof buf, json_string_value(args[0]), &tm);
    return json_stringn(buf, len);
}

static json_t *call_global(const tpl_node *n, json_t *const *args, tpl_ctx *c) {
    const char *name = n->name;
    if (!strcmp(name, "raise_exception")) {
        if (n->n_kids != 1) {
            cj_fail(c->e, "raise_exception() takes one message, got %d arguments", n->n_kids);
            return NULL;
        }
        sb m;
        sb_init(&m);
        tpl_py_str(args[0], &m);
        /* the template's own message, unchanged: it is what users grep for */
        cj_fail(c->e, "%s", m.len ? m.s : "the template raised an error with an empty message");
        sb_free(&m);
        return NULL;
    }
    if (!strcmp(name, "namespace")) return kwargs_object(n, args, tpl_namespace(), c);
    if (!strcmp(name, "dict")) return kwargs_object(n, args, json_object(), c);
    if (!strcmp(name, "range")) return fn_range(n, args, c);
    if (!strcmp(name, "strftime_now")) return fn_strftime(args, n->n_kids, c);
    if (c->chat) cj_fail(c->e, "'%s' is undefined", name);
    else cj_fail(c->e, "unknown template function '%s'", name);
    return NULL;
}

json_t *tpl_call_named(const tpl_node *n, tpl_ctx *c) {
    json_t **args = cj_xcalloc((size_t)n->n_kids + 1, sizeof *args), *r = NULL;
    for (int i = 0; i < n->n_kids; i++)
        if (!(args[i] = tpl_eval_node(n->kids[i], c))) goto out;
    const json_t *f = tpl_lookup(c, n->name);
    int m = f ? tpl_macro_index(f) : -1;
    if (f && m >= 0 && m < c->n_macros) r = call_macro(n, c->macros[m], args, c);
    else if (f && !tpl_is_undef(f)) cj_fail(c->e, "'%s' object is not callable", tpl_py_type(f));
    else r = call_global(n, args, c);
out:
    for (int i = 0; i < n->n_kids; i++) json_decref(args[i]);
    free(args);
    return r;
}

/* ---------- the public entry points ---------- */

static int run(const tpl *t, const json_t *doc, const char *date, sb *out, cj_err *e) {
    tpl_frame root = {json_object(), NULL};
    tpl_ctx c = {doc, e, 0, t->chat, 0, &root, &root, NULL, 0, NULL, 0, date};
    int rc = tpl_exec_body(&t->body, &c, out);
    json_decref(root.vars);
    free(c.macros);
    return rc == -1 ? -1 : 0;
}

int tpl_render(const tpl *t, const json_t *doc, sb *out, cj_err *e) { return run(t, doc, NULL, out, e); }

int tpl_render_chat(const tpl *t, const json_t *vars, const char *date, sb *out, cj_err *e) {
    return run(t, vars, date, out, e);
}

int tpl_eval(const tpl *t, const json_t *doc, json_t **out, cj_err *e) {
    if (t->is_expr) {
        tpl_frame root = {NULL, NULL};
        tpl_ctx c = {doc, e, 0, 0, 0, &root, &root, NULL, 0, NULL, 0, NULL};
        *out = tpl_eval_node(t->body.items[0]->expr, &c);
        return *out ? 0 : -1;
    }
    sb b;
    sb_init(&b);
    int rc = run(t, doc, NULL, &b, e);
    *out = rc ? NULL : json_stringn(b.s ? b.s : "", b.len);
    sb_free(&b);
    if (!rc && !*out) return cj_fail(e, "template result is not valid UTF-8");
    return rc;
}
