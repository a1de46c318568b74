/* forward — the batched Llama-family forward pass (see forward.h).
 *
 * One call runs a "row plan" through the model: n rows, one token each. Row r
 * is at position pos[r], writes its K/V to cache row kvrow[r], and attends to
 * a chain of cache row ranges holding its prefix (shared with other rows,
 * root first: rng[chain[r] ..], nchain[r] of them) followed by [kvlo[r],
 * kvrow[r]] (its own rows so far). The plans:
 *   fwd_score: the nodes of a prefix tree of the sequences (prefix.c),
 *     packed into batches, kvrow[r] = kv0 + r;
 *   decoding one sequence: kvrow[r] = n_past + r, no chain, kvlo = 0;
 *   decoding many (decode.c): each sequence's own rows in a region of the
 *     cache reserved for it, after the prompt prefix they share.
 * Per layer, every weight matrix is one product over all n rows (tokens as
 * rows, y = x W^T, gemm.h); attention and the per-row steps between
 * products are our own loops, the rows split among threads.
 *
 * Determinism. Each row's result is a function of its own sequence only,
 * computed by the same operations in the same order wherever the row sits:
 * the products sum each output element as one ascending FMA chain over k
 * (gemm.h), and norms, RoPE, attention (keys always in position order) and
 * the log-softmax are per-row loops with fixed orders. So neither the other
 * rows of a batch, nor the batching, nor prefix sharing, nor the thread
 * count, nor decoding versus scoring change a bit; and since every step is
 * IEEE arithmetic in a fixed order (explicit FMAs where FMAs are meant,
 * -ffp-contract=off elsewhere), neither does the CPU, as long as it has
 * FMA. tests/unit/test_runner.c, test_prefix.c and test_exact.c check it.
 * (`--kernels openblas` gives up that promise for OpenBLAS's sgemm.)
 *
 * Attention is in attention.c and the prefix tree in prefix.c; the context
 * struct they share is in fwd_impl.h. */
#include "forward.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../../common/sb.h"
#include "fwd_impl.h"

#define DEFAULT_BATCH_TOKENS 2048
#define MAX_BATCH_TOKENS (1 << 20)
/* Logit rows computed per output product, bounded by this many floats. */
#define LOGIT_BUDGET (4 << 20)

/* --- helpers --------------------------------------------------------------- */

static float *alloc_rows(int rows, int width) {
    return cj_xcalloc((size_t)rows * (size_t)width, sizeof(float));
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* y[n, out] = x[n, in] W^T. */
static void matmul(fwd *f, float *y, float *x, const model_mat *w, int n, int in, int out) {
    double t0 = now_s();
    gemm_mat(f->gm, y, out, x, in, w, n, in, out);
    f->tm.matrix_s += now_s() - t0;
    f->tm.matrix_flops += 2.0 * n * in * out;
}

void fwd_matmul(fwd *f, float *y, float *x, const model_mat *w, int n, int in, int out) { matmul(f, y, x, w, n, in, out); }

static void add_bias(float *y, const float *b, int r0, int r1, int width) {
    if (!b) return;
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < width; i++) y[(size_t)r * width + i] += b[i];
}

/* --- growth of position-indexed state ---------------------------------------- */

/* KV buffers of n floats are anonymous mappings, not malloc blocks: the
 * cache grows by copying into new buffers, and an unmapped buffer leaves
 * resident memory at once, where malloc may keep large freed blocks in its
 * heap (the KV budget is about resident memory). Failure aborts, as
 * cj_xmalloc does. Sanitizer builds use the heap, whose redzones let
 * AddressSanitizer check every KV index. */
#if defined(__SANITIZE_ADDRESS__)
#define KV_MALLOC 1 /* heap blocks have redzones: AddressSanitizer checks every KV index */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KV_MALLOC 1
#endif
#endif

static float *kv_map(size_t n) {
#ifdef KV_MALLOC
    return cj_xmalloc(n * sizeof(float));
#else
    void *p = mmap(NULL, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "chaejeom: out of memory (a KV buffer of %zu bytes)\n", n * sizeof(float));
        abort();
    }
    return p;
#endif
}

static void kv_unmap(float *p, size_t n) {
#ifdef KV_MALLOC
    (void)n;
    free(p);
#else
    if (p && n) munmap(p, n * sizeof(float));
#endif
}

int fwd_ensure_kv(fwd *f, int rows, cj_err *e) {
    if (rows <= f->kv_cap) return 0;
    /* Doubling, or under a budget an eighth at a time: the batch planner
     * counts only the rows in use against the budget. Whole tiles of keys. */
    int grow = f->budget ? f->kv_cap + f->kv_cap / 8 + 64 : imin(2 * f->kv_cap, INT32_MAX / 2);
    if (f->kv_budget_rows > 0) grow = imin(grow, f->kv_budget_rows);
    int cap = imax(rows, grow);
    if (cap > INT32_MAX - KT || (size_t)cap + KT > SIZE_MAX / sizeof(float) / (size_t)f->kv_dim)
        return cj_fail(e, "forward: KV cache for %d positions is too large", rows);
    cap = (cap + KT - 1) / KT * KT;
    size_t n_new = (size_t)cap * f->kv_dim, n_old = (size_t)f->kv_cap * f->kv_dim;
    size_t hd = (size_t)f->m->hp.head_dim, h_new = (size_t)cap * hd, h_old = (size_t)f->kv_cap * hd;
    for (int l = 0; l < f->m->hp.n_layers; l++) {
        float *k = kv_map(n_new), *v = kv_map(n_new);
        /* a head's tiles and rows do not depend on the capacity: its old
         * part is the start of its new one */
        for (int kh = 0; n_old && kh < f->m->hp.n_kv_heads; kh++) {
            memcpy(k + kh * h_new, f->kc[l] + kh * h_old, h_old * sizeof(float));
            memcpy(v + kh * h_new, f->vc[l] + kh * h_old, h_old * sizeof(float));
        }
        kv_unmap(f->kc[l], n_old);
        kv_unmap(f->vc[l], n_old);
        f->kc[l] = k;
        f->vc[l] = v;
    }
    f->kv_cap = cap;
    return 0;
}

static void ensure_att(fwd *f, int n) {
    if (n <= f->att_stride) return;
    for (int t = 0; t < imin(f->threads, MAX_ATT_THREADS); t++)
        f->att[t] = cj_xrealloc(f->att[t], (size_t)n * QMAX * sizeof(float));
    f->att_stride = n;
}

/* --- the layers -------------------------------------------------------------- */

/* x[i] += y[i] */
static void add_to(float *restrict x, const float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* The block's norm (RMSNorm, or LayerNorm with bias) of rows [r0, r1) of x into out. */
static void norm_rows(const fwd *f, float *out, const float *x, const float *w, const float *b, int r0, int r1) {
    const model_hparams *hp = &f->m->hp;
    size_t d = (size_t)hp->dim;
    for (int r = r0; r < r1; r++)
        if (hp->norm == NORM_LAYER) block_layernorm(out + r * d, x + r * d, w, b, (int)d, hp->rms_eps);
        else block_rmsnorm(out + r * d, x + r * d, w, (int)d, hp->rms_eps);
}

/* The per-row work between the products of a layer, one step per call,
 * on rows [r0, r1): each row's result depends on that row alone. Where
 * the rows are: after the Q/K/V products, a fused one's output in hb; after
 * attention's output product, its result in hb [n, dim], kept there until
 * ROW_FFN_OUT for a parallel residual (so the MLP's hidden rows are in hb2
 * for GELU, in hb and hb2 for SwiGLU, which a parallel block never has). */
enum { ROW_ATTN_NORM, ROW_QKV, ROW_ATTN_OUT, ROW_MLP_ACT, ROW_FFN_OUT };

typedef struct {
    fwd *f;
    int l, step, r0, r1;
} row_job;

static void row_step(fwd *f, int l, int step, int r0, int r1) {
    const model_hparams *hp = &f->m->hp;
    const model_layer *w = &f->m->layers[l];
    size_t d = (size_t)hp->dim, ff = (size_t)hp->ffn_dim, kvd = (size_t)f->kv_dim;
    switch (step) {
    case ROW_ATTN_NORM:
        norm_rows(f, f->xb, f->x, w->attn_norm, w->attn_norm_b, r0, r1);
        break;
    case ROW_QKV: /* biases, RoPE, and the rows' K/V into the cache */
        if (hp->qkv != QKV_SEPARATE) block_split_qkv(f, f->hb, w->bqkv, r0, r1);
        add_bias(f->q, w->bq, r0, r1, f->q_dim);
        add_bias(f->k, w->bk, r0, r1, f->kv_dim);
        add_bias(f->v, w->bv, r0, r1, f->kv_dim);
        if (hp->qk_norm) block_qk_norm(f, w, r0, r1);
        rope_rotate(f, l, f->q, r0, r1, hp->n_heads);
        rope_rotate(f, l, f->k, r0, r1, hp->n_kv_heads);
        for (int r = r0; r < r1; r++)
            for (size_t d = 0, hd = (size_t)hp->head_dim; d < kvd; d += hd) { /* a head at a time */
                float *kd = f->kc[l] + kv_kidx(f, f->kvrow[r], d);
                for (size_t i = 0; i < hd; i++) kd[i * KT] = f->k[r * kvd + d + i];
                memcpy(f->vc[l] + kv_vidx(f, f->kvrow[r], d), f->v + r * kvd + d, hd * sizeof(float));
            }
        break;
    case ROW_ATTN_OUT: /* (post norm,) residual (not yet, when parallel), then the FFN's norm */
        add_bias(f->hb, w->bo, r0, r1, (int)d);
        if (hp->post_norms) norm_rows(f, f->hb, f->hb, w->attn_post_norm, NULL, r0, r1);
        if (!hp->parallel_residual) add_to(f->x + r0 * d, f->hb + r0 * d, (size_t)(r1 - r0) * d);
        norm_rows(f, f->xb, f->x, w->ffn_norm, w->ffn_norm_b, r0, r1);
        break;
    case ROW_MLP_ACT:
        if (hp->mlp == MLP_GEGLU) block_geglu(f->hb + r0 * ff, f->hb2 + r0 * ff, (size_t)(r1 - r0) * ff);
        else if (hp->mlp != MLP_SWIGLU)
            block_gelu(f->hb2 + r0 * ff, w->b_up, (size_t)(r1 - r0), (int)ff, hp->mlp == MLP_GELU_TANH);
        else fwd_swiglu(f->hb + r0 * ff, f->hb2 + r0 * ff, (size_t)(r1 - r0) * ff);
        break;
    default: /* ROW_FFN_OUT */
        add_bias(f->xb, w->b_down, r0, r1, (int)d);
        if (hp->post_norms) norm_rows(f, f->xb, f->xb, w->ffn_post_norm, NULL, r0, r1);
        /* transformers' order for a parallel block: (mlp + attn) + x */
        if (hp->parallel_residual) add_to(f->xb + r0 * d, f->hb + r0 * d, (size_t)(r1 - r0) * d);
        add_to(f->x + r0 * d, f->xb + r0 * d, (size_t)(r1 - r0) * d);
        break;
    }
}

static void *row_worker(void *arg) {
    const row_job *j = arg;
    row_step(j->f, j->l, j->step, j->r0, j->r1);
    return NULL;
}

/* One step on rows [0, n), split among the threads when there are enough
 * rows to pay for starting them. */
static void rows_parallel(fwd *f, int l, int n, int step) {
    int nt = imin(imin(f->threads, MAX_ATT_THREADS), n / ROWS_PER_THREAD_MIN);
    if (nt < 2) {
        row_step(f, l, step, 0, n);
        return;
    }
    row_job jobs[MAX_ATT_THREADS];
    for (int t = 0; t < nt; t++) jobs[t] = (row_job){f, l, step, n * t / nt, n * (t + 1) / nt};
    pool_fan_out(row_worker, jobs, sizeof *jobs, nt);
}

static void layer(fwd *f, int l, int n) {
    const model_hparams *hp = &f->m->hp;
    const model_layer *w = &f->m->layers[l];
    int d = hp->dim, ff = hp->ffn_dim;

    rows_parallel(f, l, n, ROW_ATTN_NORM);
    if (hp->qkv != QKV_SEPARATE) {
        matmul(f, f->hb, f->xb, &w->wqkv, n, d, f->q_dim + 2 * f->kv_dim);
    } else {
        matmul(f, f->q, f->xb, &w->wq, n, d, f->q_dim);
        matmul(f, f->k, f->xb, &w->wk, n, d, f->kv_dim);
        matmul(f, f->v, f->xb, &w->wv, n, d, f->kv_dim);
    }
    rows_parallel(f, l, n, ROW_QKV);

    double t0 = now_s();
    fwd_attention(f, l, n, f->xb);
    f->tm.attention_s += now_s() - t0;
    matmul(f, f->hb, f->xb, &w->wo, n, f->q_dim, d); /* hb as scratch [n, dim] */
    rows_parallel(f, l, n, ROW_ATTN_OUT);
    if (hp->n_experts) { /* a mixture of experts instead of the MLP (moe.h) */
        moe_ffn(f, l, n);
        rows_parallel(f, l, n, ROW_FFN_OUT);
        return;
    }

    if (model_mlp_gated(hp)) matmul(f, f->hb, f->xb, &w->w_gate, n, d, ff);
    matmul(f, f->hb2, f->xb, &w->w_up, n, d, ff);
    rows_parallel(f, l, n, ROW_MLP_ACT);
    matmul(f, f->xb, model_mlp_gated(hp) ? f->hb : f->hb2, &w->w_down, n, ff, d);
    rows_parallel(f, l, n, ROW_FFN_OUT);
}

/* Runs the plan in f->tok/pos/chain/kvlo/kvrow for rows [0, n); leaves the
 * final-normed hidden states in f->xb [n, dim]. */
static int run_rows_timed(fwd *f, int n, cj_err *e);

int fwd_run_rows(fwd *f, int n, cj_err *e) {
    double t0 = now_s();
    int rc = run_rows_timed(f, n, e);
    f->tm.forward_s += now_s() - t0;
    f->tm.rows += n;
    return rc;
}

static int run_rows_timed(fwd *f, int n, cj_err *e) {
    const model_hparams *hp = &f->m->hp;
    int max_pos = 0, max_kv = 0;
    for (int r = 0; r < n; r++) {
        max_pos = imax(max_pos, f->pos[r]);
        max_kv = imax(max_kv, f->kvrow[r]);
    }
    if (rope_ensure(f, max_pos + 1, e) || fwd_ensure_kv(f, max_kv + 1, e)) return -1;
    if (hp->pos_embd && max_pos >= hp->ctx_len)
        return cj_fail(e, "forward: position %d is past the model's %d learned positions", max_pos, hp->ctx_len);
    ensure_att(f, max_pos + 1 + 8); /* softmax8 pads to a multiple of 8 */
    int d = hp->dim;
    for (int r = 0; r < n; r++) model_mat_rows(&f->m->tok_embd, f->tok[r], 1, d, f->x + (size_t)r * d);
    if (f->embd_scale > 0) block_scale(f->x, (size_t)n * d, f->embd_scale);
    if (hp->pos_embd) block_add_positions(f, n);
    for (int l = 0; l < hp->n_layers; l++) layer(f, l, n);
    norm_rows(f, f->xb, f->x, f->m->output_norm, f->m->output_norm_b, 0, n);
    return 0;
}

/* Logits of the rows f->hsel[0..nr), nr <= out_cap, into f->logits [nr, vocab]. */
static void hsel_logits(fwd *f, int nr) {
    const model_mat *w = &f->m->output;
    int V = f->m->hp.vocab_size, d = f->m->hp.dim;
    double t0 = now_s();
    gemm_mat(f->gm, f->logits, V, f->hsel, d, w, nr, d, V);
    f->tm.matrix_s += now_s() - t0;
    f->tm.matrix_flops += 2.0 * nr * d * V;
    if (f->m->hp.final_softcap > 0) block_softcap(f->logits, (size_t)nr * V, f->m->hp.final_softcap);
}

void fwd_logits_rows(fwd *f, const int *rows, int nr) {
    int d = f->m->hp.dim;
    for (int i = 0; i < nr; i++)
        memcpy(f->hsel + (size_t)i * d, f->xb + (size_t)rows[i] * d, (size_t)d * sizeof(float));
    hsel_logits(f, nr);
}

/* The max (and its first index) and ln of the sum of exp(logit - max):
 * every log-prob of a row is logit - mx - lse, in double, so a token's
 * log-prob is the same float whichever output asks for it. */
static void row_lse(const float *logits, int n, float *mx_out, double *lse, int *argmax) {
    int am = 0;
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) {
            mx = logits[i];
            am = i;
        }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += expf(logits[i] - mx);
    if (argmax) *argmax = am;
    *mx_out = mx;
    *lse = log(sum);
}

static float row_lp(const float *logits, int tok, float mx, double lse) {
    return (float)((double)logits[tok] - mx - lse);
}

float fwd_logprob(const float *logits, int n, int tok, int *argmax) {
    float mx;
    double lse;
    row_lse(logits, n, &mx, &lse, argmax);
    return row_lp(logits, tok, mx, lse);
}

/* The k largest logits' ids into ids[0..k), largest first, the lower id
 * first on ties (insertion keeps the earlier index ahead of an equal one). */
static void row_top(const float *logits, int n, int k, int *ids) {
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (have == k && !(logits[i] > logits[ids[k - 1]])) continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && logits[i] > logits[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = i;
    }
}

static int row_rank(const float *logits, int n, int tok) {
    int r = 1;
    for (int i = 0; i < n; i++) r += logits[i] > logits[tok];
    return r;
}

/* Fills position j of sq's outputs from the logit row of token tok. */
static void score_position(fwd_seq *sq, int j, const float *logits, int n, int tok) {
    float mx;
    double lse;
    int am;
    row_lse(logits, n, &mx, &lse, &am);
    sq->logprobs[j] = row_lp(logits, tok, mx, lse);
    if (sq->argmax) sq->argmax[j] = am;
    if (sq->rank) sq->rank[j] = row_rank(logits, n, tok);
    if (sq->top_k > 0) {
        int k = sq->top_k < n ? sq->top_k : n, *ids = sq->top_ids + (size_t)j * sq->top_k;
        row_top(logits, n, k, ids);
        for (int i = 0; i < k; i++) sq->top_lps[(size_t)j * sq->top_k + i] = row_lp(logits, ids[i], mx, lse);
        for (int i = k; i < sq->top_k; i++) {
            ids[i] = -1;
            sq->top_lps[(size_t)j * sq->top_k + i] = -INFINITY;
        }
    }
}

/* --- scoring ------------------------------------------------------------------ */

static int out_cmp(const void *a, const void *b) {
    const out_row *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Computes the log-probs of outs[0..n) (sorted by row) from the rows in
 * f->xb: one logit row per distinct batch row. */
static void score_outputs(fwd *f, fwd_seq *seqs, const out_row *outs, int n) {
    int vocab = f->m->hp.vocab_size, d = f->m->hp.dim;
    for (int i0 = 0; i0 < n;) {
        int nr = 0, i1 = i0;
        while (i1 < n && (nr < f->out_cap || outs[i1].row == outs[i1 - 1].row)) {
            if (i1 == i0 || outs[i1].row != outs[i1 - 1].row)
                memcpy(f->hsel + (size_t)nr++ * d, f->xb + (size_t)outs[i1].row * d, (size_t)d * sizeof(float));
            i1++;
        }
        hsel_logits(f, nr);
        for (int i = i0, k = -1; i < i1; i++) {
            if (i == i0 || outs[i].row != outs[i - 1].row) k++;
            const out_row *o = &outs[i];
            fwd_seq *sq = &seqs[o->s];
            score_position(sq, o->t - sq->score_from, f->logits + (size_t)k * vocab, vocab, sq->tokens[o->t]);
        }
        i0 = i1;
    }
}

void fwd_plan_row(fwd *f, int r, int tok, int pos, int chain, int nchain, int kvlo, int kvrow) {
    f->tok[r] = tok;
    f->pos[r] = pos;
    f->chain[r] = chain;
    f->nchain[r] = nchain;
    f->kvlo[r] = kvlo;
    f->kvrow[r] = kvrow;
}

/* hb holds the gate, attention's output, or a fused Q/K/V product. */
static int hb_width(const fwd *f) {
    const model_hparams *hp = &f->m->hp;
    return imax(imax(hp->ffn_dim, hp->dim), hp->qkv != QKV_SEPARATE ? f->q_dim + 2 * f->kv_dim : 0);
}

/* Bytes of one cache row (K and V of every layer) and of one batch row's
 * activations (x, xb, q, k, v, hb, hb2). */
size_t fwd_kv_row_bytes(const fwd *f) { return (size_t)f->m->hp.n_layers * 2 * (size_t)f->kv_dim * sizeof(float); }
static size_t act_row_bytes(const fwd *f) {
    const model_hparams *hp = &f->m->hp;
    size_t w = (size_t)hp->dim + (size_t)imax(hp->dim, f->q_dim) + (size_t)f->q_dim + 2 * (size_t)f->kv_dim +
               (size_t)hb_width(f) + (size_t)hp->ffn_dim;
    return w * sizeof(float);
}

int fwd_batch_room(const fwd *f, int live) {
    int room = f->max_batch;
    if (f->budget) {
        size_t used = (size_t)live * fwd_kv_row_bytes(f);
        size_t fit = used < f->budget ? (f->budget - used) / (fwd_kv_row_bytes(f) + act_row_bytes(f)) : 0;
        room = imin(room, imax(fit < (size_t)room ? (int)fit : room, imin(room, 64)));
    }
    return room;
}

/* Runs the schedule of T batch by batch and scores every output. */
static int run_trie(fwd *f, fwd_seq *seqs, trie *T, cj_err *e) {
    int *tmp = cj_xmalloc((size_t)(T->n + 1) * sizeof(int));
    out_row *outs = NULL;
    int out_cap = 0, rc = 0;
    int *units = cj_xmalloc((size_t)(f->max_batch + 1) * 3 * sizeof(int)); /* node, first offset, rows */
    for (int k = 0; k < T->n_sched && rc == 0;) {
        int kv0 = kv_compact(f, T, tmp), room = fwd_batch_room(f, kv0), n = 0, nu = 0, nrng = 0;
        while (k < T->n_sched && n < room) {
            int x = T->sched[k];
            tnode *N = &T->node[x];
            int take = imin(N->d1 - N->d0 - N->done, room - n);
            if (N->done == 0) N->kv = kv0 + n;
            /* the ancestors' ranges, root first */
            int depth = 0;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) depth++;
            if (f->rng_cap < nrng + depth) {
                f->rng_cap = imax(2 * f->rng_cap, nrng + depth + 64);
                f->rng = cj_xrealloc(f->rng, (size_t)f->rng_cap * 2 * sizeof(int));
            }
            int c = depth;
            for (int a = N->parent; a >= 0; a = T->node[a].parent) {
                c--;
                f->rng[2 * (nrng + c)] = T->node[a].kv;
                f->rng[2 * (nrng + c) + 1] = T->node[a].kv + T->node[a].d1 - T->node[a].d0;
            }
            for (int i = 0; i < take; i++) {
                int p = N->d0 + N->done + i;
                fwd_plan_row(f, n + i, N->toks[p], p, nrng, depth, N->kv, kv0 + n + i);
            }
            nrng += depth;
            units[3 * nu] = x;
            units[3 * nu + 1] = N->done;
            units[3 * nu + 2] = take;
            nu++;
            N->done += take;
            n += take;
            if (N->owner >= 0) seqs[N->owner].computed += take;
            if (N->done < N->d1 - N->d0) break; /* continues in the next batch */
            k++;
        }
        if (fwd_run_rows(f, n, e)) {
            rc = -1;
            break;
        }
        /* outputs of the rows just computed */
        int no = 0, row = 0;
        for (int u = 0; u < nu; u++) {
            tnode *N = &T->node[units[3 * u]];
            int off0 = units[3 * u + 1], cnt = units[3 * u + 2];
            for (int i = 0; i < N->nout; i++) {
                out_row o = T->outs[N->out0 + i];
                if (o.row < off0 || o.row >= off0 + cnt) continue;
                if (no == out_cap) {
                    out_cap = out_cap ? 2 * out_cap : 256;
                    outs = cj_xrealloc(outs, (size_t)out_cap * sizeof *outs);
                }
                o.row = row + o.row - off0;
                outs[no++] = o;
            }
            row += cnt;
            if (N->done == N->d1 - N->d0)
                for (int a = N->parent; a >= 0; a = T->node[a].parent) T->node[a].pending--;
        }
        if (no > 0) {
            qsort(outs, (size_t)no, sizeof *outs, out_cmp);
            score_outputs(f, seqs, outs, no);
        }
    }
    if (rc == 0) {
        /* what stays: the kept path, at rows [0, P) in position order */
        int live = kv_compact(f, T, tmp), ok = 1, P = 0;
        for (int x = 0; x < T->n; x++)
            if (T->node[x].kv >= 0) {
                ok &= T->node[x].kv == T->node[x].d0;
                P = imax(P, T->node[x].d1);
            }
        int *kept = ok && live == P && P > 0 ? cj_xmalloc((size_t)P * sizeof(int)) : NULL;
        for (int x = 0; kept && x < T->n; x++)
            if (T->node[x].kv >= 0)
                memcpy(kept + T->node[x].d0, T->node[x].toks + T->node[x].d0,
                       (size_t)(T->node[x].d1 - T->node[x].d0) * sizeof(int));
        free(f->ret_tok); /* nodes may point into it: replaced only now */
        f->ret_tok = kept;
        f->ret_n = kept ? P : 0;
    } else {
        f->ret_n = 0;
    }
    free(tmp);
    free(outs);
    free(units);
    return rc;
}

int fwd_check_tokens(const fwd *f, const int *tokens, int n, const char *what, cj_err *e) {
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= f->m->hp.vocab_size)
            return cj_fail(e, "forward: %s token %d is id %d, outside the vocabulary (0..%d)", what, i, tokens[i],
                           f->m->hp.vocab_size - 1);
    return 0;
}

int fwd_score(fwd *f, fwd_seq *seqs, int n, cj_err *e) {
    for (int s = 0; s < n; s++) {
        const fwd_seq *sq = &seqs[s];
        if (sq->n_tokens < 1 || sq->score_from < 1 || sq->score_from > sq->n_tokens)
            return cj_fail(e, "forward: sequence %d has n_tokens %d and score_from %d (need 1 <= score_from <= n_tokens)",
                           s, sq->n_tokens, sq->score_from);
        if (sq->score_from < sq->n_tokens && !sq->logprobs)
            return cj_fail(e, "forward: sequence %d has no logprobs array", s);
        if (sq->top_k < 0 || sq->top_k > FWD_MAX_TOP_K || (sq->top_k > 0 && (!sq->top_ids || !sq->top_lps)))
            return cj_fail(e, "forward: sequence %d asks for %d alternatives (0..%d, with both arrays)", s, sq->top_k,
                           FWD_MAX_TOP_K);
        if (fwd_check_tokens(f, sq->tokens, sq->n_tokens, "sequence", e)) return -1;
    }
    f->n_past = 0; /* decoding state: the cache is about to be overwritten */
    int ret_n = f->share ? f->ret_n : 0;
    tokseq *v = cj_xmalloc((size_t)(n + 1) * sizeof *v);
    /* A sequence's last token is input to no prediction: it is left out,
     * so that the choices of a question that differ in their last token
     * only (one-token answers) share every row. */
    for (int s = 0; s < n; s++) {
        v[s] = (tokseq){seqs[s].tokens, imax(1, seqs[s].n_tokens - 1)};
        seqs[s].computed = 0;
    }
    v[n] = (tokseq){f->ret_tok, ret_n};
    trie T = {0};
    T.leaf = cj_xmalloc((size_t)(n + 1) * sizeof(int));
    trie_build(&T, v, n + (ret_n > 0), f->share);
    trie_outputs(&T, seqs, n);
    int keep_max = 0;
    if (f->share) keep_max = f->kv_budget_rows > 0 ? f->kv_budget_rows / 2 : f->max_batch;
    trie_plan(&T, n, ret_n, keep_max);
    int rc = run_trie(f, seqs, &T, e);
    trie_free(&T);
    free(v);
    return rc;
}

void fwd_set_prefix_sharing(fwd *f, int on) {
    f->share = on != 0;
    f->ret_n = 0;
}

void fwd_set_kernels(fwd *f, gemm_kernels k) {
    if (gemm_get_kernels(f->gm) == k) return;
    gemm_free(f->gm);
    f->gm = gemm_new(f->threads, k);
    gemm_set_maps(f->gm, f->m->maps, f->m->n_maps);
}

gemm_kernels fwd_kernels(const fwd *f) { return gemm_get_kernels(f->gm); }

void fwd_set_kv_budget(fwd *f, size_t bytes) {
    size_t rows = bytes / fwd_kv_row_bytes(f);
    f->budget = bytes;
    f->kv_budget_rows = bytes == 0 ? 0 : (int)(rows > INT32_MAX / 4 ? INT32_MAX / 4 : imax((int)rows, 1));
    f->ret_n = 0;
}

int fwd_batch_tokens(const fwd *f) { return f->max_batch; }

fwd_timing fwd_get_timing(const fwd *f) { return f->tm; }

/* --- decoding ---------------------------------------------------------------- */

void fwd_reset(fwd *f) {
    f->n_past = 0;
    f->ret_n = 0; /* decoding overwrites the cache */
}

int fwd_n_past(const fwd *f) { return f->n_past; }

int fwd_push(fwd *f, const int *tokens, int n, float *logits, cj_err *e) {
    if (n < 1) return cj_fail(e, "forward: fwd_push of %d tokens", n);
    if (n > INT32_MAX - f->n_past) return cj_fail(e, "forward: decoding past %d positions", INT32_MAX);
    if (fwd_check_tokens(f, tokens, n, "pushed", e)) return -1;
    f->ret_n = 0; /* decoding overwrites the cache */
    int rc = 0;
    for (int c0 = 0; c0 < n && !rc; c0 += f->max_batch) {
        int m = imin(f->max_batch, n - c0);
        for (int r = 0; r < m; r++) fwd_plan_row(f, r, tokens[c0 + r], f->n_past + r, 0, 0, 0, f->n_past + r);
        rc = fwd_run_rows(f, m, e);
        if (!rc) f->n_past += m;
        if (!rc && logits && c0 + m == n) {
            int last = m - 1;
            fwd_logits_rows(f, &last, 1);
            memcpy(logits, f->logits, (size_t)f->m->hp.vocab_size * sizeof(float));
        }
    }
    return rc;
}

/* --- lifetime ---------------------------------------------------------------- */

int fwd_new(const model *m, int threads, int max_batch_tokens, fwd **out, cj_err *e) {
    *out = NULL;
    const model_hparams *hp = &m->hp;
    if (model_check_hparams(hp, "forward", e)) return -1;
    if (threads < 0) return cj_fail(e, "forward: threads = %d (0 means all cores)", threads);
    if (max_batch_tokens < 0 || max_batch_tokens > MAX_BATCH_TOKENS)
        return cj_fail(e, "forward: batch of %d tokens is out of range (0..%d)", max_batch_tokens, MAX_BATCH_TOKENS);
    fwd *f = cj_xcalloc(1, sizeof *f);
    f->m = m;
    if (threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 && nc < 1024 ? (int)nc : 1;
    }
    f->threads = threads;
    f->max_batch = max_batch_tokens ? max_batch_tokens : DEFAULT_BATCH_TOKENS;
    f->q_dim = hp->n_heads * hp->head_dim;
    f->kv_dim = hp->n_kv_heads * hp->head_dim;
    f->out_cap = imax(1, imin(f->max_batch, LOGIT_BUDGET / hp->vocab_size));
    f->gm = gemm_new(threads, GEMM_OWN);
    gemm_set_maps(f->gm, m->maps, m->n_maps);

    /* Sizes below fit: hparams are bounded by model_check_hparams and the
     * batch by MAX_BATCH_TOKENS, so rows * width stays far below SIZE_MAX. */
    int wide = imax(hp->dim, f->q_dim);
    f->x = alloc_rows(f->max_batch, hp->dim);
    f->xb = alloc_rows(f->max_batch, wide);
    f->q = alloc_rows(f->max_batch, f->q_dim);
    f->k = alloc_rows(f->max_batch, f->kv_dim);
    f->v = alloc_rows(f->max_batch, f->kv_dim);
    f->hb = alloc_rows(f->max_batch, hb_width(f));
    f->hb2 = alloc_rows(f->max_batch, hp->ffn_dim);
    f->tok = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->pos = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->chain = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->nchain = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->rng_cap = 64;
    f->rng = cj_xcalloc((size_t)f->rng_cap * 2, sizeof(int));
    f->kvlo = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->kvrow = cj_xcalloc((size_t)f->max_batch, sizeof(int));
    f->share = 1;
    /* transformers casts a whole model, buffers included, to the checkpoint's
     * dtype: for a BF16 checkpoint the RoPE inverse frequencies and Gemma's
     * sqrt(dim) are bf16 values (llama.cpp's sqrtf is float) */
    f->rope_bf16 = m->format && !strcmp(m->format, "safetensors") && m->dtype && !strcmp(m->dtype, "BF16");
    f->embd_scale = hp->embd_scaled ? (float)sqrt((double)hp->dim) : 0;
    if (f->rope_bf16 && hp->embd_scaled) f->embd_scale = (float)rope_bf16_round(f->embd_scale);
    f->hsel = alloc_rows(f->out_cap, hp->dim);
    f->logits = alloc_rows(f->out_cap, hp->vocab_size);
    f->kc = cj_xcalloc((size_t)hp->n_layers, sizeof(float *));
    f->vc = cj_xcalloc((size_t)hp->n_layers, sizeof(float *));
    moe_new(f);
    if (rope_ensure(f, f->max_batch, e)) {
        fwd_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void fwd_free(fwd *f) {
    if (!f) return;
    free(f->x);
    free(f->xb);
    free(f->q);
    free(f->k);
    free(f->v);
    free(f->hb);
    free(f->hb2);
    for (int t = 0; t < MAX_ATT_THREADS; t++) free(f->att[t]);
    free(f->tok);
    free(f->pos);
    free(f->chain);
    free(f->nchain);
    free(f->rng);
    free(f->ret_tok);
    free(f->kvlo);
    free(f->kvrow);
    gemm_free(f->gm);
    free(f->hsel);
    free(f->logits);
    for (int l = 0; f->kc && l < f->m->hp.n_layers; l++) {
        kv_unmap(f->kc[l], (size_t)f->kv_cap * f->kv_dim);
        kv_unmap(f->vc[l], (size_t)f->kv_cap * f->kv_dim);
    }
    free(f->kc);
    free(f->vc);
    free(f->rope_cos);
    free(f->rope_sin);
    moe_free(f);
    free(f->rope_cos_l);
    free(f->rope_sin_l);
    free(f);
}
