/* textmetrics_match — matching an answer against a reference: SQuAD's
 * normalisation and token F1, lm-eval's exact match, and user patterns
 * (lm-eval's regex filter, search, validation). Together because they are
 * the scores of short answers, and the only ones that take user regexes. */
#include "textmetrics_impl.h"

#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

/* Python's string.punctuation: every printable ASCII character that is
 * neither a letter, a digit nor a space. */
static int ascii_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

/* Deletes in place every byte of s for which drop() is true. Only ASCII
 * bytes qualify, so UTF-8 sequences stay whole. */
static void drop_bytes(char *s, int (*drop)(unsigned char)) {
    char *w = s;
    for (char *r = s; *r; r++)
        if (!drop((unsigned char)*r)) *w++ = *r;
    *w = 0;
}

static int ascii_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A user's pattern, compiled as the built-in ones are (UTF + UCP, plus
 * extra); the message names the pattern and the offset. */
static int re_compile(const char *pattern, uint32_t extra, pcre2_code **out, cj_err *e) {
    int code;
    PCRE2_SIZE off;
    char *p = tm_utf8_sanitize(pattern);
    *out = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | extra, &code, &off, NULL);
    free(p);
    if (*out) return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return cj_fail(e, "regex \"%s\": %s at offset %zu", pattern, (const char *)msg, (size_t)off);
}

/* --- token F1 -------------------------------------------------------------------------- */

char *tm_squad_normalize(const char *s) {
    char *v = tm_utf8_sanitize(s), *low = tm_lower_valid(v), *noart;
    free(v);
    drop_bytes(low, ascii_punct);
    cj_err e;
    /* a fixed, compiled pattern on valid UTF-8: only allocation can fail,
     * and tm_re_subst retries on that */
    if (tm_re_subst(tm_builtin(TM_RE_ARTICLES), low, " ", &noart, &e)) abort();
    free(low);
    tm_toks t = {0};
    tm_split_pyws(noart, &t);
    char *r = tm_join_toks(&t);
    tm_toks_free(&t);
    free(noart);
    return r;
}

double tm_token_f1(const char *pred, const char *gold) {
    char *np = tm_squad_normalize(pred), *ng = tm_squad_normalize(gold);
    tm_toks tp = {0}, tg = {0};
    tm_split_spaces(np, &tp);
    tm_split_spaces(ng, &tg);
    double f1;
    if (!tp.n || !tg.n) {
        f1 = tp.n == tg.n;
    } else {
        int *ip = cj_xmalloc((size_t)tp.n * sizeof *ip), *ig = cj_xmalloc((size_t)tg.n * sizeof *ig);
        tm_intern2(&tp, ip, &tg, ig);
        long same = tm_ngram_overlap(ip, tp.n, ig, tg.n, 1);
        if (!same) {
            f1 = 0.0;
        } else {
            double p = 1.0 * (double)same / tp.n, r = 1.0 * (double)same / tg.n;
            f1 = 2 * p * r / (p + r);
        }
        free(ip);
        free(ig);
    }
    tm_toks_free(&tp);
    tm_toks_free(&tg);
    free(np);
    free(ng);
    return f1;
}

/* --- exact match ------------------------------------------------------------------------- */

int tm_em_normalize(const char *s, const tm_em_opts *o, char **out, cj_err *e) {
    char *cur = tm_utf8_sanitize(s);
    if (!o) {
        *out = cur;
        return 0;
    }
    for (int k = 0; k < o->n_regexes_to_ignore; k++) {
        pcre2_code *re;
        char *next;
        if (re_compile(o->regexes_to_ignore[k], 0, &re, e)) {
            free(cur);
            return -1;
        }
        int rc = tm_re_subst(re, cur, "", &next, e);
        pcre2_code_free(re);
        free(cur);
        if (rc) return cj_wrap(e, "regexes_to_ignore[%d]", k);
        cur = next;
    }
    if (o->ignore_case) {
        char *low = tm_lower_valid(cur);
        free(cur);
        cur = low;
    }
    if (o->ignore_punctuation) drop_bytes(cur, ascii_punct);
    if (o->ignore_numbers) drop_bytes(cur, ascii_digit);
    *out = cur;
    return 0;
}

int tm_exact_match(const char *pred, const char *ref, const tm_em_opts *o, double *em, cj_err *e) {
    char *a, *b;
    if (tm_em_normalize(pred, o, &a, e)) return -1;
    if (tm_em_normalize(ref, o, &b, e)) {
        free(a);
        return -1;
    }
    *em = strcmp(a, b) == 0 ? 1.0 : 0.0;
    free(a);
    free(b);
    return 0;
}

/* --- patterns ---------------------------------------------------------------------------- */

int tm_regex_check(const char *pattern, cj_err *e) {
    pcre2_code *re;
    if (re_compile(pattern, 0, &re, e)) return -1;
    pcre2_code_free(re);
    return 0;
}

/* The value one findall() item contributes: [*s, *t), or -1 for a match
 * whose groups are all empty (lm-eval then uses the fallback). */
static int findall_value(const PCRE2_SIZE *ov, int rc, uint32_t ncap, PCRE2_SIZE *s, PCRE2_SIZE *t) {
    if (ncap == 0) {
        *s = ov[0], *t = ov[1];
        return 0;
    }
    for (uint32_t g = 1; g <= ncap; g++) {
        int set = (int)g < rc && ov[2 * g] != PCRE2_UNSET;
        if (ncap == 1 || (set && ov[2 * g + 1] > ov[2 * g])) {
            *s = set ? ov[2 * g] : 0, *t = set ? ov[2 * g + 1] : 0; /* an unset lone group is "" */
            return 0;
        }
    }
    return -1;
}

typedef struct {
    PCRE2_SIZE s, t;
    int none;
} fmatch;

/* Every findall() item of re over valid UTF-8 v, with Python's (and
 * Perl's) rule for empty matches: after one, retry at the same place for a
 * non-empty match, else move on by one character. */
static int findall(const pcre2_code *re, const char *v, fmatch **out, long *n_out, cj_err *e) {
    uint32_t ncap = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) abort();
    size_t len = strlen(v);
    PCRE2_SIZE off = 0;
    uint32_t opts = 0;
    long n = 0, cap = 0;
    fmatch *m = NULL;
    int ret = 0;
    for (;;) {
        int rc = pcre2_match(re, (PCRE2_SPTR)v, len, off, opts | PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (!opts || off >= len) break;
            tm_u8_get(v, &off);
            opts = 0;
            continue;
        }
        if (rc < 0) {
            ret = tm_re_error(e, "match", rc);
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > ov[1] || ov[0] < off) {
            ret = cj_fail(e, "regex: \\K moved a match backwards; not supported");
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            m = cj_xrealloc(m, (size_t)cap * sizeof *m);
        }
        m[n].none = findall_value(ov, rc, ncap, &m[n].s, &m[n].t) != 0;
        n++;
        opts = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
        off = ov[1];
    }
    pcre2_match_data_free(md);
    if (ret) {
        free(m);
        return -1;
    }
    *out = m;
    *n_out = n;
    return 0;
}

/* A copy of v[s, t) without leading and trailing Python whitespace. */
static char *strip_range(const char *v, size_t s, size_t t) {
    size_t i = s, a = t, b = s;
    while (i < t) {
        size_t at = i;
        uint32_t c = tm_u8_get(v, &i);
        if (!tm_py_isspace(c)) {
            if (a == t) a = at;
            b = i;
        }
    }
    return a < b ? cj_xstrndup(v + a, b - a) : cj_xstrdup("");
}

char *tm_strip(const char *s) {
    char *v = tm_utf8_sanitize(s), *r = strip_range(v, 0, strlen(v));
    free(v);
    return r;
}

int tm_regex_extract(const char *text, const char *pattern, int group_select, const char *fallback, char **out,
                     cj_err *e) {
    pcre2_code *re;
    if (re_compile(pattern, 0, &re, e)) return -1;
    char *v = tm_utf8_sanitize(text);
    fmatch *m = NULL;
    long n = 0;
    int rc = findall(re, v, &m, &n, e);
    pcre2_code_free(re);
    if (!rc) {
        long k = group_select < 0 ? n + group_select : group_select;
        if (k >= 0 && k < n && !m[k].none)
            *out = strip_range(v, m[k].s, m[k].t);
        else
            *out = cj_xstrdup(fallback ? fallback : "");
    }
    free(m);
    free(v);
    return rc;
}

int tm_regex_search(const char *text, const char *pattern, int caseless, int *found, cj_err *e) {
    pcre2_code *re;
    if (re_compile(pattern, caseless ? PCRE2_CASELESS : 0, &re, e)) return -1;
    char *v = tm_utf8_sanitize(text);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) abort();
    int rc = pcre2_match(re, (PCRE2_SPTR)v, strlen(v), 0, PCRE2_NO_UTF_CHECK, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    free(v);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) return tm_re_error(e, "match", rc);
    *found = rc >= 0;
    return 0;
}
