/* textmetrics_impl — the text layer the text metrics share, private to
 * metrics/: textmetrics.c holds it (UTF-8, Python's lowercasing and
 * whitespace, token lists and ids, n-gram overlap, the built-in patterns);
 * textmetrics_bleu.c, textmetrics_rouge.c and textmetrics_match.c (token
 * F1, exact match, the regex filter) build on it. textmetrics.h is the
 * public contract. Functions taking "valid UTF-8" expect text that went
 * through tm_utf8_sanitize. */
#ifndef CJ_TEXTMETRICS_IMPL_H
#define CJ_TEXTMETRICS_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "textmetrics.h"

/* Decodes the code point at s[*i] of valid UTF-8 and advances *i. */
uint32_t tm_u8_get(const char *s, size_t *i);

/* Python's str.isspace(), which is what str.split() and str.strip() use. */
int tm_py_isspace(uint32_t c);

/* Python's str.lower() of one code point, except U+0130, which lowers to
 * two (callers handle it). */
uint32_t tm_lower_cp(uint32_t c);

/* Lowercase of valid UTF-8 v, malloc'd. */
char *tm_lower_valid(const char *v);

/* A token list: spans into a string the caller keeps alive. */
typedef struct {
    const char **s; /* [n] start of each token */
    int *len;       /* [n] bytes */
    int n, cap;
} tm_toks;

void tm_toks_push(tm_toks *t, const char *s, int len);
void tm_toks_free(tm_toks *t);

/* Python's str.split() on valid UTF-8. */
void tm_split_pyws(const char *v, tm_toks *t);

/* Split on ASCII spaces only. */
void tm_split_spaces(const char *s, tm_toks *t);

/* The tokens joined by one space, malloc'd. */
char *tm_join_toks(const tm_toks *t);

/* Token ids: equal strings get equal ids, across both lists.
 * ida[a->n], idb[b->n] receive ids in 0..(number of distinct tokens). */
void tm_intern2(const tm_toks *a, int *ida, const tm_toks *b, int *idb);

/* Clipped overlap of the order-n n-grams of a and b: the sum over distinct
 * n-grams of min(count in a, count in b) (Counter & Counter). */
long tm_ngram_overlap(const int *a, int na, const int *b, int nb, int n);

/* The built-in patterns, compiled once (UTF + UCP), thread-safely. */
enum { TM_RE_INTL_P_AFTER, TM_RE_INTL_P_BEFORE, TM_RE_INTL_SYM, TM_RE_ARTICLES, TM_RE_N };
const pcre2_code *tm_builtin(int which);

/* Fills e with PCRE2's message for rc, after "regex <what>: "; returns -1. */
int tm_re_error(cj_err *e, const char *what, int rc);

/* Global substitution of valid UTF-8 v (Python's re.sub). */
int tm_re_subst(const pcre2_code *re, const char *v, const char *rep, char **out, cj_err *e);

#endif
