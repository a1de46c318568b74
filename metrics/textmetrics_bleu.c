/* textmetrics_bleu — sacrebleu's sentence BLEU with lm-eval's truthfulqa
 * settings: the mteval "intl" tokenizer and exp smoothing (see
 * textmetrics.h). Apart from ROUGE: the two reimplement different packages
 * and share only the text layer. */
#include "textmetrics_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

/* End of v without trailing Python whitespace. */
static size_t rstrip_len(const char *v) {
    size_t i = 0, end = 0;
    while (v[i]) {
        uint32_t c = tm_u8_get(v, &i);
        if (!tm_py_isspace(c)) end = i;
    }
    return end;
}

/* The intl-tokenized form of valid UTF-8 v, before the final split. */
static int intl_valid(const char *v, char **out, cj_err *e) {
    static const char *const rep[3] = {"$1 $2 ", " $1 $2", " $1 "};
    char *cur = cj_xstrndup(v, rstrip_len(v));
    for (int k = 0; k < 3; k++) {
        char *next;
        if (tm_re_subst(tm_builtin(TM_RE_INTL_P_AFTER + k), cur, rep[k], &next, e)) {
            free(cur);
            return -1;
        }
        free(cur);
        cur = next;
    }
    *out = cur;
    return 0;
}

int tm_bleu_tokenize_intl(const char *s, char **out, cj_err *e) {
    char *v = tm_utf8_sanitize(s), *t;
    int rc = intl_valid(v, &t, e);
    free(v);
    if (rc) return -1;
    tm_toks tk = {0};
    tm_split_pyws(t, &tk);
    *out = tm_join_toks(&tk);
    tm_toks_free(&tk);
    free(t);
    return 0;
}

/* sacrebleu's my_log: log, with 0 mapped to a huge negative number. */
static double bleu_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

static void bleu_compute(tm_bleu *o) {
    if (o->hyp_len < o->ref_len)
        o->bp = o->hyp_len > 0 ? exp(1.0 - (double)o->ref_len / (double)o->hyp_len) : 0.0;
    else
        o->bp = 1.0;
    int any = 0;
    for (int n = 0; n < TM_BLEU_ORDER; n++) o->precision[n] = 0.0, any |= o->correct[n] != 0;
    o->score = 0.0;
    if (!any) return;
    double smooth = 1.0;
    for (int n = 0; n < TM_BLEU_ORDER; n++) {
        if (o->total[n] == 0) break;
        if (o->correct[n] == 0) {
            smooth *= 2;
            o->precision[n] = 100.0 / (smooth * (double)o->total[n]);
        } else {
            o->precision[n] = 100.0 * (double)o->correct[n] / (double)o->total[n];
        }
    }
    double sum = 0.0;
    for (int n = 0; n < TM_BLEU_ORDER; n++) sum += bleu_log(o->precision[n]);
    o->score = o->bp * exp(sum / TM_BLEU_ORDER);
}

int tm_bleu_sentence(const char *hyp, const char *ref, tm_bleu *out, cj_err *e) {
    char *vh = tm_utf8_sanitize(hyp), *vr = tm_utf8_sanitize(ref), *th = NULL, *tr = NULL;
    int rc = intl_valid(vh, &th, e);
    if (!rc) rc = intl_valid(vr, &tr, e);
    free(vh);
    free(vr);
    if (rc) {
        free(th);
        return -1;
    }
    tm_toks h = {0}, r = {0};
    tm_split_pyws(th, &h);
    tm_split_pyws(tr, &r);
    int *ih = cj_xmalloc((size_t)(h.n + 1) * sizeof *ih), *ir = cj_xmalloc((size_t)(r.n + 1) * sizeof *ir);
    tm_intern2(&h, ih, &r, ir);
    memset(out, 0, sizeof *out);
    out->hyp_len = h.n;
    out->ref_len = r.n;
    for (int n = 1; n <= TM_BLEU_ORDER; n++) {
        out->total[n - 1] = h.n >= n ? h.n - n + 1 : 0;
        out->correct[n - 1] = tm_ngram_overlap(ih, h.n, ir, r.n, n);
    }
    bleu_compute(out);
    free(ih);
    free(ir);
    tm_toks_free(&h);
    tm_toks_free(&r);
    free(th);
    free(tr);
    return 0;
}
