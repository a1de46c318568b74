/* textmetrics — the text-comparison metrics of generative tasks, computed
 * the way the reference Python packages compute them, on UTF-8 text.
 *
 *   BLEU          sacrebleu 2.x corpus_bleu([hyp], [[ref]]) with lm-eval's
 *                 truthfulqa settings: tokenize="intl", smooth_method="exp",
 *                 lowercase=False, use_effective_order=False, max order 4.
 *                 Score in 0..100. Segments are rstripped, then tokenized by
 *                 the mteval-v14 "international" rules, in order:
 *                   (\P{N})(\p{P}) -> "$1 $2 "   punctuation after a non-number
 *                   (\p{P})(\P{N}) -> " $1 $2"   punctuation before a non-number
 *                   (\p{S})        -> " $1 "     every symbol
 *                 then split on (Python) whitespace. Precision of order n is
 *                 100 * clipped matches / hyp n-grams; an order with no match
 *                 gets 100 / (2^k * total) ("exp" smoothing, k-th such order);
 *                 an order with no hyp n-gram (hyp shorter than n) makes the
 *                 score 0, and so does having no match of any order.
 *                 BP = exp(1 - ref_len / hyp_len) when hyp_len < ref_len.
 *   ROUGE         google's rouge-score RougeScorer(["rouge1", "rouge2",
 *                 "rougeLsum"]) without stemming: text lowercased, every
 *                 run of characters outside [a-z0-9] is a separator (so
 *                 Hangul and other non-ASCII letters are dropped, as there).
 *                 rougeN: clipped n-gram overlap; P = overlap / pred n-grams,
 *                 R = overlap / target n-grams. rougeLsum: sentences are the
 *                 non-empty lines; summary-level union LCS with the per-token
 *                 hit budget of ROUGE-1.5.5. F = 2PR / (P + R), 0 when P+R=0.
 *                 Values are fractions (0..1), as rouge-score returns them.
 *   token F1      SQuAD 2.0: normalise (lowercase, drop ASCII punctuation,
 *                 \b(a|an|the)\b -> " ", split on whitespace); F1 of the
 *                 bag-of-tokens overlap; 1 if both are empty, 0 if one is.
 *   exact match   lm-eval's exact_match (HF evaluate's): delete every match
 *                 of each regex to ignore, then lowercase, then delete ASCII
 *                 punctuation, then ASCII digits (each optional); compare.
 *   extraction    lm-eval's "regex" filter: findall over the text; take
 *                 match number group_select (negative counts from the end);
 *                 its value is the whole match if the pattern has no group,
 *                 the group if it has one, the first non-empty group if it
 *                 has several; strip whitespace. No match (or an index out
 *                 of range, or all groups empty) gives the fallback.
 *
 * Text: every function accepts any bytes. Invalid UTF-8 is first replaced
 * by U+FFFD per maximal invalid subpart (what Python's decode(errors=
 * "replace") does), so a broken generation still scores. Characters are
 * Unicode code points; Unicode properties (\p{P}, \b, \w) come from PCRE2
 * in UTF + UCP mode. Patterns given by users are PCRE2 syntax, which agrees
 * with Python's re for the usual cases (one known difference: Python's \s
 * also matches the separators U+001C..U+001F). Lowercasing is Python's
 * str.lower() (Unicode 14.0 mappings, U+0130 -> "i\u0307" included) except
 * Greek final sigma: Σ always lowers to σ, never to ς by context.
 *
 * Errors: functions returning int give 0, or -1 with e filled: a user
 * pattern that does not compile (the message names the pattern and the
 * offset) or fails to match (PCRE2's match limit), or a rougeLsum sentence
 * pair too long for the LCS table (more than 2^24 cells, i.e. two single
 * sentences of about 4,000 tokens each). Returned strings are malloc'd and
 * owned by the caller. Nothing keeps state between calls except the
 * built-in patterns (BLEU tokenizer, SQuAD articles), compiled once,
 * thread-safely; every function may be called from several threads. */
#ifndef CJ_TEXTMETRICS_H
#define CJ_TEXTMETRICS_H

#include "../common/err.h"

/* --- text helpers -------------------------------------------------------- */

/* A copy of s with invalid UTF-8 replaced by U+FFFD. */
char *tm_utf8_sanitize(const char *s);

/* s lowercased as Python's str.lower() does (see above). */
char *tm_lower(const char *s);

/* s without leading and trailing whitespace, as Python's str.strip(). */
char *tm_strip(const char *s);

/* --- BLEU ---------------------------------------------------------------- */

#define TM_BLEU_ORDER 4

typedef struct {
    double score;                        /* 0..100 */
    double bp;                           /* brevity penalty */
    double precision[TM_BLEU_ORDER];     /* percent, after smoothing */
    long correct[TM_BLEU_ORDER];         /* clipped matching n-grams */
    long total[TM_BLEU_ORDER];           /* n-grams in the hypothesis */
    long hyp_len, ref_len;               /* tokens */
} tm_bleu;

/* Sentence BLEU of hyp against the single reference ref. */
int tm_bleu_sentence(const char *hyp, const char *ref, tm_bleu *out, cj_err *e);

/* The "intl" tokenization of s (rstripped), tokens joined by one space. */
int tm_bleu_tokenize_intl(const char *s, char **out, cj_err *e);

/* --- ROUGE --------------------------------------------------------------- */

typedef struct {
    double precision, recall, fmeasure; /* 0..1 */
} tm_prf;

typedef struct {
    tm_prf rouge1, rouge2, rougeLsum;
} tm_rouge;

/* rouge-score's scorer.score(target, prediction). */
int tm_rouge_score(const char *target, const char *prediction, tm_rouge *out, cj_err *e);

/* rouge-score's tokenizer: the tokens of s joined by one space. */
char *tm_rouge_tokenize(const char *s);

/* --- token F1 and exact match -------------------------------------------- */

/* SQuAD normalisation of s (tokens joined by one space). */
char *tm_squad_normalize(const char *s);

/* SQuAD 2.0 token-level F1 of pred against gold, 0..1. */
double tm_token_f1(const char *pred, const char *gold);

typedef struct {
    int ignore_case;
    int ignore_punctuation; /* ASCII punctuation, Python's string.punctuation */
    int ignore_numbers;     /* ASCII digits */
    const char *const *regexes_to_ignore; /* applied first, in order; may be NULL */
    int n_regexes_to_ignore;
} tm_em_opts;

/* s after the normalisations o asks for (o may be NULL: a copy of s). */
int tm_em_normalize(const char *s, const tm_em_opts *o, char **out, cj_err *e);

/* 1.0 if pred and ref are equal after normalisation, else 0.0. */
int tm_exact_match(const char *pred, const char *ref, const tm_em_opts *o, double *em, cj_err *e);

/* --- patterns -------------------------------------------------------------- */

/* 0 if pattern compiles (UTF + UCP); for validating task files early. */
int tm_regex_check(const char *pattern, cj_err *e);

/* lm-eval's regex filter (see above). */
int tm_regex_extract(const char *text, const char *pattern, int group_select, const char *fallback,
                     char **out, cj_err *e);

/* *found = 1 if pattern matches anywhere in text (caseless if asked). */
int tm_regex_search(const char *text, const char *pattern, int caseless, int *found, cj_err *e);

#endif
