/* textmetrics — the text layer of the text metrics: UTF-8 repair and
 * decoding, Python's lowercasing and whitespace, token lists and ids,
 * n-gram overlap and the built-in patterns. Shared with the metric files
 * (textmetrics_bleu.c, textmetrics_rouge.c, textmetrics_match.c) through
 * textmetrics_impl.h, so that each metric reads the text exactly as the
 * others do. Definitions: textmetrics.h. */
#include "textmetrics_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

/* --- UTF-8 ----------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (NUL-terminated), or 0 with *bad
 * set to the length of its maximal invalid subpart (>= 1). */
static size_t u8_seq(const unsigned char *p, size_t *bad) {
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    int need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) need = 2;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else {
        *bad = 1;
        return 0;
    }
    size_t k = 1;
    for (int j = 0; j < need; j++, k++) {
        /* the NUL terminator is below lo, so this never reads past it */
        if (p[k] < lo || p[k] > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80, hi = 0xBF;
    }
    return k;
}

char *tm_utf8_sanitize(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    sb b;
    sb_init(&b);
    size_t i = 0;
    while (p[i]) {
        size_t bad = 0, n = u8_seq(p + i, &bad);
        if (n) {
            sb_putn(&b, (const char *)p + i, n);
            i += n;
        } else {
            sb_puts(&b, "\xEF\xBF\xBD");
            i += bad;
        }
    }
    return sb_take(&b);
}

/* Decodes the code point at s[*i] of valid UTF-8 and advances *i. */
uint32_t tm_u8_get(const char *s, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    if (p[0] < 0x80) {
        *i += 1;
        return p[0];
    }
    if (p[0] < 0xE0) {
        *i += 2;
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (p[0] < 0xF0) {
        *i += 3;
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    *i += 4;
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 |
           (p[3] & 0x3F);
}

static void u8_put(sb *b, uint32_t c) {
    char o[4];
    if (c < 0x80) {
        sb_putc(b, (char)c);
    } else if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3F));
        sb_putn(b, o, 2);
    } else if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 0x3F)), o[2] = (char)(0x80 | (c & 0x3F));
        sb_putn(b, o, 3);
    } else {
        o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 0x3F));
        o[2] = (char)(0x80 | (c >> 6 & 0x3F)), o[3] = (char)(0x80 | (c & 0x3F));
        sb_putn(b, o, 4);
    }
}

/* Python's str.isspace(), which is what str.split() and str.strip() use. */
int tm_py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's str.lower() one code point at a time: Unicode 14.0 simple
 * lowercase mappings (what Python 3.11's unicodedata holds), as runs
 * {first, last, stride, delta}: every stride-th code point from first to
 * last lowers to itself + delta. U+0130, the one code point that lowers to
 * two, is left to the callers. */
static const struct {
    uint32_t first, last;
    int stride, delta;
} lower_runs[] = {
    {0x0041, 0x005A, 1, 32}, {0x00C0, 0x00D6, 1, 32}, {0x00D8, 0x00DE, 1, 32}, {0x0100, 0x012E, 2, 1},
    {0x0132, 0x0136, 2, 1}, {0x0139, 0x0147, 2, 1}, {0x014A, 0x0176, 2, 1}, {0x0178, 0x0178, 1, -121},
    {0x0179, 0x017D, 2, 1}, {0x0181, 0x0181, 1, 210}, {0x0182, 0x0184, 2, 1}, {0x0186, 0x0186, 1, 206},
    {0x0187, 0x0187, 1, 1}, {0x0189, 0x018A, 1, 205}, {0x018B, 0x018B, 1, 1}, {0x018E, 0x018E, 1, 79},
    {0x018F, 0x018F, 1, 202}, {0x0190, 0x0190, 1, 203}, {0x0191, 0x0191, 1, 1}, {0x0193, 0x0193, 1, 205},
    {0x0194, 0x0194, 1, 207}, {0x0196, 0x0196, 1, 211}, {0x0197, 0x0197, 1, 209}, {0x0198, 0x0198, 1, 1},
    {0x019C, 0x019C, 1, 211}, {0x019D, 0x019D, 1, 213}, {0x019F, 0x019F, 1, 214}, {0x01A0, 0x01A4, 2, 1},
    {0x01A6, 0x01A6, 1, 218}, {0x01A7, 0x01A7, 1, 1}, {0x01A9, 0x01A9, 1, 218}, {0x01AC, 0x01AC, 1, 1},
    {0x01AE, 0x01AE, 1, 218}, {0x01AF, 0x01AF, 1, 1}, {0x01B1, 0x01B2, 1, 217}, {0x01B3, 0x01B5, 2, 1},
    {0x01B7, 0x01B7, 1, 219}, {0x01B8, 0x01B8, 1, 1}, {0x01BC, 0x01BC, 1, 1}, {0x01C4, 0x01C4, 1, 2},
    {0x01C5, 0x01C5, 1, 1}, {0x01C7, 0x01C7, 1, 2}, {0x01C8, 0x01C8, 1, 1}, {0x01CA, 0x01CA, 1, 2},
    {0x01CB, 0x01DB, 2, 1}, {0x01DE, 0x01EE, 2, 1}, {0x01F1, 0x01F1, 1, 2}, {0x01F2, 0x01F4, 2, 1},
    {0x01F6, 0x01F6, 1, -97}, {0x01F7, 0x01F7, 1, -56}, {0x01F8, 0x021E, 2, 1}, {0x0220, 0x0220, 1, -130},
    {0x0222, 0x0232, 2, 1}, {0x023A, 0x023A, 1, 10795}, {0x023B, 0x023B, 1, 1}, {0x023D, 0x023D, 1, -163},
    {0x023E, 0x023E, 1, 10792}, {0x0241, 0x0241, 1, 1}, {0x0243, 0x0243, 1, -195}, {0x0244, 0x0244, 1, 69},
    {0x0245, 0x0245, 1, 71}, {0x0246, 0x024E, 2, 1}, {0x0370, 0x0372, 2, 1}, {0x0376, 0x0376, 1, 1},
    {0x037F, 0x037F, 1, 116}, {0x0386, 0x0386, 1, 38}, {0x0388, 0x038A, 1, 37}, {0x038C, 0x038C, 1, 64},
    {0x038E, 0x038F, 1, 63}, {0x0391, 0x03A1, 1, 32}, {0x03A3, 0x03AB, 1, 32}, {0x03CF, 0x03CF, 1, 8},
    {0x03D8, 0x03EE, 2, 1}, {0x03F4, 0x03F4, 1, -60}, {0x03F7, 0x03F7, 1, 1}, {0x03F9, 0x03F9, 1, -7},
    {0x03FA, 0x03FA, 1, 1}, {0x03FD, 0x03FF, 1, -130}, {0x0400, 0x040F, 1, 80}, {0x0410, 0x042F, 1, 32},
    {0x0460, 0x0480, 2, 1}, {0x048A, 0x04BE, 2, 1}, {0x04C0, 0x04C0, 1, 15}, {0x04C1, 0x04CD, 2, 1},
    {0x04D0, 0x052E, 2, 1}, {0x0531, 0x0556, 1, 48}, {0x10A0, 0x10C5, 1, 7264}, {0x10C7, 0x10C7, 1, 7264},
    {0x10CD, 0x10CD, 1, 7264}, {0x13A0, 0x13EF, 1, 38864}, {0x13F0, 0x13F5, 1, 8}, {0x1C90, 0x1CBA, 1, -3008},
    {0x1CBD, 0x1CBF, 1, -3008}, {0x1E00, 0x1E94, 2, 1}, {0x1E9E, 0x1E9E, 1, -7615}, {0x1EA0, 0x1EFE, 2, 1},
    {0x1F08, 0x1F0F, 1, -8}, {0x1F18, 0x1F1D, 1, -8}, {0x1F28, 0x1F2F, 1, -8}, {0x1F38, 0x1F3F, 1, -8},
    {0x1F48, 0x1F4D, 1, -8}, {0x1F59, 0x1F5F, 2, -8}, {0x1F68, 0x1F6F, 1, -8}, {0x1F88, 0x1F8F, 1, -8},
    {0x1F98, 0x1F9F, 1, -8}, {0x1FA8, 0x1FAF, 1, -8}, {0x1FB8, 0x1FB9, 1, -8}, {0x1FBA, 0x1FBB, 1, -74},
    {0x1FBC, 0x1FBC, 1, -9}, {0x1FC8, 0x1FCB, 1, -86}, {0x1FCC, 0x1FCC, 1, -9}, {0x1FD8, 0x1FD9, 1, -8},
    {0x1FDA, 0x1FDB, 1, -100}, {0x1FE8, 0x1FE9, 1, -8}, {0x1FEA, 0x1FEB, 1, -112}, {0x1FEC, 0x1FEC, 1, -7},
    {0x1FF8, 0x1FF9, 1, -128}, {0x1FFA, 0x1FFB, 1, -126}, {0x1FFC, 0x1FFC, 1, -9}, {0x2126, 0x2126, 1, -7517},
    {0x212A, 0x212A, 1, -8383}, {0x212B, 0x212B, 1, -8262}, {0x2132, 0x2132, 1, 28}, {0x2160, 0x216F, 1, 16},
    {0x2183, 0x2183, 1, 1}, {0x24B6, 0x24CF, 1, 26}, {0x2C00, 0x2C2F, 1, 48}, {0x2C60, 0x2C60, 1, 1},
    {0x2C62, 0x2C62, 1, -10743}, {0x2C63, 0x2C63, 1, -3814}, {0x2C64, 0x2C64, 1, -10727}, {0x2C67, 0x2C6B, 2, 1},
    {0x2C6D, 0x2C6D, 1, -10780}, {0x2C6E, 0x2C6E, 1, -10749}, {0x2C6F, 0x2C6F, 1, -10783}, {0x2C70, 0x2C70, 1, -10782},
    {0x2C72, 0x2C72, 1, 1}, {0x2C75, 0x2C75, 1, 1}, {0x2C7E, 0x2C7F, 1, -10815}, {0x2C80, 0x2CE2, 2, 1},
    {0x2CEB, 0x2CED, 2, 1}, {0x2CF2, 0x2CF2, 1, 1}, {0xA640, 0xA66C, 2, 1}, {0xA680, 0xA69A, 2, 1},
    {0xA722, 0xA72E, 2, 1}, {0xA732, 0xA76E, 2, 1}, {0xA779, 0xA77B, 2, 1}, {0xA77D, 0xA77D, 1, -35332},
    {0xA77E, 0xA786, 2, 1}, {0xA78B, 0xA78B, 1, 1}, {0xA78D, 0xA78D, 1, -42280}, {0xA790, 0xA792, 2, 1},
    {0xA796, 0xA7A8, 2, 1}, {0xA7AA, 0xA7AA, 1, -42308}, {0xA7AB, 0xA7AB, 1, -42319}, {0xA7AC, 0xA7AC, 1, -42315},
    {0xA7AD, 0xA7AD, 1, -42305}, {0xA7AE, 0xA7AE, 1, -42308}, {0xA7B0, 0xA7B0, 1, -42258}, {0xA7B1, 0xA7B1, 1, -42282},
    {0xA7B2, 0xA7B2, 1, -42261}, {0xA7B3, 0xA7B3, 1, 928}, {0xA7B4, 0xA7C2, 2, 1}, {0xA7C4, 0xA7C4, 1, -48},
    {0xA7C5, 0xA7C5, 1, -42307}, {0xA7C6, 0xA7C6, 1, -35384}, {0xA7C7, 0xA7C9, 2, 1}, {0xA7D0, 0xA7D0, 1, 1},
    {0xA7D6, 0xA7D8, 2, 1}, {0xA7F5, 0xA7F5, 1, 1}, {0xFF21, 0xFF3A, 1, 32}, {0x10400, 0x10427, 1, 40},
    {0x104B0, 0x104D3, 1, 40}, {0x10570, 0x1057A, 1, 39}, {0x1057C, 0x1058A, 1, 39}, {0x1058C, 0x10592, 1, 39},
    {0x10594, 0x10595, 1, 39}, {0x10C80, 0x10CB2, 1, 64}, {0x118A0, 0x118BF, 1, 32}, {0x16E40, 0x16E5F, 1, 32},
    {0x1E900, 0x1E921, 1, 34},
};

uint32_t tm_lower_cp(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    int lo = 0, hi = (int)(sizeof lower_runs / sizeof lower_runs[0]) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < lower_runs[mid].first) {
            hi = mid - 1;
        } else if (c > lower_runs[mid].last) {
            lo = mid + 1;
        } else {
            int off_stride = (c - lower_runs[mid].first) % (uint32_t)lower_runs[mid].stride != 0;
            return off_stride ? c : (uint32_t)((int)c + lower_runs[mid].delta);
        }
    }
    return c;
}

/* Lowercase of valid UTF-8 v. */
char *tm_lower_valid(const char *v) {
    sb b;
    sb_init(&b);
    for (size_t i = 0; v[i];) {
        uint32_t c = tm_u8_get(v, &i);
        if (c == 0x130)
            sb_puts(&b, "i\xCC\x87"); /* i + COMBINING DOT ABOVE, as Python does */
        else
            u8_put(&b, tm_lower_cp(c));
    }
    return sb_take(&b);
}

char *tm_lower(const char *s) {
    char *v = tm_utf8_sanitize(s);
    char *r = tm_lower_valid(v);
    free(v);
    return r;
}

/* --- tokens ------------------------------------------------------------------ */

void tm_toks_push(tm_toks *t, const char *s, int len) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->s = cj_xrealloc(t->s, (size_t)t->cap * sizeof *t->s);
        t->len = cj_xrealloc(t->len, (size_t)t->cap * sizeof *t->len);
    }
    t->s[t->n] = s;
    t->len[t->n++] = len;
}

void tm_toks_free(tm_toks *t) {
    free(t->s);
    free(t->len);
}

/* Python's str.split() on valid UTF-8. */
void tm_split_pyws(const char *v, tm_toks *t) {
    size_t i = 0, start = 0;
    int in = 0;
    while (v[i]) {
        size_t at = i;
        uint32_t c = tm_u8_get(v, &i);
        if (tm_py_isspace(c)) {
            if (in) tm_toks_push(t, v + start, (int)(at - start));
            in = 0;
        } else if (!in) {
            in = 1, start = at;
        }
    }
    if (in) tm_toks_push(t, v + start, (int)(i - start));
}

char *tm_join_toks(const tm_toks *t) {
    sb b;
    sb_init(&b);
    for (int k = 0; k < t->n; k++) {
        if (k) sb_putc(&b, ' ');
        sb_putn(&b, t->s[k], (size_t)t->len[k]);
    }
    return sb_take(&b);
}

/* Token ids: equal strings get equal ids, across both lists. */
typedef struct {
    const char *s;
    int len;
    int *slot;
} ient;

static int ient_cmp(const void *pa, const void *pb) {
    const ient *a = pa, *b = pb;
    int m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, (size_t)m);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* ida[a->n], idb[b->n] receive ids in 0..(number of distinct tokens). */
void tm_intern2(const tm_toks *a, int *ida, const tm_toks *b, int *idb) {
    int n = a->n + b->n;
    if (!n) return;
    ient *v = cj_xmalloc((size_t)n * sizeof *v);
    for (int k = 0; k < a->n; k++) v[k] = (ient){a->s[k], a->len[k], &ida[k]};
    for (int k = 0; k < b->n; k++) v[a->n + k] = (ient){b->s[k], b->len[k], &idb[k]};
    qsort(v, (size_t)n, sizeof *v, ient_cmp);
    int id = 0;
    for (int k = 0; k < n; k++) {
        if (k && ient_cmp(&v[k - 1], &v[k])) id++;
        *v[k].slot = id;
    }
    free(v);
}

/* One n-gram occurrence: ids p[0..n) from side 0 or 1. */
typedef struct {
    const int *p;
    int n, side;
} gram;

static int gram_cmp(const void *pa, const void *pb) {
    const gram *a = pa, *b = pb;
    for (int k = 0; k < a->n; k++)
        if (a->p[k] != b->p[k]) return (a->p[k] > b->p[k]) - (a->p[k] < b->p[k]);
    return 0;
}

/* Clipped overlap of the order-n n-grams of a and b: the sum over distinct
 * n-grams of min(count in a, count in b) (Counter & Counter). */
long tm_ngram_overlap(const int *a, int na, const int *b, int nb, int n) {
    long ga = na >= n ? na - n + 1 : 0, gb = nb >= n ? nb - n + 1 : 0;
    if (!ga || !gb) return 0;
    gram *v = cj_xmalloc((size_t)(ga + gb) * sizeof *v);
    for (long k = 0; k < ga; k++) v[k] = (gram){a + k, n, 0};
    for (long k = 0; k < gb; k++) v[ga + k] = (gram){b + k, n, 1};
    qsort(v, (size_t)(ga + gb), sizeof *v, gram_cmp);
    long overlap = 0;
    for (long k = 0; k < ga + gb;) {
        long cnt[2] = {0, 0}, j = k;
        while (j < ga + gb && !gram_cmp(&v[k], &v[j])) cnt[v[j++].side]++;
        overlap += cnt[0] < cnt[1] ? cnt[0] : cnt[1];
        k = j;
    }
    free(v);
    return overlap;
}

void tm_split_spaces(const char *s, tm_toks *t) {
    for (const char *p = s; *p;) {
        while (*p == ' ') p++;
        const char *start = p;
        while (*p && *p != ' ') p++;
        if (p > start) tm_toks_push(t, start, (int)(p - start));
    }
}

/* --- PCRE2 ------------------------------------------------------------------- */

static const char *const builtin_pat[TM_RE_N] = {"(\\P{N})(\\p{P})", "(\\p{P})(\\P{N})", "(\\p{S})",
                                                 "\\b(a|an|the)\\b"};
static pcre2_code *builtin_re[TM_RE_N];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void) {
    for (int k = 0; k < TM_RE_N; k++) {
        int code;
        PCRE2_SIZE off;
        builtin_re[k] = pcre2_compile((PCRE2_SPTR)builtin_pat[k], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                      &code, &off, NULL);
        if (!builtin_re[k]) {
            /* only a PCRE2 built without Unicode support gets here */
            fprintf(stderr, "textmetrics: PCRE2 cannot compile %s (error %d)\n", builtin_pat[k], code);
            abort();
        }
    }
}

const pcre2_code *tm_builtin(int which) {
    pthread_once(&builtin_once, builtin_init);
    return builtin_re[which];
}

int tm_re_error(cj_err *e, const char *what, int rc) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return cj_fail(e, "regex %s: %s", what, (const char *)msg);
}

/* Global substitution of valid UTF-8 v (Python's re.sub). */
int tm_re_subst(const pcre2_code *re, const char *v, const char *rep, char **out, cj_err *e) {
    size_t n = strlen(v);
    PCRE2_SIZE cap = 2 * n + 64;
    for (;;) {
        char *buf = cj_xmalloc(cap);
        PCRE2_SIZE len = cap;
        int rc = pcre2_substitute(re, (PCRE2_SPTR)v, n, 0,
                                  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | PCRE2_NO_UTF_CHECK,
                                  NULL, NULL, (PCRE2_SPTR)rep, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)buf, &len);
        if (rc >= 0) {
            *out = buf;
            return 0;
        }
        free(buf);
        if (rc != PCRE2_ERROR_NOMEMORY || len < cap) return tm_re_error(e, "substitution", rc);
        cap = len + 1;
    }
}
