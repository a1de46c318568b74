/* template_ops — the binary operators of the template engine with Python's
 * semantics (+ - * / // % ~, comparisons, in / not in), and how a task
 * template writes a value as text (template.h: tpl_value_text). Integer
 * overflow, division by zero and mismatched types are errors; strings and
 * lists built here are bounded by TPL_MAX_TEXT / TPL_MAX_ITEMS and charged
 * to the evaluation's budget. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "template_impl.h"

int tpl_value_text(const json_t *v, sb *out, cj_err *e) {
    switch (json_typeof(v)) {
    case JSON_STRING:
    case JSON_INTEGER:
    case JSON_TRUE:
    case JSON_FALSE:
    case JSON_REAL: tpl_py_str(v, out); return 0;
    default: return cj_fail(e, "cannot write %s as text", tpl_type_name(v));
    }
}

static const char *op_text(tpl_op op) {
    static const char *const T[] = {"+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in"};
    return T[op];
}

static json_t *type_error(const json_t *l, const json_t *r, tpl_op op, tpl_ctx *c) {
    if (!c->chat) {
        cj_fail(c->e, "cannot %s %s and %s", op == TPL_ADD ? "add" : op == TPL_SUB ? "subtract" : "combine",
                tpl_type_name(l), tpl_type_name(r));
    } else if (op == TPL_ADD && json_is_string(l)) {
        cj_fail(c->e, "can only concatenate str (not \"%s\") to str", tpl_py_type(r));
    } else if (op == TPL_ADD && json_is_array(l)) {
        cj_fail(c->e, "can only concatenate list (not \"%s\") to list", tpl_py_type(r));
    } else {
        cj_fail(c->e, "unsupported operand type(s) for %s: '%s' and '%s'", op_text(op), tpl_py_type(l), tpl_py_type(r));
    }
    return NULL;
}

static json_t *concat(const json_t *l, const json_t *r, tpl_ctx *c) {
    if (json_is_string(l)) {
        if (json_string_length(l) + json_string_length(r) > TPL_MAX_TEXT) {
            tpl_too_long("+", c->e);
            return NULL;
        }
        if (tpl_charge(c, json_string_length(l) + json_string_length(r))) return NULL;
        sb b;
        sb_init(&b);
        sb_putn(&b, json_string_value(l), json_string_length(l));
        sb_putn(&b, json_string_value(r), json_string_length(r));
        json_t *v = json_stringn(b.s, b.len);
        sb_free(&b);
        return v;
    }
    if (json_array_size(l) + json_array_size(r) > TPL_MAX_ITEMS) {
        cj_fail(c->e, "+: the list would have more than %zu items", TPL_MAX_ITEMS);
        return NULL;
    }
    if (tpl_charge(c, TPL_ITEM_COST * (json_array_size(l) + json_array_size(r) + 1))) return NULL;
    json_t *v = json_copy((json_t *)l);
    json_array_extend(v, (json_t *)r);
    return v;
}

/* "~": str() of both sides joined. */
static json_t *tilde(const json_t *l, const json_t *r, tpl_ctx *c) {
    sb b;
    sb_init(&b);
    tpl_py_str(l, &b);
    tpl_py_str(r, &b);
    json_t *v = NULL;
    if (b.len > TPL_MAX_TEXT) tpl_too_long("~", c->e);
    else if (!tpl_charge(c, b.len)) v = json_stringn(b.s, b.len);
    sb_free(&b);
    return v;
}

/* str * int: the string repeated. */
static json_t *repeat(const json_t *s, json_int_t k, tpl_ctx *c) {
    size_t n = json_string_length(s);
    if (k > 0 && n && (size_t)k > TPL_MAX_TEXT / n) {
        tpl_too_long("*", c->e);
        return NULL;
    }
    if (k > 0 && tpl_charge(c, n * (size_t)k)) return NULL;
    sb b;
    sb_init(&b);
    for (json_int_t i = 0; i < k; i++) sb_putn(&b, json_string_value(s), n);
    json_t *v = json_stringn(b.s ? b.s : "", b.len);
    sb_free(&b);
    return v;
}

static json_t *int_op(json_int_t a, json_int_t b, tpl_op op, tpl_ctx *c) {
    json_int_t r = 0;
    int over = 0;
    switch (op) {
    case TPL_ADD: over = __builtin_add_overflow(a, b, &r); break;
    case TPL_SUB: over = __builtin_sub_overflow(a, b, &r); break;
    case TPL_MUL: over = __builtin_mul_overflow(a, b, &r); break;
    case TPL_FLOORDIV:
    case TPL_MOD:
        if (b == 0) {
            cj_fail(c->e, "integer division or modulo by zero");
            return NULL;
        }
        if (a == INT64_MIN && b == -1) {
            over = 1;
            break;
        }
        r = op == TPL_MOD ? a % b : a / b;
        if (op == TPL_MOD && r && ((r < 0) != (b < 0))) r += b;
        if (op == TPL_FLOORDIV && (a % b) && ((a < 0) != (b < 0))) r--;
        break;
    default: break;
    }
    if (over) {
        cj_fail(c->e, "integer overflow");
        return NULL;
    }
    return json_integer(r);
}

static json_t *float_op(double a, double b, tpl_op op, tpl_ctx *c) {
    if ((op == TPL_DIV || op == TPL_FLOORDIV || op == TPL_MOD) && b == 0) {
        cj_fail(c->e, op == TPL_DIV ? "division by zero" : "float modulo");
        return NULL;
    }
    switch (op) {
    case TPL_ADD: return json_real(a + b);
    case TPL_SUB: return json_real(a - b);
    case TPL_MUL: return json_real(a * b);
    case TPL_DIV: return json_real(a / b);
    case TPL_FLOORDIV: return json_real(floor(a / b));
    default: {
        double m = fmod(a, b);
        if (m && ((m < 0) != (b < 0))) m += b;
        return json_real(m);
    }
    }
}

static json_t *arith(const tpl_node *n, const json_t *l, const json_t *r, tpl_ctx *c) {
    tpl_op op = n->op;
    int ints = json_is_integer(l) && json_is_integer(r);
    if (tpl_is_num(l) && tpl_is_num(r) && !json_is_real(l) && !json_is_real(r) && !ints) ints = 1;
    if (tpl_is_num(l) && tpl_is_num(r)) {
        json_int_t a = json_is_boolean(l) ? json_is_true(l) : json_is_integer(l) ? json_integer_value(l) : 0;
        json_int_t b = json_is_boolean(r) ? json_is_true(r) : json_is_integer(r) ? json_integer_value(r) : 0;
        if (ints && op != TPL_DIV) return int_op(a, b, op, c);
        return float_op(tpl_num(l), tpl_num(r), op, c);
    }
    if (op == TPL_ADD && ((json_is_string(l) && json_is_string(r)) || (json_is_array(l) && json_is_array(r))))
        return concat(l, r, c);
    if (op == TPL_MUL && json_is_string(l) && json_is_integer(r)) return repeat(l, json_integer_value(r), c);
    if (op == TPL_MUL && json_is_integer(l) && json_is_string(r)) return repeat(r, json_integer_value(l), c);
    return type_error(l, r, op, c);
}

json_t *tpl_eval_binop(const tpl_node *n, const json_t *l, const json_t *r, tpl_ctx *c) {
    int cmp, t;
    switch (n->op) {
    case TPL_CAT: return tilde(l, r, c);
    case TPL_EQ: return json_boolean(tpl_py_eq(l, r));
    case TPL_NE: return json_boolean(!tpl_py_eq(l, r));
    case TPL_IN:
    case TPL_NOTIN:
        if ((t = tpl_py_in(l, r, c->e)) < 0) return NULL;
        return json_boolean(t == (n->op == TPL_IN));
    case TPL_LT:
    case TPL_GT:
    case TPL_LE:
    case TPL_GE:
        if (tpl_is_undef(l) || tpl_is_undef(r)) break;
        if (tpl_py_cmp(l, r, op_text(n->op), &cmp, c->e)) return NULL;
        return json_boolean(n->op == TPL_LT ? cmp < 0 : n->op == TPL_GT ? cmp > 0 : n->op == TPL_LE ? cmp <= 0 : cmp >= 0);
    default:
        if (tpl_is_undef(l) || tpl_is_undef(r)) break;
        return arith(n, l, r, c);
    }
    cj_fail(c->e, "%s", tpl_undef_msg(tpl_is_undef(l) ? l : r));
    return NULL;
}
