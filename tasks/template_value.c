/* template_value — Python's value semantics over jansson values, as jinja2
 * applies them: truth, str() and repr(), ==, ordering, "in", json.dumps
 * (transformers' tojson), and the values Python has and JSON has not —
 * Jinja's Undefined, namespace() objects and macros, each a JSON object
 * marked by a key no JSON text of ours starts with ("\x01..."). Values are
 * borrowed unless a function says it returns a new reference. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

#define UNDEF_KEY "\x01undefined"
#define NS_KEY "\x01namespace"
#define MACRO_KEY "\x01macro"

json_t *tpl_undef(const char *fmt, const char *arg) {
    char m[300];
    snprintf(m, sizeof m, fmt, arg);
    json_t *u = json_object();
    json_t *s = json_string(m);
    json_object_set_new(u, UNDEF_KEY, s ? s : json_string("undefined"));
    return u;
}

int tpl_is_undef(const json_t *v) { return json_is_object(v) && json_is_string(json_object_get(v, UNDEF_KEY)); }

const char *tpl_undef_msg(const json_t *v) { return json_string_value(json_object_get(v, UNDEF_KEY)); }

json_t *tpl_namespace(void) {
    json_t *n = json_object();
    json_object_set_new(n, NS_KEY, json_true());
    return n;
}

int tpl_is_namespace(const json_t *v) { return json_is_object(v) && json_object_get(v, NS_KEY) != NULL; }

json_t *tpl_macro_value(int i) {
    json_t *m = json_object();
    json_object_set_new(m, MACRO_KEY, json_integer(i));
    return m;
}

int tpl_macro_index(const json_t *v) {
    json_t *i = json_is_object(v) ? json_object_get(v, MACRO_KEY) : NULL;
    return json_is_integer(i) && json_integer_value(i) >= 0 && json_integer_value(i) < INT32_MAX ? (int)json_integer_value(i) : -1;
}

static int is_hidden_key(const char *k) { return k[0] == '\x01'; }

const char *tpl_py_type(const json_t *v) {
    if (tpl_is_undef(v)) return "Undefined";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return tpl_is_namespace(v) ? "Namespace" : tpl_macro_index(v) >= 0 ? "Macro" : "dict";
    case JSON_ARRAY: return "list";
    case JSON_STRING: return "str";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "NoneType";
    }
}

int tpl_is_num(const json_t *v) { return json_is_number(v) || json_is_boolean(v); }

double tpl_num(const json_t *v) {
    return json_is_boolean(v) ? (double)json_is_true(v) : json_number_value(v);
}

int tpl_truthy(const json_t *v) {
    if (tpl_is_undef(v)) return 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return tpl_is_namespace(v) || tpl_macro_index(v) >= 0 || json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_TRUE: return 1;
    default: return 0;
    }
}

/* Python's float repr: the shortest form that reads back the same. */
static void float_repr(double d, sb *out) {
    if (isnan(d)) {
        sb_puts(out, "nan");
        return;
    }
    if (isinf(d)) {
        sb_puts(out, d < 0 ? "-inf" : "inf");
        return;
    }
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* Python writes 1e+16 but 1234567.0, and two exponent digits at least. */
    sb_puts(out, buf);
    if (!strpbrk(buf, ".eEn")) sb_puts(out, ".0");
}

/* repr() of a string: single quotes unless it holds one and no double. */
static void str_repr(const char *s, size_t n, sb *out) {
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    sb_putc(out, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == (unsigned char)q) {
            sb_putc(out, '\\');
            sb_putc(out, (char)c);
        } else if (c == '\n') sb_puts(out, "\\n");
        else if (c == '\r') sb_puts(out, "\\r");
        else if (c == '\t') sb_puts(out, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_printf(out, "\\x%02x", c);
        else sb_putc(out, (char)c);
    }
    sb_putc(out, q);
}

static void container_str(const json_t *v, sb *out) {
    if (json_is_array(v)) {
        sb_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) sb_puts(out, ", ");
            tpl_py_repr(json_array_get(v, i), out);
        }
        sb_putc(out, ']');
        return;
    }
    const char *k;
    json_t *x;
    int first = 1;
    sb_putc(out, '{');
    json_object_foreach((json_t *)v, k, x) {
        if (is_hidden_key(k)) continue;
        if (!first) sb_puts(out, ", ");
        first = 0;
        str_repr(k, strlen(k), out);
        sb_puts(out, ": ");
        tpl_py_repr(x, out);
    }
    sb_putc(out, '}');
}

void tpl_py_str(const json_t *v, sb *out) {
    if (tpl_is_undef(v)) return;
    if (tpl_is_namespace(v)) {
        sb_puts(out, "<Namespace>");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: sb_putn(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: sb_printf(out, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: float_repr(json_real_value(v), out); break;
    case JSON_TRUE: sb_puts(out, "True"); break;
    case JSON_FALSE: sb_puts(out, "False"); break;
    case JSON_NULL: sb_puts(out, "None"); break;
    default: container_str(v, out);
    }
}

void tpl_py_repr(const json_t *v, sb *out) {
    if (json_is_string(v)) str_repr(json_string_value(v), json_string_length(v), out);
    else tpl_py_str(v, out);
}

int tpl_py_eq(const json_t *a, const json_t *b) {
    if (tpl_is_num(a) && tpl_is_num(b)) {
        if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
        return tpl_num(a) == tpl_num(b);
    }
    if (tpl_is_undef(a) || tpl_is_undef(b)) return tpl_is_undef(a) && tpl_is_undef(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!tpl_py_eq(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)a, k, x) {
            json_t *y = json_object_get(b, k);
            if (!y || !tpl_py_eq(x, y)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

int tpl_py_cmp(const json_t *a, const json_t *b, const char *op, int *r, cj_err *e) {
    if (tpl_is_num(a) && tpl_is_num(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            *r = (json_integer_value(a) > json_integer_value(b)) - (json_integer_value(a) < json_integer_value(b));
        else *r = (tpl_num(a) > tpl_num(b)) - (tpl_num(a) < tpl_num(b));
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        size_t na = json_string_length(a), nb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), na < nb ? na : nb);
        *r = c ? c : (na > nb) - (na < nb);
        return 0;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na && i < nb; i++) {
            if (tpl_py_eq(json_array_get(a, i), json_array_get(b, i))) continue;
            return tpl_py_cmp(json_array_get(a, i), json_array_get(b, i), op, r, e);
        }
        *r = (na > nb) - (na < nb);
        return 0;
    }
    return cj_fail(e, "'%s' not supported between instances of '%s' and '%s'", op, tpl_py_type(a), tpl_py_type(b));
}

int tpl_py_in(const json_t *x, const json_t *c, cj_err *e) {
    if (tpl_is_undef(c)) return 0;
    if (json_is_string(c)) {
        if (!json_is_string(x))
            return cj_fail(e, "'in <string>' requires string as left operand, not %s", tpl_py_type(x));
        size_t n = json_string_length(x), h = json_string_length(c);
        const char *s = json_string_value(c);
        if (!n) return 1;
        for (size_t i = 0; i + n <= h; i++)
            if (!memcmp(s + i, json_string_value(x), n)) return 1;
        return 0;
    }
    if (json_is_array(c)) {
        for (size_t i = 0; i < json_array_size(c); i++)
            if (tpl_py_eq(x, json_array_get(c, i))) return 1;
        return 0;
    }
    if (json_is_object(c)) return json_is_string(x) && !is_hidden_key(json_string_value(x)) && json_object_get(c, json_string_value(x));
    return cj_fail(e, "argument of type '%s' is not iterable", tpl_py_type(c));
}

/* json.dumps's string: ensure_ascii off, so only '"', '\\' and the control
 * characters are escaped. */
static void json_str(const char *s, size_t n, sb *out) {
    sb_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_puts(out, "\\\""); break;
        case '\\': sb_puts(out, "\\\\"); break;
        case '\n': sb_puts(out, "\\n"); break;
        case '\r': sb_puts(out, "\\r"); break;
        case '\t': sb_puts(out, "\\t"); break;
        case '\b': sb_puts(out, "\\b"); break;
        case '\f': sb_puts(out, "\\f"); break;
        default:
            if (c < 0x20) sb_printf(out, "\\u%04x", c);
            else sb_putc(out, (char)c);
        }
    }
    sb_putc(out, '"');
}

static void newline_indent(sb *out, int indent, int level) {
    sb_putc(out, '\n');
    for (int i = 0; i < indent * level; i++) sb_putc(out, ' ');
}

static int dumps(const json_t *v, int indent, int level, sb *out, cj_err *e) {
    if (level > 200) return cj_fail(e, "tojson: value nested too deeply");
    if (tpl_is_undef(v) || tpl_is_namespace(v) || tpl_macro_index(v) >= 0)
        return cj_fail(e, "Object of type %s is not JSON serializable", tpl_py_type(v));
    const char *sep = indent >= 0 ? "," : ", ";
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        sb_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) sb_puts(out, sep);
            if (indent >= 0) newline_indent(out, indent, level + 1);
            if (dumps(json_array_get(v, i), indent, level + 1, out, e)) return -1;
        }
        if (n && indent >= 0) newline_indent(out, indent, level);
        sb_putc(out, ']');
        return 0;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int first = 1;
        sb_putc(out, '{');
        json_object_foreach((json_t *)v, k, x) {
            if (!first) sb_puts(out, sep);
            first = 0;
            if (indent >= 0) newline_indent(out, indent, level + 1);
            json_str(k, strlen(k), out);
            sb_puts(out, ": ");
            if (dumps(x, indent, level + 1, out, e)) return -1;
        }
        if (!first && indent >= 0) newline_indent(out, indent, level);
        sb_putc(out, '}');
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: json_str(json_string_value(v), json_string_length(v), out); break;
    case JSON_TRUE: sb_puts(out, "true"); break;
    case JSON_FALSE: sb_puts(out, "false"); break;
    case JSON_NULL: sb_puts(out, "null"); break;
    case JSON_REAL:
        if (isnan(json_real_value(v))) sb_puts(out, "NaN");
        else if (isinf(json_real_value(v))) sb_puts(out, json_real_value(v) < 0 ? "-Infinity" : "Infinity");
        else float_repr(json_real_value(v), out);
        break;
    default: tpl_py_str(v, out);
    }
    return 0;
}

int tpl_json_dumps(const json_t *v, int indent, sb *out, cj_err *e) { return dumps(v, indent, 0, out, e); }
