/* template — evaluation of compiled templates over jansson values
 * (template.h: tpl_eval, tpl_render, tpl_value_text). Every step returns a
 * new reference, or NULL with the error, which names the expression as
 * written. Evaluation is bounded: a replace chain doubles a string per step,
 * so a few hundred bytes of template could otherwise ask for any amount of
 * memory and time; the budget of one evaluation lives here, and every
 * function call, operator and output is charged to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

/* ---------- values ---------- */

const char *tpl_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int tpl_value_text(const json_t *v, sb *out, cj_err *e) {
    switch (json_typeof(v)) {
    case JSON_STRING: sb_putn(out, json_string_value(v), json_string_length(v)); return 0;
    case JSON_INTEGER: sb_printf(out, "%lld", (long long)json_integer_value(v)); return 0;
    case JSON_TRUE: sb_puts(out, "True"); return 0;
    case JSON_FALSE: sb_puts(out, "False"); return 0;
    case JSON_REAL: {
        /* Python's repr: the shortest form that reads back the same. */
        double d = json_real_value(v);
        char buf[40];
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
        }
        sb_puts(out, buf);
        if (!strpbrk(buf, ".eEn")) sb_puts(out, ".0");
        return 0;
    }
    default: return cj_fail(e, "cannot write %s as text", tpl_type_name(v));
    }
}

/* ---------- evaluation budget ---------- */

typedef struct {
    const json_t *doc;
    cj_err *e;
    size_t work; /* bytes charged so far, against TPL_MAX_WORK */
} evalctx;

int tpl_too_long(const char *fname, cj_err *e) {
    return cj_fail(e, "%s: the result would be longer than %zu MiB", fname, TPL_MAX_TEXT >> 20);
}

/* Bytes a value stands for: a string's length, a list's items (and the
 * strings among them), an object's members. */
static size_t value_cost(const json_t *v) {
    if (json_is_string(v)) return json_string_length(v);
    size_t n = TPL_ITEM_COST;
    if (json_is_object(v)) return n + TPL_ITEM_COST * json_object_size(v);
    for (size_t i = 0; i < json_array_size(v); i++) n += TPL_ITEM_COST + json_string_length(json_array_get(v, i));
    return n;
}

/* Adds bytes to the evaluation's work; -1 once it passes TPL_MAX_WORK. */
static int charge(evalctx *c, size_t bytes) {
    if (bytes > TPL_MAX_WORK - c->work)
        return cj_fail(c->e, "the template does more than %zu MiB of work on this doc", TPL_MAX_WORK >> 20);
    c->work += bytes;
    return 0;
}

/* Applies a string function to a string, or to each string of a list;
 * each string it reads and writes is charged. */
static json_t *apply_str(const tpl_fn *f, const json_t *x, json_t *const *args, evalctx *c) {
    cj_err *e = c->e;
    if (json_is_array(x)) {
        json_t *r = json_array();
        for (size_t i = 0; i < json_array_size(x); i++) {
            json_t *v = apply_str(f, json_array_get(x, i), args, c);
            if (!v) {
                json_decref(r);
                return NULL;
            }
            json_array_append_new(r, v);
        }
        return r;
    }
    if (!json_is_string(x)) {
        cj_fail(e, "%s: needs a string, not %s", f->name, tpl_type_name(x));
        return NULL;
    }
    if (charge(c, json_string_length(x))) return NULL;
    sb b;
    sb_init(&b);
    json_t *r = NULL;
    if (!f->str(json_string_value(x), json_string_length(x), args, &b, e) && !charge(c, b.len)) {
        r = json_stringn(b.s, b.len);
        if (!r) cj_fail(e, "%s: result is not valid UTF-8", f->name);
    }
    sb_free(&b);
    return r;
}

/* ---------- evaluation ---------- */

/* The expression as written, for error messages. */
static void describe(const tpl_node *n, sb *b) {
    switch (n->kind) {
    case TPL_FIELD: sb_puts(b, n->name); break;
    case TPL_GET:
        describe(n->kids[0], b);
        sb_printf(b, ".%s", n->name);
        break;
    case TPL_INDEX:
        describe(n->kids[0], b);
        sb_putc(b, '[');
        describe(n->kids[1], b);
        sb_putc(b, ']');
        break;
    case TPL_CALL:
        describe(n->kids[0], b);
        sb_printf(b, "|%s", n->fn->name);
        break;
    case TPL_LIT: {
        char *s = json_dumps(n->lit, JSON_ENCODE_ANY | JSON_COMPACT);
        sb_puts(b, s ? s : "?");
        free(s);
        break;
    }
    case TPL_LIST: sb_puts(b, "[...]"); break;
    case TPL_ADD:
    case TPL_SUB:
        describe(n->kids[0], b);
        sb_puts(b, n->kind == TPL_ADD ? " + " : " - ");
        describe(n->kids[1], b);
        break;
    }
}

/* Fails with "<expression>: <message>". */
static json_t *fail_node(const tpl_node *n, cj_err *e, const char *fmt, const char *a) {
    sb b;
    sb_init(&b);
    describe(n, &b);
    sb_puts(&b, ": ");
    sb_printf(&b, fmt, a);
    cj_fail(e, "%s", b.s);
    sb_free(&b);
    return NULL;
}

static json_t *eval(const tpl_node *n, evalctx *c);

static json_t *eval_field(const tpl_node *n, evalctx *c) {
    json_t *v = json_is_object(c->doc) ? json_object_get(c->doc, n->name) : NULL;
    /* `doc` is the whole doc (unless it has a field of that name), so
     * that keys which are not names can be reached: doc['Best Answer'] */
    if (!v && !strcmp(n->name, "doc") && c->doc) v = (json_t *)c->doc;
    if (!v) return fail_node(n, c->e, "%s", "no such field in the doc");
    return json_incref(v);
}

static json_t *eval_get(const tpl_node *n, evalctx *c) {
    json_t *o = eval(n->kids[0], c), *v = NULL;
    if (!o) return NULL;
    if (!json_is_object(o)) fail_node(n, c->e, "%s is not an object", tpl_type_name(o));
    else if (!(v = json_object_get(o, n->name))) fail_node(n, c->e, "%s", "no such field");
    else json_incref(v);
    json_decref(o);
    return v;
}

static json_t *eval_index(const tpl_node *n, evalctx *c) {
    cj_err *e = c->e;
    json_t *o = eval(n->kids[0], c);
    if (!o) return NULL;
    json_t *i = eval(n->kids[1], c), *r = NULL;
    if (!i) goto out;
    if (json_is_array(o) && json_is_integer(i)) {
        json_int_t k = json_integer_value(i), size = (json_int_t)json_array_size(o);
        if (k < 0) k += size;
        if (k < 0 || k >= size) {
            char m[80];
            snprintf(m, sizeof m, "index %lld out of range (%lld items)", (long long)json_integer_value(i),
                     (long long)size);
            fail_node(n, e, "%s", m);
        } else r = json_incref(json_array_get(o, (size_t)k));
    } else if (json_is_object(o) && json_is_string(i)) {
        r = json_object_get(o, json_string_value(i));
        if (r) json_incref(r);
        else fail_node(n, e, "no field '%s'", json_string_value(i));
    } else {
        char m[80];
        snprintf(m, sizeof m, "cannot index %s with %s", tpl_type_name(o), tpl_type_name(i));
        fail_node(n, e, "%s", m);
    }
out:
    json_decref(o);
    json_decref(i);
    return r;
}

/* Value functions are charged what they read and what they return. */
static json_t *eval_call(const tpl_node *n, evalctx *c) {
    json_t *args[4] = {NULL, NULL, NULL, NULL};
    json_t *x = eval(n->kids[0], c), *r = NULL;
    if (!x) return NULL;
    int nargs = n->n_kids - 1;
    for (int i = 0; i < nargs; i++)
        if (!(args[i] = eval(n->kids[i + 1], c))) goto out;
    if (n->fn->str) {
        r = apply_str(n->fn, x, args, c);
    } else if (!charge(c, value_cost(x)) && (r = n->fn->val(x, args, c->e)) && charge(c, value_cost(r))) {
        json_decref(r);
        r = NULL;
    }
out:
    json_decref(x);
    for (int i = 0; i < nargs; i++) json_decref(args[i]);
    return r;
}

static json_t *eval_list(const tpl_node *n, evalctx *c) {
    json_t *l = json_array();
    for (int i = 0; i < n->n_kids; i++) {
        json_t *v = eval(n->kids[i], c);
        if (!v) {
            json_decref(l);
            return NULL;
        }
        json_array_append_new(l, v);
    }
    return l;
}

static json_t *concat_strings(const json_t *l, const json_t *r, evalctx *c) {
    if (json_string_length(l) + json_string_length(r) > TPL_MAX_TEXT) {
        tpl_too_long("+", c->e);
        return NULL;
    }
    if (charge(c, json_string_length(l) + json_string_length(r))) return NULL;
    sb b;
    sb_init(&b);
    sb_putn(&b, json_string_value(l), json_string_length(l));
    sb_putn(&b, json_string_value(r), json_string_length(r));
    json_t *v = json_stringn(b.s, b.len);
    sb_free(&b);
    return v;
}

static json_t *concat_lists(json_t *l, json_t *r, evalctx *c) {
    if (json_array_size(l) + json_array_size(r) > TPL_MAX_ITEMS) {
        cj_fail(c->e, "+: the list would have more than %zu items", TPL_MAX_ITEMS);
        return NULL;
    }
    if (charge(c, value_cost(l) + value_cost(r))) return NULL;
    json_t *v = json_copy(l);
    json_array_extend(v, r);
    return v;
}

static json_t *eval_binop(const tpl_node *n, evalctx *c) {
    json_t *l = eval(n->kids[0], c), *r = NULL, *v = NULL;
    if (!l || !(r = eval(n->kids[1], c))) goto out;
    int add = n->kind == TPL_ADD;
    if (json_is_integer(l) && json_is_integer(r)) {
        json_int_t a = json_integer_value(l), b = json_integer_value(r), sum;
        if (add ? __builtin_add_overflow(a, b, &sum) : __builtin_sub_overflow(a, b, &sum))
            fail_node(n, c->e, "%s", "integer overflow");
        else v = json_integer(sum);
    } else if (add && json_is_string(l) && json_is_string(r)) {
        v = concat_strings(l, r, c);
    } else if (add && json_is_array(l) && json_is_array(r)) {
        v = concat_lists(l, r, c);
    } else {
        char m[96];
        snprintf(m, sizeof m, "cannot %s %s and %s", add ? "add" : "subtract", tpl_type_name(l), tpl_type_name(r));
        fail_node(n, c->e, "%s", m);
    }
out:
    json_decref(l);
    json_decref(r);
    return v;
}

static json_t *eval(const tpl_node *n, evalctx *c) {
    switch (n->kind) {
    case TPL_LIT: return json_incref(n->lit);
    case TPL_FIELD: return eval_field(n, c);
    case TPL_GET: return eval_get(n, c);
    case TPL_INDEX: return eval_index(n, c);
    case TPL_CALL: return eval_call(n, c);
    case TPL_LIST: return eval_list(n, c);
    case TPL_ADD:
    case TPL_SUB: return eval_binop(n, c);
    }
    return NULL;
}

/* The text goes to out; every part's text is charged too, so that a
 * template repeating a long field thousands of times is refused. */
static int render(const tpl *t, evalctx *c, sb *out) {
    cj_err *e = c->e;
    for (int i = 0; i < t->n_parts; i++) {
        json_t *v = eval(t->parts[i], c);
        if (!v) return -1;
        size_t before = out->len;
        int rc = tpl_value_text(v, out, e);
        json_decref(v);
        if (!rc && charge(c, out->len - before)) return -1;
        if (rc) {
            sb m;
            sb_init(&m);
            describe(t->parts[i], &m);
            cj_wrap(e, "%s", m.s);
            sb_free(&m);
            return -1;
        }
    }
    return 0;
}

int tpl_render(const tpl *t, const json_t *doc, sb *out, cj_err *e) {
    evalctx c = {doc, e, 0};
    return render(t, &c, out);
}

int tpl_eval(const tpl *t, const json_t *doc, json_t **out, cj_err *e) {
    evalctx c = {doc, e, 0};
    if (t->is_expr) {
        *out = eval(t->parts[0], &c);
        return *out ? 0 : -1;
    }
    sb b;
    sb_init(&b);
    int rc = render(t, &c, &b);
    *out = rc ? NULL : json_stringn(b.s, b.len);
    sb_free(&b);
    if (!rc && !*out) return cj_fail(e, "template result is not valid UTF-8");
    return rc;
}
