/* template_filters — the Jinja filters and tests chat templates use
 * (length, default, items, map, select / reject and their attr forms,
 * list, first, last, unique, tojson, indent, string, ...; "is defined",
 * "is string", ...), with jinja2's semantics (transformers' tojson:
 * ensure_ascii off). The string functions of task templates are in
 * template_builtins.c; tpl_fn_find looks in both tables. A filter refuses
 * results past TPL_MAX_TEXT or TPL_MAX_ITEMS itself; its work is charged by
 * its caller (template.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

static json_t *fail_null(cj_err *e, const char *fmt, const char *a) {
    cj_fail(e, fmt, a);
    return NULL;
}

static json_t *text_of(const json_t *x) {
    sb b;
    sb_init(&b);
    tpl_py_str(x, &b);
    json_t *r = json_stringn(b.s ? b.s : "", b.len);
    sb_free(&b);
    return r;
}

/* ---------- tests ---------- */

static const struct {
    const char *name;
    int arity; /* 1: no argument, 2: one */
} TESTS[] = {{"defined", 1},  {"undefined", 1}, {"none", 1},    {"string", 1},      {"number", 1},  {"integer", 1},
             {"float", 1},    {"boolean", 1},   {"true", 1},    {"false", 1},       {"iterable", 1}, {"mapping", 1},
             {"sequence", 1}, {"callable", 1},  {"even", 1},    {"odd", 1},         {"lower", 1},   {"upper", 1},
             {"divisibleby", 2}, {"eq", 2},     {"equalto", 2}, {"ne", 2},          {"lt", 2},      {"gt", 2},
             {"le", 2},       {"ge", 2},        {"in", 2},      {"sameas", 2}};

int tpl_test_known(const char *name) {
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        if (!strcmp(TESTS[i].name, name)) return TESTS[i].arity;
    return 0;
}

static int case_test(const json_t *x, int upper) {
    if (!json_is_string(x)) return 0;
    const char *s = json_string_value(x);
    int cased = 0;
    for (; *s; s++) {
        if ((*s >= 'a' && *s <= 'z' && upper) || (*s >= 'A' && *s <= 'Z' && !upper)) return 0;
        cased |= (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
    }
    return cased;
}

static int order_test(const char *name, const json_t *x, const json_t *a, cj_err *e) {
    int r;
    if (tpl_py_cmp(x, a, name, &r, e)) return -1;
    return !strcmp(name, "lt") ? r < 0 : !strcmp(name, "gt") ? r > 0 : !strcmp(name, "le") ? r <= 0 : r >= 0;
}

int tpl_test(const char *name, const json_t *x, const json_t *a, cj_err *e) {
    int undef = tpl_is_undef(x);
    if (!a && tpl_test_known(name) == 2) /* select('equalto') and the like, their value left out */
        return cj_fail(e, "test '%s' needs a value to compare with", name);
    if (!strcmp(name, "defined")) return !undef;
    if (!strcmp(name, "undefined")) return undef;
    if (!strcmp(name, "none")) return json_is_null(x);
    if (!strcmp(name, "string")) return json_is_string(x);
    if (!strcmp(name, "number")) return tpl_is_num(x);
    if (!strcmp(name, "integer")) return json_is_integer(x);
    if (!strcmp(name, "float")) return json_is_real(x);
    if (!strcmp(name, "boolean")) return json_is_boolean(x);
    if (!strcmp(name, "true")) return json_is_true(x);
    if (!strcmp(name, "false")) return json_is_false(x);
    if (!strcmp(name, "iterable")) return json_is_array(x) || json_is_string(x) || (json_is_object(x) && !undef);
    if (!strcmp(name, "mapping")) return json_is_object(x) && !undef && !tpl_is_namespace(x) && tpl_macro_index(x) < 0;
    if (!strcmp(name, "sequence")) return json_is_array(x) || json_is_string(x) || (json_is_object(x) && !undef);
    if (!strcmp(name, "callable")) return tpl_macro_index(x) >= 0;
    if (!strcmp(name, "even") || !strcmp(name, "odd")) {
        if (!json_is_integer(x)) return cj_fail(e, "%s: needs an integer, not %s", name, tpl_type_name(x));
        return (json_integer_value(x) % 2 == 0) == !strcmp(name, "even");
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) return case_test(x, !strcmp(name, "upper"));
    if (!strcmp(name, "divisibleby")) {
        if (!json_is_integer(x) || !json_is_integer(a) || !json_integer_value(a))
            return cj_fail(e, "divisibleby: needs integers, and a divisor other than 0");
        return json_integer_value(x) % json_integer_value(a) == 0;
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto")) return tpl_py_eq(x, a);
    if (!strcmp(name, "ne")) return !tpl_py_eq(x, a);
    if (!strcmp(name, "in")) return tpl_py_in(x, a, e);
    if (!strcmp(name, "sameas")) return json_typeof(x) == json_typeof(a) && (json_is_null(x) || json_is_boolean(x)) ? tpl_py_eq(x, a) : x == a;
    return order_test(name, x, a, e);
}

/* ---------- filters ---------- */

static json_t *f_length(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    if (tpl_is_undef(x)) return json_integer(0);
    const tpl_fn *len = tpl_fn_find("len");
    if (json_is_null(x) || tpl_is_num(x)) return fail_null(e, "object of type '%s' has no len()", tpl_py_type(x));
    return len->val(x, a, e);
}

static json_t *f_default(const json_t *x, json_t *const *a, cj_err *e) {
    (void)e;
    int use = tpl_is_undef(x) || (a[1] && tpl_truthy(a[1]) && !tpl_truthy(x));
    if (!use) return json_incref((json_t *)x);
    return a[0] ? json_incref(a[0]) : json_string("");
}

static json_t *f_items(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    json_t *r = json_array();
    if (tpl_is_undef(x)) return r;
    if (!json_is_object(x)) {
        json_decref(r);
        return fail_null(e, "items: needs a mapping, not %s", tpl_type_name(x));
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)x, k, v) {
        if (k[0] == '\x01') continue;
        json_array_append_new(r, json_pack("[sO]", k, v));
    }
    return r;
}

/* The attribute path "a.b" of an item; Undefined when absent. New. */
static json_t *attr_of(const json_t *item, const char *path) {
    json_t *v = (json_t *)item;
    char *dup = cj_xstrdup(path), *save = NULL;
    for (char *part = strtok_r(dup, ".", &save); part && v; part = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v) && part[0] >= '0' && part[0] <= '9') v = json_array_get(v, (size_t)atol(part));
        else v = json_is_object(v) && part[0] != '\x01' ? json_object_get(v, part) : NULL;
    }
    json_t *r = v ? json_incref(v) : tpl_undef("'dict object' has no attribute '%s'", path);
    free(dup);
    return r;
}

static json_t *need_list(const char *fname, const json_t *x, cj_err *e) {
    /* jinja2's map, select and reject walk nothing when given a false
     * value ("if value: for item in value"), None included. */
    int walks_falsy = !strcmp(fname, "map") || strstr(fname, "select") || strstr(fname, "reject");
    if (tpl_is_undef(x) || (walks_falsy && !tpl_truthy(x))) return json_array();
    if (json_is_array(x)) return json_incref((json_t *)x);
    if (json_is_object(x) || json_is_string(x)) {
        json_t *l = json_array();
        if (json_is_object(x)) {
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)x, k, v) json_array_append_new(l, json_string(k));
        } else
            for (const char *s = json_string_value(x); *s;) {
                size_t n = 1;
                while (((unsigned char)s[n] & 0xC0) == 0x80) n++;
                json_array_append_new(l, json_stringn(s, n));
                s += n;
            }
        return l;
    }
    cj_fail(e, "%s: '%s' object is not iterable", fname, tpl_py_type(x));
    return NULL;
}

/* select / reject / selectattr / rejectattr: keep the items whose value
 * (the item, or its attribute) passes the test (or is true). */
static json_t *select_items(const char *fname, const json_t *x, const json_t *attr, const json_t *test,
                            const json_t *arg, int keep, cj_err *e) {
    json_t *l = need_list(fname, x, e), *r = json_array();
    if (!l) {
        json_decref(r);
        return NULL;
    }
    if ((attr && !json_is_string(attr)) || (test && (!json_is_string(test) || !tpl_test_known(json_string_value(test))))) {
        json_decref(l);
        json_decref(r);
        return fail_null(e, "%s: needs an attribute name and a test name", fname);
    }
    for (size_t i = 0; i < json_array_size(l); i++) {
        json_t *it = json_array_get(l, i);
        json_t *v = attr ? attr_of(it, json_string_value(attr)) : json_incref(it);
        int t = test ? tpl_test(json_string_value(test), v, arg, e) : tpl_truthy(v);
        json_decref(v);
        if (t < 0) {
            json_decref(r);
            r = NULL;
            break;
        }
        if (t == keep) json_array_append(r, it);
    }
    json_decref(l);
    return r;
}

static json_t *f_selectattr(const json_t *x, json_t *const *a, cj_err *e) {
    return select_items("selectattr", x, a[0], a[1], a[2], 1, e);
}
static json_t *f_rejectattr(const json_t *x, json_t *const *a, cj_err *e) {
    return select_items("rejectattr", x, a[0], a[1], a[2], 0, e);
}
static json_t *f_select(const json_t *x, json_t *const *a, cj_err *e) {
    return select_items("select", x, NULL, a[0], a[1], 1, e);
}
static json_t *f_reject(const json_t *x, json_t *const *a, cj_err *e) {
    return select_items("reject", x, NULL, a[0], a[1], 0, e);
}

/* map('filter') applies a filter to each item; map(attribute='x') and, as
 * task templates always wrote it, map('x') take a field of each. */
static json_t *f_map(const json_t *x, json_t *const *a, cj_err *e) {
    const tpl_fn *f = a[0] && json_is_string(a[0]) ? tpl_fn_find(json_string_value(a[0])) : NULL;
    const json_t *attr = a[1] ? a[1] : f ? NULL : a[0];
    if ((!f && !attr) || (attr && !json_is_string(attr))) return fail_null(e, "%s", "map: needs a list and a field name");
    json_t *l = need_list("map", x, e), *r = json_array();
    for (size_t i = 0; l && i < json_array_size(l); i++) {
        json_t *it = json_array_get(l, i), *v;
        if (f) {
            json_t *none[TPL_MAX_ARGS] = {NULL};
            v = f->str ? NULL : f->val(it, none, e);
            if (f->str) fail_null(e, "map: use a value filter, not '%s'", f->name);
        } else {
            v = attr_of(it, json_string_value(attr));
            if (tpl_is_undef(v) && a[2]) json_decref(v), v = json_incref(a[2]);
            else if (tpl_is_undef(v) && !a[1]) {
                json_decref(v);
                cj_fail(e, "map: item %zu has no field '%s'", i, json_string_value(attr));
                v = NULL;
            }
        }
        if (!v) {
            json_decref(r);
            r = NULL;
            break;
        }
        json_array_append_new(r, v);
    }
    json_decref(l);
    return l ? r : (json_decref(r), NULL);
}

static json_t *f_list(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    json_t *l = need_list("list", x, e);
    json_t *r = l ? json_copy(l) : NULL;
    json_decref(l);
    return r;
}

static json_t *first_last(const char *fname, const json_t *x, cj_err *e, int last) {
    json_t *l = need_list(fname, x, e);
    if (!l) return NULL;
    size_t n = json_array_size(l);
    json_t *r = n ? json_incref(json_array_get(l, last ? n - 1 : 0)) : tpl_undef("%s", "No first item, sequence was empty.");
    json_decref(l);
    return r;
}
static json_t *f_first(const json_t *x, json_t *const *a, cj_err *e) { return (void)a, first_last("first", x, e, 0); }
static json_t *f_last(const json_t *x, json_t *const *a, cj_err *e) { return (void)a, first_last("last", x, e, 1); }

static json_t *f_unique(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    json_t *l = need_list("unique", x, e), *r = json_array();
    for (size_t i = 0; l && i < json_array_size(l); i++) {
        json_t *it = json_array_get(l, i);
        if (!tpl_py_in(it, r, e)) json_array_append(r, it);
    }
    json_decref(l);
    return l ? r : (json_decref(r), NULL);
}

static json_t *f_reverse(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    if (json_is_string(x)) return fail_null(e, "%s", "reverse: use a list");
    json_t *l = need_list("reverse", x, e), *r = json_array();
    for (size_t i = json_array_size(l); l && i > 0; i--) json_array_append(r, json_array_get(l, i - 1));
    json_decref(l);
    return l ? r : (json_decref(r), NULL);
}

static json_t *f_tojson(const json_t *x, json_t *const *a, cj_err *e) {
    if (a[0] && !json_is_integer(a[0]) && !json_is_null(a[0])) return fail_null(e, "%s", "tojson: indent must be an integer");
    int indent = a[0] && json_is_integer(a[0]) ? (int)json_integer_value(a[0]) : -1;
    if (indent > 64) indent = 64;
    sb b;
    sb_init(&b);
    json_t *r = NULL;
    if (!tpl_json_dumps(x, indent, &b, e)) r = b.len > TPL_MAX_TEXT ? (tpl_too_long("tojson", e), NULL) : json_stringn(b.s, b.len);
    sb_free(&b);
    return r;
}

/* jinja2's indent: every line but the first (and blank ones unless blank)
 * gains width spaces; first=true indents the first line too. */
static json_t *f_indent(const json_t *x, json_t *const *a, cj_err *e) {
    int width = a[0] && json_is_integer(a[0]) ? (int)json_integer_value(a[0]) : 4;
    if (width < 0 || width > 256) return fail_null(e, "%s", "indent: width out of range");
    int first = a[1] && tpl_truthy(a[1]), blank = a[2] && tpl_truthy(a[2]);
    json_t *s = text_of(x);
    const char *p = json_string_value(s);
    size_t n = json_string_length(s);
    sb b;
    sb_init(&b);
    for (size_t i = 0, line = 0; i <= n; line++) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r') j++;
        if (i == n && line > 0) break; /* what follows the last newline */
        if (line > 0) sb_putc(&b, '\n');
        if ((line > 0 || first) && (blank || j > i))
            for (int k = 0; k < width; k++) sb_putc(&b, ' ');
        sb_putn(&b, p + i, j - i);
        if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n') j++;
        i = j + 1;
    }
    json_t *r = b.len > TPL_MAX_TEXT ? (tpl_too_long("indent", e), NULL) : json_stringn(b.s ? b.s : "", b.len);
    sb_free(&b);
    json_decref(s);
    return r;
}

static json_t *f_safe(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a, (void)e;
    return json_incref((json_t *)x);
}

static json_t *f_string(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a, (void)e;
    return text_of(x);
}

static json_t *f_float(const json_t *x, json_t *const *a, cj_err *e) {
    (void)e;
    if (tpl_is_num(x)) return json_real(tpl_num(x));
    char *end;
    double d = json_is_string(x) ? strtod(json_string_value(x), &end) : 0;
    if (json_is_string(x) && end != json_string_value(x) && !*end && isfinite(d)) return json_real(d);
    return a[0] ? json_incref(a[0]) : json_real(0);
}

static json_t *f_abs(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    if (json_is_integer(x) && json_integer_value(x) != INT64_MIN) return json_integer(llabs(json_integer_value(x)));
    if (json_is_real(x)) return json_real(fabs(json_real_value(x)));
    return fail_null(e, "bad operand type for abs(): '%s'", tpl_py_type(x));
}

/* dict.get(key, default=None). */
static json_t *f_get(const json_t *x, json_t *const *a, cj_err *e) {
    if (!json_is_object(x) || tpl_is_undef(x)) return fail_null(e, "get: needs a mapping, not %s", tpl_type_name(x));
    json_t *v = json_is_string(a[0]) && json_string_value(a[0])[0] != '\x01' ? json_object_get(x, json_string_value(a[0])) : NULL;
    return v ? json_incref(v) : a[1] ? json_incref(a[1]) : json_null();
}

static json_t *starts_ends(const char *fname, const json_t *x, const json_t *a, cj_err *e, int ends) {
    if (!json_is_string(x) || !json_is_string(a)) return fail_null(e, "%s: needs strings", fname);
    size_t n = json_string_length(x), k = json_string_length(a);
    const char *s = json_string_value(x);
    return json_boolean(k <= n && !memcmp(ends ? s + n - k : s, json_string_value(a), k));
}
static json_t *f_startswith(const json_t *x, json_t *const *a, cj_err *e) { return starts_ends("startswith", x, a[0], e, 0); }
static json_t *f_endswith(const json_t *x, json_t *const *a, cj_err *e) { return starts_ends("endswith", x, a[0], e, 1); }

/* By kind: sizes and defaults; picking items; building lists; writing
 * text; numbers; methods of dicts and strings. */
const tpl_fn tpl_jinja_fns[] = {
    {"length", 0, 0, NULL, f_length, NULL}, {"count", 0, 0, NULL, f_length, NULL},
    {"default", 0, 2, NULL, f_default, "default_value,boolean"}, {"d", 0, 2, NULL, f_default, "default_value,boolean"},
    {"items", 0, 0, NULL, f_items, NULL}, {"selectattr", 1, 3, NULL, f_selectattr, NULL},
    {"rejectattr", 1, 3, NULL, f_rejectattr, NULL}, {"select", 0, 2, NULL, f_select, NULL},
    {"reject", 0, 2, NULL, f_reject, NULL}, {"map", 0, 3, NULL, f_map, "name,attribute,default"},
    {"list", 0, 0, NULL, f_list, NULL}, {"first", 0, 0, NULL, f_first, NULL}, {"last", 0, 0, NULL, f_last, NULL},
    {"unique", 0, 0, NULL, f_unique, NULL}, {"reverse", 0, 0, NULL, f_reverse, NULL},
    {"tojson", 0, 1, NULL, f_tojson, "indent"}, {"indent", 0, 3, NULL, f_indent, "width,first,blank"},
    {"safe", 0, 0, NULL, f_safe, NULL}, {"string", 0, 0, NULL, f_string, NULL},
    {"float", 0, 1, NULL, f_float, "default"}, {"abs", 0, 0, NULL, f_abs, NULL},
    {"get", 1, 2, NULL, f_get, NULL}, {"startswith", 1, 1, NULL, f_startswith, NULL},
    {"endswith", 1, 1, NULL, f_endswith, NULL}, {NULL, 0, 0, NULL, NULL, NULL},
};
