/* template — evaluation of expression trees over jansson values, with
 * Python's operators and Jinja's undefined names (template_impl.h:
 * tpl_eval_node). Every step returns a new reference, or NULL with the
 * error. Task templates are strict: a missing field is an error naming the
 * expression as written (unless tested with "is defined" or given a
 * "default"); chat templates follow jinja2, where a missing name or field
 * is Undefined and only using it fails, with jinja2's own message.
 * Evaluation is bounded: a replace chain doubles a string per step, so a
 * few hundred bytes of template could otherwise ask for any amount of
 * memory and time; every function call, operator, loop step and output is
 * charged to one budget. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

/* ---------- values ---------- */

const char *tpl_type_name(const json_t *v) {
    if (tpl_is_undef(v)) return "undefined";
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

int tpl_charge(tpl_ctx *c, size_t bytes) {
    if (bytes > TPL_MAX_WORK - c->work)
        return cj_fail(c->e, "the template does more than %zu MiB of work on this doc", TPL_MAX_WORK >> 20);
    c->work += bytes;
    return 0;
}

/* The expression as written, for the messages of task templates. */
static void describe(const tpl_node *n, sb *b) {
    switch (n->kind) {
    case TPL_FIELD:
    case TPL_FCALL: sb_puts(b, n->name); break;
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
    case TPL_BIN:
        describe(n->kids[0], b);
        sb_puts(b, n->op == TPL_ADD ? " + " : n->op == TPL_SUB ? " - " : " op ");
        describe(n->kids[1], b);
        break;
    default: sb_puts(b, "(...)");
    }
}

/* Fails with "<expression>: <message>" in a task template, with the
 * message alone in a chat template (jinja2's messages are the contract). */
static json_t *fail_node(const tpl_node *n, tpl_ctx *c, const char *fmt, const char *a) {
    sb b;
    sb_init(&b);
    if (!c->chat) {
        describe(n, &b);
        sb_puts(&b, ": ");
    }
    sb_printf(&b, fmt, a);
    cj_fail(c->e, "%s", b.s);
    sb_free(&b);
    return NULL;
}

/* Using an undefined value is an error with its message. */
static json_t *undef_fail(const json_t *u, tpl_ctx *c) {
    cj_fail(c->e, "%s", tpl_undef_msg(u));
    return NULL;
}

/* A missing field or item: Undefined where jinja2 makes one, else the
 * task template's error. */
static json_t *missing(const tpl_node *n, tpl_ctx *c, const char *undef_fmt, const char *arg, const char *strict_msg) {
    if (c->chat || c->soft) return tpl_undef(undef_fmt, arg);
    return fail_node(n, c, "%s", strict_msg);
}

json_t *tpl_lookup(tpl_ctx *c, const char *name) {
    for (tpl_frame *f = c->top; f; f = f->parent) {
        json_t *v = json_object_get(f->vars, name);
        if (v) return v;
    }
    json_t *v = json_is_object(c->doc) ? json_object_get(c->doc, name) : NULL;
    /* `doc` is the whole doc (unless it has a field of that name), so
     * that keys which are not names can be reached: doc['Best Answer'] */
    if (!v && !c->chat && !strcmp(name, "doc") && c->doc) v = (json_t *)c->doc;
    return v;
}

static json_t *eval_field(const tpl_node *n, tpl_ctx *c) {
    json_t *v = tpl_lookup(c, n->name);
    if (v) return json_incref(v);
    return missing(n, c, "'%s' is undefined", n->name, "no such field in the doc");
}

static json_t *eval_get(const tpl_node *n, tpl_ctx *c) {
    json_t *o = tpl_eval_node(n->kids[0], c), *v = NULL;
    if (!o) return NULL;
    if (tpl_is_undef(o)) undef_fail(o, c);
    else if (!json_is_object(o) || tpl_macro_index(o) >= 0) {
        char m[64];
        snprintf(m, sizeof m, "'%s object' has no attribute '%%s'", tpl_py_type(o));
        v = c->chat || c->soft ? tpl_undef(m, n->name) : fail_node(n, c, "%s is not an object", tpl_type_name(o));
    } else if ((v = json_object_get(o, n->name)) && n->name[0] != '\x01') json_incref(v);
    else v = missing(n, c, "'dict object' has no attribute '%s'", n->name, "no such field");
    json_decref(o);
    return v;
}

/* s[k] of a string: the k-th code point. */
static json_t *string_at(const json_t *s, json_int_t k) {
    const char *p = json_string_value(s);
    size_t n = json_string_length(s), count = 0;
    for (size_t i = 0; i < n; i++) count += ((unsigned char)p[i] & 0xC0) != 0x80;
    if (k < 0) k += (json_int_t)count;
    if (k < 0 || k >= (json_int_t)count) return NULL;
    size_t i = 0;
    for (json_int_t at = -1;; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80 && ++at == k) break;
    size_t j = i + 1;
    while (j < n && ((unsigned char)p[j] & 0xC0) == 0x80) j++;
    return json_stringn(p + i, j - i);
}

static json_t *eval_index(const tpl_node *n, tpl_ctx *c) {
    json_t *o = tpl_eval_node(n->kids[0], c);
    if (!o) return NULL;
    json_t *i = tpl_eval_node(n->kids[1], c), *r = NULL;
    char m[96];
    if (!i) goto out;
    if (tpl_is_undef(o)) undef_fail(o, c);
    else if (json_is_array(o) && json_is_integer(i)) {
        json_int_t k = json_integer_value(i), size = (json_int_t)json_array_size(o);
        if (k < 0) k += size;
        snprintf(m, sizeof m, "index %lld out of range (%lld items)", (long long)json_integer_value(i), (long long)size);
        if (k < 0 || k >= size) r = missing(n, c, "%s", "list object has no element", m);
        else r = json_incref(json_array_get(o, (size_t)k));
    } else if (json_is_object(o) && json_is_string(i)) {
        const char *k = json_string_value(i);
        r = k[0] == '\x01' ? NULL : json_object_get(o, k);
        if (r) json_incref(r);
        else {
            snprintf(m, sizeof m, "no field '%.60s'", k);
            r = missing(n, c, "'dict object' has no attribute '%s'", k, m);
        }
    } else if (json_is_string(o) && json_is_integer(i) && (r = string_at(o, json_integer_value(i)))) {
    } else {
        snprintf(m, sizeof m, "cannot index %s with %s", tpl_type_name(o), tpl_type_name(i));
        r = missing(n, c, "%s", "no such element", m);
    }
out:
    json_decref(o);
    json_decref(i);
    return r;
}

/* An optional slice bound: *has 0 when absent or none. */
static int slice_bound(const tpl_node *n, tpl_ctx *c, json_int_t *v, int *has) {
    *has = 0;
    if (!n) return 0;
    json_t *x = tpl_eval_node(n, c);
    if (!x) return -1;
    int rc = 0;
    if (json_is_integer(x)) *has = 1, *v = json_integer_value(x);
    else if (!json_is_null(x)) rc = cj_fail(c->e, "slice indices must be integers or None");
    json_decref(x);
    return rc;
}

/* Python's slice of a list or a string (by code point). */
static json_t *eval_slice(const tpl_node *n, tpl_ctx *c) {
    json_int_t b[3] = {0, 0, 1};
    int has[3];
    for (int k = 0; k < 3; k++)
        if (slice_bound(n->kids[k + 1], c, &b[k], &has[k])) return NULL;
    if (has[2] && b[2] == 0) return fail_node(n, c, "%s", "slice step cannot be zero");
    json_int_t step = has[2] ? b[2] : 1;
    json_t *o = tpl_eval_node(n->kids[0], c);
    if (!o) return NULL;
    json_t *items = json_is_string(o) ? json_array() : NULL;
    if (items)
        for (json_int_t k = 0;; k++) {
            json_t *ch = string_at(o, k);
            if (!ch) break;
            json_array_append_new(items, ch);
        }
    const json_t *l = items ? items : o;
    json_t *r = NULL;
    if (!json_is_array(l)) {
        r = tpl_is_undef(o) ? undef_fail(o, c) : fail_node(n, c, "cannot slice %s", tpl_type_name(o));
    } else {
        json_int_t len = (json_int_t)json_array_size(l), lo = step > 0 ? 0 : -1, hi = step > 0 ? len : len - 1;
        json_int_t start = has[0] ? (b[0] < 0 ? b[0] + len : b[0]) : (step > 0 ? 0 : len - 1);
        json_int_t stop = has[1] ? (b[1] < 0 ? b[1] + len : b[1]) : (step > 0 ? len : -1);
        start = start < lo ? lo : start > hi ? hi : start;
        if (has[1]) stop = stop < lo ? lo : stop > hi ? hi : stop;
        r = json_array();
        for (json_int_t k = start; step > 0 ? k < stop : k > stop; k += step) json_array_append(r, json_array_get(l, (size_t)k));
        if (items) {
            sb s;
            sb_init(&s);
            for (size_t k = 0; k < json_array_size(r); k++) tpl_py_str(json_array_get(r, k), &s);
            json_decref(r);
            r = json_stringn(s.s, s.len);
            sb_free(&s);
        }
    }
    json_decref(items);
    json_decref(o);
    return r;
}

/* Applies a string function to a string, or to each string of a list;
 * each string it reads and writes is charged. */
static json_t *apply_str(const tpl_fn *f, const json_t *x, json_t *const *args, tpl_ctx *c) {
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
    if (c->chat && !json_is_string(x) && (!json_is_object(x) || tpl_is_undef(x))) {
        sb t; /* jinja2's string filters take str() of what they get */
        sb_init(&t);
        tpl_py_str(x, &t);
        json_t *s = json_stringn(t.s, t.len);
        sb_free(&t);
        json_t *r = s ? apply_str(f, s, args, c) : NULL;
        json_decref(s);
        return r;
    }
    if (!json_is_string(x)) {
        cj_fail(e, "%s: needs a string, not %s", f->name, tpl_type_name(x));
        return NULL;
    }
    if (tpl_charge(c, json_string_length(x))) return NULL;
    sb b;
    sb_init(&b);
    json_t *r = NULL;
    if (!f->str(json_string_value(x), json_string_length(x), args, &b, e) && !tpl_charge(c, b.len)) {
        r = json_stringn(b.s, b.len);
        if (!r) cj_fail(e, "%s: result is not valid UTF-8", f->name);
    }
    sb_free(&b);
    return r;
}

/* Value functions are charged what they read and what they return. */
static json_t *eval_call(const tpl_node *n, tpl_ctx *c) {
    json_t *args[TPL_MAX_ARGS] = {NULL};
    int soft = !strcmp(n->fn->name, "default") || !strcmp(n->fn->name, "d");
    c->soft += soft;
    json_t *x = tpl_eval_node(n->kids[0], c), *r = NULL;
    c->soft -= soft;
    if (!x) return NULL;
    int nargs = n->n_kids - 1;
    for (int i = 0; i < nargs; i++)
        if (n->kids[i + 1] && !(args[i] = tpl_eval_node(n->kids[i + 1], c))) goto out;
    if (n->fn->str) {
        r = apply_str(n->fn, x, args, c);
    } else if (!tpl_charge(c, value_cost(x)) && (r = n->fn->val(x, args, c->e)) && tpl_charge(c, value_cost(r))) {
        json_decref(r);
        r = NULL;
    }
out:
    json_decref(x);
    for (int i = 0; i < nargs; i++) json_decref(args[i]);
    return r;
}

static json_t *eval_list(const tpl_node *n, tpl_ctx *c) {
    json_t *l = n->kind == TPL_DICT ? json_object() : json_array();
    for (int i = 0; i < n->n_kids; i++) {
        json_t *v = tpl_eval_node(n->kids[i], c), *k = NULL;
        if (v && n->kind == TPL_DICT) {
            k = v;
            v = tpl_eval_node(n->kids[++i], c);
        }
        if (!v) {
            json_decref(k);
            json_decref(l);
            return NULL;
        }
        if (!k) {
            json_array_append_new(l, v);
            continue;
        }
        sb s;
        sb_init(&s);
        tpl_py_str(k, &s);
        json_object_setn_new(l, s.s ? s.s : "", s.len, v);
        sb_free(&s);
        json_decref(k);
    }
    return l;
}

static json_t *eval_bin(const tpl_node *n, tpl_ctx *c) {
    json_t *l = tpl_eval_node(n->kids[0], c), *r = NULL, *v = NULL;
    if (l && (r = tpl_eval_node(n->kids[1], c))) v = tpl_eval_binop(n, l, r, c);
    json_decref(l);
    json_decref(r);
    return v;
}

static json_t *eval_logic(const tpl_node *n, tpl_ctx *c) {
    json_t *x = tpl_eval_node(n->kids[n->kind == TPL_COND], c); /* a conditional's condition is its second kid */
    if (!x) return NULL;
    switch (n->kind) {
    case TPL_NOT: {
        int t = tpl_truthy(x);
        json_decref(x);
        return json_boolean(!t);
    }
    case TPL_NEG: {
        json_t *r = NULL;
        if (json_is_integer(x) && json_integer_value(x) != INT64_MIN) r = json_integer(-json_integer_value(x));
        else if (tpl_is_num(x) && !json_is_integer(x)) r = json_real(-tpl_num(x));
        else if (tpl_is_undef(x)) undef_fail(x, c);
        else fail_node(n, c, "bad operand type for unary -: '%s'", tpl_py_type(x));
        json_decref(x);
        return r;
    }
    case TPL_COND: {
        int t = tpl_truthy(x);
        json_decref(x);
        if (t) return tpl_eval_node(n->kids[0], c);
        return n->kids[2] ? tpl_eval_node(n->kids[2], c) : tpl_undef("%s", "the inline if has no else");
    }
    default: /* and, or: Python's, which return an operand */
        if (tpl_truthy(x) == (n->kind == TPL_OR)) return x;
        json_decref(x);
        return tpl_eval_node(n->kids[1], c);
    }
}

static json_t *eval_test(const tpl_node *n, tpl_ctx *c) {
    int soft = !strcmp(n->name, "defined") || !strcmp(n->name, "undefined");
    c->soft += soft;
    json_t *x = tpl_eval_node(n->kids[0], c), *a = NULL;
    c->soft -= soft;
    if (!x) return NULL;
    int t = -1;
    if (n->n_kids < 2 || (a = tpl_eval_node(n->kids[1], c))) t = tpl_test(n->name, x, a, c->e);
    json_decref(x);
    json_decref(a);
    return t < 0 ? NULL : json_boolean(t != n->negate);
}

json_t *tpl_eval_node(const tpl_node *n, tpl_ctx *c) {
    switch (n->kind) {
    case TPL_LIT: return json_incref(n->lit);
    case TPL_SELF: return json_incref((json_t *)c->self);
    case TPL_FIELD: return eval_field(n, c);
    case TPL_GET: return eval_get(n, c);
    case TPL_INDEX: return eval_index(n, c);
    case TPL_SLICE: return eval_slice(n, c);
    case TPL_CALL: return eval_call(n, c);
    case TPL_FCALL: return tpl_call_named(n, c);
    case TPL_LIST:
    case TPL_DICT: return eval_list(n, c);
    case TPL_BIN: return eval_bin(n, c);
    case TPL_TEST: return eval_test(n, c);
    default: return eval_logic(n, c);
    }
}
