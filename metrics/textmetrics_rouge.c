/* textmetrics_rouge — google's rouge-score: rouge1, rouge2 and the
 * summary-level LCS of rougeLsum, with its tokenizer (see textmetrics.h).
 * Apart from BLEU: the two reimplement different packages and share only
 * the text layer. */
#include "textmetrics_impl.h"

#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"

/* rouge-score's tokenizer on valid UTF-8 v: lowercase, then every code
 * point outside [a-z0-9] becomes a space. Split the result on spaces. */
static char *rouge_clean(const char *v) {
    sb b;
    sb_init(&b);
    for (size_t i = 0; v[i];) {
        uint32_t c = tm_u8_get(v, &i);
        if (c == 0x130) { /* lowers to "i" + U+0307: the i survives */
            sb_puts(&b, "i ");
            continue;
        }
        c = tm_lower_cp(c);
        sb_putc(&b, (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? (char)c : ' ');
    }
    return sb_take(&b);
}

char *tm_rouge_tokenize(const char *s) {
    char *v = tm_utf8_sanitize(s), *c = rouge_clean(v);
    tm_toks t = {0};
    tm_split_spaces(c, &t);
    char *r = tm_join_toks(&t);
    tm_toks_free(&t);
    free(c);
    free(v);
    return r;
}

/* rouge-score's scoring.fmeasure. */
static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

static tm_prf prf_ngrams(const int *t, int nt, const int *p, int np, int n) {
    long ct = nt >= n ? nt - n + 1 : 0, cp = np >= n ? np - n + 1 : 0;
    long inter = tm_ngram_overlap(t, nt, p, np, n);
    tm_prf s;
    s.precision = (double)inter / (double)(cp > 1 ? cp : 1);
    s.recall = (double)inter / (double)(ct > 1 ? ct : 1);
    s.fmeasure = fmeasure(s.precision, s.recall);
    return s;
}

/* Bound on the cells of one LCS table (ints): 64 MiB. */
#define LCS_MAX_CELLS ((size_t)1 << 24)

/* Marks in mark[0..nr) the indices of r on the LCS of r and c that
 * rouge-score's _backtrack_norec reads out (its tie-breaking decides which
 * LCS, and so the union). t is scratch of (nr+1)*(nc+1) ints. */
static void lcs_mark(const int *r, int nr, const int *c, int nc, int *t, unsigned char *mark) {
    size_t w = (size_t)nc + 1;
    for (int j = 0; j <= nc; j++) t[j] = 0;
    for (int i = 1; i <= nr; i++) {
        t[(size_t)i * w] = 0;
        for (int j = 1; j <= nc; j++) {
            int up = t[(size_t)(i - 1) * w + j], left = t[(size_t)i * w + j - 1];
            t[(size_t)i * w + j] = r[i - 1] == c[j - 1] ? t[(size_t)(i - 1) * w + j - 1] + 1 : up > left ? up : left;
        }
    }
    for (int i = nr, j = nc; i > 0 && j > 0;) {
        if (r[i - 1] == c[j - 1])
            mark[--i] = 1, j--;
        else if (t[(size_t)i * w + j - 1] > t[(size_t)(i - 1) * w + j])
            j--;
        else
            i--;
    }
}

/* Sentences as offsets into one flat id array: sentence k is
 * ids[off[k] .. off[k+1]). */
typedef struct {
    tm_toks t; /* all tokens, in order */
    int *off;  /* [n_sent + 1] */
    int n_sent;
    char **bufs; /* [n_sent] cleaned sentence text the tokens point into */
} sents;

static void sents_build(const char *v, sents *s) {
    memset(s, 0, sizeof *s);
    int cap = 0;
    for (const char *p = v;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) { /* rouge-score drops empty lines */
            if (s->n_sent + 1 >= cap) {
                cap = cap ? cap * 2 : 8;
                s->off = cj_xrealloc(s->off, (size_t)(cap + 1) * sizeof *s->off);
                s->bufs = cj_xrealloc(s->bufs, (size_t)cap * sizeof *s->bufs);
            }
            char *line = cj_xstrndup(p, len);
            s->bufs[s->n_sent] = rouge_clean(line);
            free(line);
            s->off[s->n_sent] = s->t.n;
            tm_split_spaces(s->bufs[s->n_sent], &s->t);
            s->n_sent++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (!s->off) s->off = cj_xmalloc(sizeof *s->off);
    s->off[s->n_sent] = s->t.n;
}

static void sents_free(sents *s) {
    for (int k = 0; k < s->n_sent; k++) free(s->bufs[k]);
    free(s->bufs);
    free(s->off);
    tm_toks_free(&s->t);
}

/* rouge-score's _summary_level_lcs (rougeLsum). */
static int prf_lsum(const sents *rs, const int *rid, const sents *cs, const int *cid, int n_ids, tm_prf *out,
                    cj_err *e) {
    memset(out, 0, sizeof *out);
    int m = rs->t.n, n = cs->t.n;
    if (!m || !n) return 0;
    int max_r = 0, max_c = 0;
    for (int k = 0; k < rs->n_sent; k++)
        if (rs->off[k + 1] - rs->off[k] > max_r) max_r = rs->off[k + 1] - rs->off[k];
    for (int k = 0; k < cs->n_sent; k++)
        if (cs->off[k + 1] - cs->off[k] > max_c) max_c = cs->off[k + 1] - cs->off[k];
    size_t cells = ((size_t)max_r + 1) * ((size_t)max_c + 1);
    if (cells > LCS_MAX_CELLS)
        return cj_fail(e, "rougeLsum: sentences of %d and %d tokens exceed the LCS table limit", max_r, max_c);
    int *t = cj_xmalloc(cells * sizeof *t);
    int *cnt_r = cj_xcalloc((size_t)n_ids, sizeof *cnt_r), *cnt_c = cj_xcalloc((size_t)n_ids, sizeof *cnt_c);
    unsigned char *mark = cj_xmalloc((size_t)max_r + 1);
    for (int k = 0; k < m; k++) cnt_r[rid[k]]++;
    for (int k = 0; k < n; k++) cnt_c[cid[k]]++;
    long hits = 0;
    for (int a = 0; a < rs->n_sent; a++) {
        const int *r = rid + rs->off[a];
        int nr = rs->off[a + 1] - rs->off[a];
        memset(mark, 0, (size_t)nr + 1);
        for (int b = 0; b < cs->n_sent; b++)
            lcs_mark(r, nr, cid + cs->off[b], cs->off[b + 1] - cs->off[b], t, mark);
        for (int i = 0; i < nr; i++) {
            if (mark[i] && cnt_c[r[i]] > 0 && cnt_r[r[i]] > 0) {
                hits++;
                cnt_c[r[i]]--;
                cnt_r[r[i]]--;
            }
        }
    }
    out->recall = (double)hits / m;
    out->precision = (double)hits / n;
    out->fmeasure = fmeasure(out->precision, out->recall);
    free(t);
    free(cnt_r);
    free(cnt_c);
    free(mark);
    return 0;
}

int tm_rouge_score(const char *target, const char *prediction, tm_rouge *out, cj_err *e) {
    char *vt = tm_utf8_sanitize(target), *vp = tm_utf8_sanitize(prediction);
    char *ct = rouge_clean(vt), *cp = rouge_clean(vp);
    tm_toks tt = {0}, tp = {0};
    tm_split_spaces(ct, &tt);
    tm_split_spaces(cp, &tp);
    int *it = cj_xmalloc((size_t)(tt.n + 1) * sizeof *it), *ip = cj_xmalloc((size_t)(tp.n + 1) * sizeof *ip);
    tm_intern2(&tt, it, &tp, ip);
    out->rouge1 = prf_ngrams(it, tt.n, ip, tp.n, 1);
    out->rouge2 = prf_ngrams(it, tt.n, ip, tp.n, 2);

    /* The sentence tokens are the same tokens regrouped; intern them anew. */
    sents st, sp;
    sents_build(vt, &st);
    sents_build(vp, &sp);
    int *sit = cj_xmalloc((size_t)(st.t.n + 1) * sizeof *sit), *sip = cj_xmalloc((size_t)(sp.t.n + 1) * sizeof *sip);
    tm_intern2(&st.t, sit, &sp.t, sip);
    int rc = prf_lsum(&st, sit, &sp, sip, st.t.n + sp.t.n, &out->rougeLsum, e);

    free(sit);
    free(sip);
    sents_free(&st);
    sents_free(&sp);
    free(it);
    free(ip);
    tm_toks_free(&tt);
    tm_toks_free(&tp);
    free(ct);
    free(cp);
    free(vt);
    free(vp);
    return rc;
}
