/* decode — many sequences generated together (fwd_generate, forward.h).
 *
 * The prompts' longest common prefix (a few-shot block) is computed once,
 * at cache rows [0, P) in position order, or reused from the prefix the
 * last call kept there. Each admitted sequence then gets a region of the
 * cache of its own, [base, base + prompt tail + max_new), where its prompt
 * tail and every token it is given go; a row of it attends to [0, P) and
 * then to its region up to itself, keys in position order. Each step is one
 * run of the layers over a row per decoding sequence plus prompt-tail rows
 * of newly admitted ones, so every weight product covers all live
 * sequences at once. A row's result depends on its own sequence only
 * (forward.c), so the tokens are the same whatever the batch, the
 * admission order or the budget.
 *
 * Admission is in input order, as long as fewer than max_live sequences
 * run and a region fits in the budget's cache rows (first fit among the
 * gaps the finished sequences left); the first waiting sequence is always
 * admitted when none runs, so that any sequence progresses. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd_impl.h"

enum { WAITING, PREFILL, DECODE, DONE };

typedef struct {
    int state;
    int base, size; /* the region */
    int done;       /* prompt tail tokens computed (PREFILL) */
    int given;      /* tokens given by the callback and not yet pushed: 0 or 1 */
    int tok;        /* the token given */
    int n_pushed;   /* generated tokens in the cache */
    int first_out;  /* its first logits were handed out */
} gseq;

typedef struct {
    fwd *f;
    fwd_gen_seq *seqs;
    gseq *g;
    int n, P;
    int limit; /* cache rows the regions may use (the budget's), INT32_MAX/2 when none */
} gplan;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_region(const void *a, const void *b) {
    const int *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static int live(const gseq *g) { return g->state == PREFILL || g->state == DECODE; }

/* Cache rows in use: the prefix and the live regions. */
static int rows_in_use(const gplan *p) {
    int used = p->P;
    for (int s = 0; s < p->n; s++)
        if (live(&p->g[s])) used += p->g[s].size;
    return used;
}

/* First fit for `size` rows at or after P among the live regions; -1 if
 * none fits under the limit (unless nothing is live). */
static int find_region(const gplan *p, int size) {
    int *reg = cj_xmalloc((size_t)(2 * p->n + 2) * sizeof(int)), nr = 0;
    for (int s = 0; s < p->n; s++)
        if (live(&p->g[s])) {
            reg[2 * nr] = p->g[s].base;
            reg[2 * nr + 1] = p->g[s].size;
            nr++;
        }
    qsort(reg, (size_t)nr, 2 * sizeof(int), cmp_region);
    int at = p->P;
    for (int i = 0; i < nr && reg[2 * i] - at < size; i++) at = reg[2 * i] + reg[2 * i + 1];
    free(reg);
    if (nr > 0 && (at > p->limit - size)) return -1;
    return at;
}

static void admit(gplan *p, int max_live) {
    int nl = 0;
    for (int s = 0; s < p->n; s++) nl += live(&p->g[s]);
    for (int s = 0; s < p->n && nl < max_live; s++) {
        gseq *g = &p->g[s];
        if (g->state != WAITING) continue;
        int at = find_region(p, g->size);
        if (at < 0) break; /* in input order: no overtaking */
        g->base = at;
        g->state = PREFILL;
        nl++;
    }
}

/* Plans the rows of one step: a row per decoding sequence, then prompt
 * tail rows of the admitted ones, up to `room` rows. owner[r] is the
 * sequence of row r; out[] lists the rows whose logits go out. */
static int plan_step(gplan *p, int room, int *owner, int *out, int *nout) {
    fwd *f = p->f;
    int n = 0, nc = p->P > 0;
    *nout = 0;
    for (int s = 0; s < p->n && n < room; s++) {
        gseq *g = &p->g[s];
        const fwd_gen_seq *q = &p->seqs[s];
        int tail = q->n_prompt - p->P;
        if (g->state == DECODE && g->given) {
            int pos = q->n_prompt + g->n_pushed, kv = g->base + tail + g->n_pushed;
            fwd_plan_row(f, n, g->tok, pos, 0, nc, g->base, kv);
            owner[n] = s;
            out[(*nout)++] = n++;
        } else if (g->state == PREFILL) {
            int take = imin(tail - g->done, room - n);
            for (int i = 0; i < take; i++) {
                int j = g->done + i;
                fwd_plan_row(f, n, q->prompt[p->P + j], p->P + j, 0, nc, g->base, g->base + j);
                owner[n++] = s;
            }
            g->done += take;
            if (g->done == tail) out[(*nout)++] = n - 1;
        }
    }
    return n;
}

/* Hands out the logits of the step's output rows and records what each
 * sequence asks for next. */
static int hand_out(gplan *p, const int *owner, const int *out, int nout, fwd_gen_next next, void *ctx, cj_err *e) {
    fwd *f = p->f;
    int V = f->m->hp.vocab_size;
    for (int i0 = 0; i0 < nout; i0 += f->out_cap) {
        int nr = imin(f->out_cap, nout - i0);
        fwd_logits_rows(f, out + i0, nr);
        for (int k = 0; k < nr; k++) {
            int s = owner[out[i0 + k]];
            gseq *g = &p->g[s];
            if (g->state == DECODE) g->n_pushed++;
            g->state = DECODE;
            g->first_out = 1;
            int t = next(ctx, s, f->logits + (size_t)k * V);
            g->given = t >= 0;
            if (t < 0) {
                g->state = DONE;
                continue;
            }
            if (t >= V) return cj_fail(e, "forward: sequence %d was given token %d, outside the vocabulary", s, t);
            if (g->n_pushed + 1 > p->seqs[s].max_new)
                return cj_fail(e, "forward: sequence %d was given more than its %d tokens", s, p->seqs[s].max_new);
            g->tok = t;
        }
    }
    return 0;
}

/* Splits a step's wall time over its rows' sequences: to the prompt until a
 * sequence's first logits were handed out, to decoding after. */
static void attribute(gplan *p, const int *owner, int n, const int *had_first, double dt) {
    for (int r = 0; r < n; r++) {
        int s = owner[r];
        if (had_first[s]) p->seqs[s].decode_s += dt / n;
        else p->seqs[s].prefill_s += dt / n;
    }
}

/* Computes the shared prefix rows [from, P) at cache rows = positions. */
static int run_prefix(fwd *f, const int *toks, int from, int P, double *dt, cj_err *e) {
    double t0 = now_s();
    for (int p0 = from; p0 < P;) {
        int m = imin(fwd_batch_room(f, p0), P - p0);
        for (int r = 0; r < m; r++) fwd_plan_row(f, r, toks[p0 + r], p0 + r, 0, 0, 0, p0 + r);
        if (fwd_run_rows(f, m, e)) return -1;
        p0 += m;
    }
    *dt = now_s() - t0;
    return 0;
}

static int common_prefix(const fwd_gen_seq *seqs, int n) {
    int P = seqs[0].n_prompt - 1;
    for (int s = 1; s < n; s++) {
        int k = 0, lim = imin(P, seqs[s].n_prompt - 1);
        while (k < lim && seqs[s].prompt[k] == seqs[0].prompt[k]) k++;
        P = k;
    }
    return P;
}

static int steps(gplan *p, int max_live, fwd_gen_next next, void *ctx, cj_err *e) {
    fwd *f = p->f;
    int *owner = cj_xmalloc((size_t)f->max_batch * sizeof(int)), *out = cj_xmalloc((size_t)f->max_batch * sizeof(int));
    int *first = cj_xmalloc((size_t)p->n * sizeof(int)), rc = 0;
    f->rng[0] = 0; /* the chain of every row: the shared prefix */
    f->rng[1] = p->P;
    for (;;) {
        admit(p, max_live);
        int nout, n = plan_step(p, fwd_batch_room(f, rows_in_use(p)), owner, out, &nout);
        if (n == 0) break;
        double t0 = now_s();
        for (int s = 0; s < p->n; s++) first[s] = p->g[s].first_out;
        if (fwd_run_rows(f, n, e) || hand_out(p, owner, out, nout, next, ctx, e)) {
            rc = -1;
            break;
        }
        attribute(p, owner, n, first, now_s() - t0);
    }
    free(owner);
    free(out);
    free(first);
    return rc;
}

int fwd_generate(fwd *f, fwd_gen_seq *seqs, int n, int max_live, fwd_gen_next next, void *ctx, cj_err *e) {
    if (n <= 0) return 0;
    for (int s = 0; s < n; s++) {
        if (seqs[s].n_prompt < 1 || seqs[s].max_new < 1)
            return cj_fail(e, "forward: generation %d has %d prompt tokens and max_new %d (need >= 1 each)", s,
                           seqs[s].n_prompt, seqs[s].max_new);
        if (seqs[s].n_prompt > INT32_MAX / 4 - seqs[s].max_new)
            return cj_fail(e, "forward: generation %d is too long", s);
        if (fwd_check_tokens(f, seqs[s].prompt, seqs[s].n_prompt, "prompt", e)) return -1;
        seqs[s].computed = 0;
        seqs[s].prefill_s = seqs[s].decode_s = 0;
    }
    f->n_past = 0; /* one-sequence decoding state: the cache is about to change */
    int P = f->share ? common_prefix(seqs, n) : 0, reuse = 0;
    while (reuse < imin(P, f->ret_n) && f->ret_tok[reuse] == seqs[0].prompt[reuse]) reuse++;
    f->ret_n = 0;
    gplan p = {f, seqs, cj_xcalloc((size_t)n, sizeof(gseq)), n, P, INT32_MAX / 2};
    if (f->kv_budget_rows > 0) p.limit = f->kv_budget_rows;
    for (int s = 0; s < n; s++) p.g[s].size = seqs[s].n_prompt - P + seqs[s].max_new;
    double dt = 0;
    int rc = run_prefix(f, seqs[0].prompt, reuse, P, &dt, e);
    seqs[0].computed += P - reuse; /* the shared prefix counts for the first sequence */
    seqs[0].prefill_s += dt;
    if (rc == 0) rc = steps(&p, imax(max_live, 1), next, ctx, e);
    for (int s = 0; s < n; s++) seqs[s].computed += seqs[s].n_prompt - P;
    int keep = f->kv_budget_rows > 0 ? f->kv_budget_rows / 2 : f->max_batch;
    if (rc == 0 && f->share && P > 0) { /* the prefix's rows hold positions 0 .. P - 1: kept */
        int k = imin(P, keep);
        free(f->ret_tok);
        f->ret_tok = cj_xmalloc((size_t)k * sizeof(int));
        memcpy(f->ret_tok, seqs[0].prompt, (size_t)k * sizeof(int));
        f->ret_n = k;
    }
    free(p.g);
    return rc;
}
