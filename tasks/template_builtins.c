/* template_builtins — the string functions of templates (strip / trim,
 * replace, int, split, join, ...; the list is in template.h) and the
 * Unicode-aware text helpers they share; Jinja's other filters are in
 * template_filters.c. A function refuses results past TPL_MAX_TEXT or TPL_MAX_ITEMS
 * itself; the work it does is charged by its caller (template.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template_impl.h"

/* ---------- text helpers ---------- */

/* Decodes the code point at s (n > 0 bytes left); *len gets its length. Bytes
 * that do not start a valid sequence count as one code point each. */
static uint32_t u8_decode(const unsigned char *s, size_t n, size_t *len) {
    unsigned c = s[0];
    size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (need <= 1 || need > n) {
        *len = 1;
        return c;
    }
    uint32_t cp = c & (0xFF >> (need + 1));
    for (size_t k = 1; k < need; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    *len = need;
    return cp;
}

/* Start of the code point that ends at s[end - 1] (end > 0). */
static size_t u8_prev(const unsigned char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && end - i < 4 && (s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Python's str.isspace for a code point (what str.strip() removes). */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* 1 if code point c occurs in the UTF-8 string set[0, n). */
static int in_set(uint32_t c, const char *set, size_t n) {
    const unsigned char *s = (const unsigned char *)set;
    for (size_t i = 0, len; i < n; i += len)
        if (u8_decode(s + i, n - i, &len) == c) return 1;
    return 0;
}

/* A short quoted excerpt of a string for error messages. */
static void quote(sb *b, const char *s, size_t n) {
    size_t cut = n > 60 ? 60 : n;
    while (cut < n && cut > 0 && (((unsigned char)s[cut]) & 0xC0) == 0x80) cut--;
    sb_putc(b, '"');
    sb_putn(b, s, cut);
    sb_puts(b, cut < n ? "...\"" : "\"");
}

/* ---------- functions ---------- */

static int str_arg(const tpl_fn *f, json_t *const *args, int i, const char **s, size_t *n, cj_err *e) {
    if (!json_is_string(args[i]))
        return cj_fail(e, "%s: argument %d must be a string, not %s", f->name, i + 1, tpl_type_name(args[i]));
    *s = json_string_value(args[i]);
    *n = json_string_length(args[i]);
    return 0;
}

static int strip_mode(const char *s, size_t n, json_t *const *args, sb *out, cj_err *e, int left, int right,
                      const char *fname) {
    const char *set = NULL;
    size_t nset = 0;
    if (args && args[0] && str_arg(tpl_fn_find(fname), args, 0, &set, &nset, e)) return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, b = n, len;
    while (left && a < b) {
        uint32_t c = u8_decode(u + a, b - a, &len);
        if (set ? !in_set(c, set, nset) : !py_space(c)) break;
        a += len;
    }
    while (right && b > a) {
        size_t p = u8_prev(u, b);
        uint32_t c = u8_decode(u + p, b - p, &len);
        if (set ? !in_set(c, set, nset) : !py_space(c)) break;
        b = p;
    }
    sb_putn(out, s + a, b - a);
    return 0;
}

static int fn_strip(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    return strip_mode(s, n, a, o, e, 1, 1, "strip");
}
static int fn_lstrip(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    return strip_mode(s, n, a, o, e, 1, 0, "lstrip");
}
static int fn_rstrip(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    return strip_mode(s, n, a, o, e, 0, 1, "rstrip");
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }
static char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }

static int fn_lower(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    (void)a, (void)e;
    for (size_t i = 0; i < n; i++) sb_putc(o, ascii_lower(s[i]));
    return 0;
}
static int fn_upper(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    (void)a, (void)e;
    for (size_t i = 0; i < n; i++) sb_putc(o, ascii_upper(s[i]));
    return 0;
}
/* Python's str.title over ASCII letters: a letter after a letter is
 * lowered, any other is raised. */
static int fn_title(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    (void)a, (void)e;
    int prev = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        sb_putc(o, prev ? ascii_lower(c) : ascii_upper(c));
        prev = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    return 0;
}
static int fn_capitalize(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    (void)a, (void)e;
    for (size_t i = 0; i < n; i++) sb_putc(o, i == 0 ? ascii_upper(s[i]) : ascii_lower(s[i]));
    return 0;
}

/* The first occurrence of pat (np > 0) in s[0, n), or NULL. Not memmem:
 * sanitizer builds check the whole haystack on every memmem call, which
 * makes a replace or a split over a long string quadratic there. */
static const char *find(const char *s, size_t n, const char *pat, size_t np) {
    while (n >= np) {
        const char *c = memchr(s, pat[0], n - np + 1);
        if (!c) return NULL;
        if (!memcmp(c, pat, np)) return c;
        n -= (size_t)(c - s) + 1;
        s = c + 1;
    }
    return NULL;
}

/* Replaces every occurrence of pat, left to right, without overlap (Python's
 * str.replace); -1 once the result outgrows TPL_MAX_TEXT. */
static int replace_all(const char *s, size_t n, const char *pat, size_t np, const char *rep, size_t nr, sb *o) {
    size_t i = 0, start = o->len;
    while (i < n) {
        if (o->len - start > TPL_MAX_TEXT) return -1;
        const char *hit = np ? find(s + i, n - i, pat, np) : NULL;
        size_t end = hit ? (size_t)(hit - s) : n;
        sb_putn(o, s + i, end - i);
        if (!hit) break;
        sb_putn(o, rep, nr);
        i = end + np;
    }
    return 0;
}

static int fn_replace(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    const char *pat, *rep;
    size_t np, nr;
    const tpl_fn *f = tpl_fn_find("replace");
    if (str_arg(f, a, 0, &pat, &np, e) || str_arg(f, a, 1, &rep, &nr, e)) return -1;
    if (!np) return cj_fail(e, "replace: the text to replace is empty");
    return replace_all(s, n, pat, np, rep, nr, o) ? tpl_too_long("replace", e) : 0;
}

static int split_at(const char *fname, const char *s, size_t n, json_t *const *a, sb *o, cj_err *e, int after) {
    const char *sep;
    size_t ns;
    if (str_arg(tpl_fn_find(fname), a, 0, &sep, &ns, e)) return -1;
    const char *hit = ns ? find(s, n, sep, ns) : NULL;
    if (!hit) {
        sb m;
        sb_init(&m);
        quote(&m, s, n);
        cj_fail(e, "%s: \"%s\" not found in %s", fname, sep, m.s);
        sb_free(&m);
        return -1;
    }
    if (after) sb_putn(o, hit + ns, n - (size_t)(hit - s) - ns);
    else sb_putn(o, s, (size_t)(hit - s));
    return 0;
}
static int fn_before(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    return split_at("before", s, n, a, o, e, 0);
}
static int fn_after(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    return split_at("after", s, n, a, o, e, 1);
}

/* lm-eval's hellaswag preprocess: strip; " [title]" -> ". "; remove every
 * non-greedy "[...]" that does not span a newline (re.sub(r"\[.*?\]", "")),
 * then replace "  " by " " in one pass. */
static int fn_hellaswag(const char *s, size_t n, json_t *const *a, sb *o, cj_err *e) {
    (void)a;
    sb t1, t2;
    sb_init(&t1);
    sb_init(&t2);
    strip_mode(s, n, NULL, &t1, e, 1, 1, "strip");
    (void)replace_all(t1.s, t1.len, " [title]", 8, ". ", 2, &t2); /* never longer than its input */
    sb_clear(&t1);
    for (size_t i = 0; i < t2.len;) {
        if (t2.s[i] == '[') {
            size_t j = i + 1;
            while (j < t2.len && t2.s[j] != ']' && t2.s[j] != '\n') j++;
            if (j < t2.len && t2.s[j] == ']') {
                i = j + 1;
                continue;
            }
        }
        sb_putc(&t1, t2.s[i++]);
    }
    (void)replace_all(t1.s, t1.len, "  ", 2, " ", 1, o);
    sb_free(&t1);
    sb_free(&t2);
    return 0;
}

/* Python int(): optional whitespace, sign, decimal digits. */
static json_t *fn_int(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    if (json_is_integer(x)) return json_integer(json_integer_value(x));
    if (json_is_boolean(x)) return json_integer(json_is_true(x));
    if (!json_is_string(x)) {
        cj_fail(e, "int: cannot convert %s", tpl_type_name(x));
        return NULL;
    }
    const char *s = json_string_value(x);
    size_t n = json_string_length(x);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j = n, len;
    while (i < j && py_space(u8_decode(u + i, j - i, &len))) i += len;
    while (j > i && py_space(u8_decode(u + u8_prev(u, j), j - u8_prev(u, j), &len))) j = u8_prev(u, j);
    int neg = 0;
    if (i < j && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == j) goto bad;
    json_int_t v = 0;
    for (; i < j; i++) {
        if (s[i] < '0' || s[i] > '9') goto bad;
        int d = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, neg ? -d : d, &v)) goto bad;
    }
    return json_integer(v);
bad:;
    sb m;
    sb_init(&m);
    quote(&m, s, n);
    cj_fail(e, "int: %s is not an integer", m.s);
    sb_free(&m);
    return NULL;
}

static json_t *fn_str(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    sb b;
    sb_init(&b);
    json_t *r = tpl_value_text(x, &b, e) ? NULL : json_stringn(b.s, b.len);
    sb_free(&b);
    return r;
}

static json_t *fn_len(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    if (json_is_array(x)) return json_integer((json_int_t)json_array_size(x));
    if (json_is_object(x)) return json_integer((json_int_t)json_object_size(x));
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        size_t n = json_string_length(x), k = 0;
        for (size_t i = 0; i < n; i++) k += (((unsigned char)s[i]) & 0xC0) != 0x80;
        return json_integer((json_int_t)k);
    }
    cj_fail(e, "len: %s has no length", tpl_type_name(x));
    return NULL;
}

static json_t *keys_values(const char *fname, const json_t *x, cj_err *e, int values) {
    if (!json_is_object(x)) {
        cj_fail(e, "%s: needs an object, not %s", fname, tpl_type_name(x));
        return NULL;
    }
    json_t *r = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)x, k, v) json_array_append_new(r, values ? json_incref(v) : json_string(k));
    return r;
}
static json_t *fn_keys(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    return keys_values("keys", x, e, 0);
}
static json_t *fn_values(const json_t *x, json_t *const *a, cj_err *e) {
    (void)a;
    return keys_values("values", x, e, 1);
}

static json_t *fn_index(const json_t *x, json_t *const *a, cj_err *e) {
    if (!json_is_array(x)) {
        cj_fail(e, "index: needs a list, not %s", tpl_type_name(x));
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(x); i++)
        if (json_equal(json_array_get(x, i), a[0])) return json_integer((json_int_t)i);
    char *v = json_dumps(a[0], JSON_ENCODE_ANY | JSON_COMPACT);
    cj_fail(e, "index: %s is not in the list", v ? v : "value");
    free(v);
    return NULL;
}

static json_t *fn_join(const json_t *x, json_t *const *a, cj_err *e) {
    const char *sep = "";
    size_t ns = 0;
    if (a[0] && str_arg(tpl_fn_find("join"), a, 0, &sep, &ns, e)) return NULL;
    if (tpl_is_undef(x)) return json_string("");
    if (!json_is_array(x)) {
        cj_fail(e, "join: needs a list, not %s", tpl_type_name(x));
        return NULL;
    }
    sb b;
    sb_init(&b);
    for (size_t i = 0; i < json_array_size(x); i++) {
        if (i) sb_putn(&b, sep, ns);
        tpl_py_str(json_array_get(x, i), &b);
        if (b.len > TPL_MAX_TEXT && tpl_too_long("join", e)) {
            sb_free(&b);
            return NULL;
        }
    }
    json_t *r = json_stringn(b.s, b.len);
    sb_free(&b);
    return r;
}

/* The pieces of s[0, n) between the occurrences of sep; -1 past
 * TPL_MAX_ITEMS. */
static int split_on(const char *s, size_t n, const char *sep, size_t ns, json_t *r) {
    for (size_t i = 0;;) {
        if (json_array_size(r) >= TPL_MAX_ITEMS) return -1;
        const char *hit = find(s + i, n - i, sep, ns);
        size_t end = hit ? (size_t)(hit - s) : n;
        json_array_append_new(r, json_stringn(s + i, end - i));
        if (!hit) return 0;
        i = end + ns;
    }
}

/* The runs of s[0, n) between whitespace; -1 past TPL_MAX_ITEMS. */
static int split_ws(const char *s, size_t n, json_t *r) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len;
    while (i < n) {
        if (json_array_size(r) >= TPL_MAX_ITEMS) return -1;
        while (i < n && py_space(u8_decode(u + i, n - i, &len))) i += len;
        size_t start = i;
        while (i < n && !py_space(u8_decode(u + i, n - i, &len))) i += len;
        if (i > start) json_array_append_new(r, json_stringn(s + start, i - start));
    }
    return 0;
}

/* Python's str.split(): on a separator, or (without one) on whitespace runs
 * with empty pieces dropped. */
static json_t *fn_split(const json_t *x, json_t *const *a, cj_err *e) {
    const char *sep = NULL;
    size_t ns = 0;
    if (a[0] && str_arg(tpl_fn_find("split"), a, 0, &sep, &ns, e)) return NULL;
    if (!json_is_string(x)) {
        cj_fail(e, "split: needs a string, not %s", tpl_type_name(x));
        return NULL;
    }
    if (sep && !ns) {
        cj_fail(e, "split: empty separator");
        return NULL;
    }
    const char *s = json_string_value(x);
    size_t n = json_string_length(x);
    json_t *r = json_array();
    if (!(sep ? split_on(s, n, sep, ns, r) : split_ws(s, n, r))) return r;
    json_decref(r);
    cj_fail(e, "split: more than %zu pieces", TPL_MAX_ITEMS);
    return NULL;
}

static const tpl_fn FNS[] = {
    {"strip", 0, 1, fn_strip, NULL, "chars"},
    {"trim", 0, 1, fn_strip, NULL, "chars"},
    {"title", 0, 0, fn_title, NULL, NULL},
    {"lstrip", 0, 1, fn_lstrip, NULL, NULL},
    {"rstrip", 0, 1, fn_rstrip, NULL, NULL},
    {"lower", 0, 0, fn_lower, NULL, NULL},
    {"upper", 0, 0, fn_upper, NULL, NULL},
    {"capitalize", 0, 0, fn_capitalize, NULL, NULL},
    {"replace", 2, 2, fn_replace, NULL, NULL},
    {"before", 1, 1, fn_before, NULL, NULL},
    {"after", 1, 1, fn_after, NULL, NULL},
    {"hellaswag_preprocess", 0, 0, fn_hellaswag, NULL, NULL},
    {"int", 0, 0, NULL, fn_int, NULL},
    {"str", 0, 0, NULL, fn_str, NULL},
    {"len", 0, 0, NULL, fn_len, NULL},
    {"keys", 0, 0, NULL, fn_keys, NULL},
    {"values", 0, 0, NULL, fn_values, NULL},
    {"index", 1, 1, NULL, fn_index, NULL},
    {"join", 0, 1, NULL, fn_join, "d"},
    {"split", 0, 1, NULL, fn_split, "sep"},
};

const tpl_fn *tpl_fn_find(const char *name) {
    for (size_t i = 0; i < sizeof FNS / sizeof FNS[0]; i++)
        if (!strcmp(FNS[i].name, name)) return &FNS[i];
    for (const tpl_fn *f = tpl_jinja_fns; f->name; f++)
        if (!strcmp(f->name, name)) return f;
    return NULL;
}
