/* moe — the mixture-of-experts MLP (see moe.h). */
#include "moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "fwd_impl.h"

struct fwd_moe {
    float *logits; /* [max_batch, n_experts] router logits */
    int *sel;      /* [max_batch, k] the chosen experts, by rank */
    float *wt;     /* [max_batch, k] their weights */
    int *rows;     /* [max_batch] the rows routed to one expert, ascending */
    float *rw;     /* [max_batch] and their weights for it */
    float *xg;     /* [max_batch, dim] those rows gathered */
    float *yg;     /* [max_batch, dim] an expert's (or the shared one's) output */
    float *acc;    /* [max_batch, dim] the weighted sum */
    float *fbuf;   /* the float arrays above, one allocation */
    int *ibuf;     /* the int ones */
};

void moe_new(fwd *f) {
    const model_hparams *hp = &f->m->hp;
    if (!hp->n_experts) return;
    size_t b = (size_t)f->max_batch, d = (size_t)hp->dim, k = (size_t)hp->n_expert_used;
    struct fwd_moe *s = cj_xcalloc(1, sizeof *s);
    s->fbuf = cj_xcalloc(b * ((size_t)hp->n_experts + k + 1 + 3 * d), sizeof(float));
    s->ibuf = cj_xcalloc(b * (k + 1), sizeof(int));
    s->logits = s->fbuf;
    s->wt = s->logits + b * (size_t)hp->n_experts;
    s->rw = s->wt + b * k;
    s->xg = s->rw + b;
    s->yg = s->xg + b * d;
    s->acc = s->yg + b * d;
    s->sel = s->ibuf;
    s->rows = s->sel + b * k;
    f->moe = s;
}

void moe_free(fwd *f) {
    if (!f->moe) return;
    free(f->moe->fbuf);
    free(f->moe->ibuf);
    free(f->moe);
    f->moe = NULL;
}

/* Softmax of one row's ne logits, then its top k (ties: the lower index
 * first, by scanning upward with a strict >) and their weights. The
 * probabilities are floats, as transformers' router computes them. */
static void route_row(const float *logit, int ne, int k, int norm, int *sel, float *wt) {
    float mx = logit[0];
    for (int i = 1; i < ne; i++) mx = logit[i] > mx ? logit[i] : mx;
    double sum = 0;
    for (int i = 0; i < ne; i++) sum += expf(logit[i] - mx);
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < ne; i++) {
            int taken = 0;
            for (int q = 0; q < j && !taken; q++) taken = sel[q] == i;
            if (!taken && (best < 0 || logit[i] > logit[best])) best = i;
        }
        sel[j] = best;
        wt[j] = (float)(expf(logit[best] - mx) / sum);
    }
    if (!norm) return;
    float tot = 0;
    for (int j = 0; j < k; j++) tot += wt[j];
    for (int j = 0; j < k; j++) wt[j] /= tot;
}

/* out[n, dim] = down(silu(gate x) * up x) for the n rows of x [n, dim]
 * (hb and hb2 as the hidden rows). */
static void swiglu_mlp(fwd *f, float *out, float *x, const model_mat *gate, const model_mat *up,
                       const model_mat *down, int n, int ffn) {
    int d = f->m->hp.dim;
    fwd_matmul(f, f->hb, x, gate, n, d, ffn);
    fwd_matmul(f, f->hb2, x, up, n, d, ffn);
    fwd_swiglu(f->hb, f->hb2, (size_t)n * (size_t)ffn);
    fwd_matmul(f, out, f->hb, down, n, ffn, d);
}

/* Expert x over the rows routed to it, each output added, weighted, to its
 * row's sum. Called for x ascending, so each row sums its experts in that
 * order. */
static void run_expert(fwd *f, const model_layer *w, int x, int n) {
    struct fwd_moe *s = f->moe;
    const model_hparams *hp = &f->m->hp;
    size_t d = (size_t)hp->dim;
    int k = hp->n_expert_used, cnt = 0;
    for (int r = 0; r < n; r++)
        for (int j = 0; j < k; j++)
            if (s->sel[(size_t)r * k + j] == x) {
                s->rows[cnt] = r;
                s->rw[cnt] = s->wt[(size_t)r * k + j];
                memcpy(s->xg + (size_t)cnt++ * d, f->xb + (size_t)r * d, d * sizeof(float));
            }
    if (!cnt) return;
    swiglu_mlp(f, s->yg, s->xg, &w->exp_gate[x], &w->exp_up[x], &w->exp_down[x], cnt, hp->expert_ffn);
    for (int i = 0; i < cnt; i++) {
        float *a = s->acc + (size_t)s->rows[i] * d;
        const float *y = s->yg + (size_t)i * d;
        for (size_t c = 0; c < d; c++) a[c] += s->rw[i] * y[c];
    }
}

/* Qwen2-MoE's shared expert on every row, gated by sigmoid(g . x), added
 * after the routed experts (transformers' order). */
static void run_shared(fwd *f, const model_layer *w, int n) {
    struct fwd_moe *s = f->moe;
    const model_hparams *hp = &f->m->hp;
    size_t d = (size_t)hp->dim;
    swiglu_mlp(f, s->yg, f->xb, &w->sh_gate, &w->sh_up, &w->sh_down, n, hp->shared_ffn);
    fwd_matmul(f, s->rw, f->xb, &w->sh_router, n, (int)d, 1);
    for (int r = 0; r < n; r++) {
        float g = (float)(1.0 / (1.0 + exp(-(double)s->rw[r])));
        float *a = s->acc + (size_t)r * d;
        const float *y = s->yg + (size_t)r * d;
        for (size_t c = 0; c < d; c++) a[c] += g * y[c];
    }
}

void moe_ffn(fwd *f, int l, int n) {
    struct fwd_moe *s = f->moe;
    const model_hparams *hp = &f->m->hp;
    const model_layer *w = &f->m->layers[l];
    int ne = hp->n_experts, k = hp->n_expert_used;
    size_t d = (size_t)hp->dim;
    fwd_matmul(f, s->logits, f->xb, &w->router, n, (int)d, ne);
    for (int r = 0; r < n; r++)
        route_row(s->logits + (size_t)r * ne, ne, k, hp->norm_topk, s->sel + (size_t)r * k, s->wt + (size_t)r * k);
    memset(s->acc, 0, (size_t)n * d * sizeof(float));
    for (int x = 0; x < ne; x++) run_expert(f, w, x, n);
    if (hp->shared_ffn) run_shared(f, w, n);
    memcpy(f->xb, s->acc, (size_t)n * d * sizeof(float));
}
