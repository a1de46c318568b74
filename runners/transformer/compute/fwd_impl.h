/* fwd_impl — the forward pass's private header: the context struct and
 * what its files share. forward.c runs the layers and owns the context's
 * lifetime and scoring; block.c the per-row steps of the block variants
 * (norms, GELU, fused Q/K/V, soft-capping, learned positions); rope.c the
 * RoPE tables; attention.c holds attention and the vector exp it
 * shares with SwiGLU; prefix.c builds and plans the prefix tree of a
 * scoring call and compacts the KV cache between batches. Nothing outside
 * runners/transformer/compute/ includes this file (forward.h is the public
 * contract). */
#ifndef CJ_FWD_IMPL_H
#define CJ_FWD_IMPL_H

#include <stddef.h>

#include "forward.h"
#include "gemm.h"
#include "moe.h"
#include "pool.h"

/* Attention runs on up to this many threads, when a call has at least
 * this much work (query components x keys): a token decoded at a few
 * hundred positions pays for starting them. */
#define MAX_ATT_THREADS POOL_MAX
#define ATT_PARALLEL_MIN (1 << 17)
/* The per-row steps between products take a thread per this many rows. */
#define ROWS_PER_THREAD_MIN 32
/* Up to this many query heads of one KV head are handled together, so that
 * each key and value is loaded once for all of them. */
#define GMAX 4
/* The kernels take up to this many queries at once: GMAX heads of two rows. */
#define QMAX (2 * GMAX)
/* The loops over those queries unroll fully, so that their accumulators stay
 * in registers. */
#define UNROLL_G _Pragma("GCC unroll 8")
/* Positions per tile of the key cache. */
#define KT 16

struct fwd {
    const model *m;
    int threads;   /* threads of the products and of our loops, >= 1 */
    int max_batch; /* tokens per forward call: rows of the activation buffers */
    gemm *gm;      /* the weight products */
    int q_dim;     /* n_heads * head_dim */
    int kv_dim;    /* n_kv_heads * head_dim */

    /* activations, one row per token */
    float *x;   /* [max_batch, dim] residual stream */
    float *xb;  /* [max_batch, max(dim, q_dim)] normed input, then attention output */
    float *q;   /* [max_batch, q_dim] */
    float *k;   /* [max_batch, kv_dim] */
    float *v;   /* [max_batch, kv_dim] */
    float *hb;  /* [max_batch, max(ffn_dim, dim, fused q/k/v)] gate, then silu(gate) * up;
                 * a fused Q/K/V product; attention's output (see forward.c's row steps) */
    float *hb2; /* [max_batch, ffn_dim] up (GELU: then gelu(up + bias)) */
    float *att[MAX_ATT_THREADS]; /* [QMAX, att_stride] each: scores of QMAX queries, per attention thread */
    int att_stride;

    /* the row plan (see above) */
    int *tok;  /* [max_batch] */
    int *pos;  /* [max_batch] */
    int *chain;  /* [max_batch] the row's shared ranges: rng[2 * chain ..] */
    int *nchain; /* [max_batch] how many */
    int *kvlo;   /* [max_batch] first cache row of the row's own range */
    int *kvrow;  /* [max_batch] the cache row the row's K/V go to: its own range ends there */
    int *rng;    /* [rng_cap][2] cache row ranges [lo, hi) */
    int rng_cap;
    int share;   /* prefix sharing on */

    /* output projection */
    int out_cap;   /* rows per output product */
    float *hsel;   /* [out_cap, dim] final-normed rows gathered */
    float *logits; /* [out_cap, vocab] */

    /* KV cache, per layer, each KV head's part contiguous: head kh holds
     * [kh * kv_cap * head_dim, (kh + 1) * kv_cap * head_dim). Keys are
     * stored there in tiles of KT positions, [kv_cap / KT][head_dim][KT]
     * (kv_kidx), so that a query's scores are axpys over KT contiguous keys
     * (vectorized across keys, each key's dot product still summed in
     * order); values as rows, [kv_cap][head_dim] (kv_vidx), mixed the same
     * way. A sequence's keys or values of one head, at consecutive cache
     * rows, are then one sequential stream: the hardware prefetchers follow
     * it, where rows interleaving the heads read a few hundred bytes every
     * kv_dim floats and ran at a third of the speed. kv_cap is a multiple
     * of KT. */
    float **kc;
    float **vc;
    int kv_cap;

    /* RoPE table: for position p and pair i, [p * head_dim/2 + i] */
    float *rope_cos;
    float *rope_sin;
    float *rope_cos_l; /* the local layers' (hp.rope_local_theta), or NULL */
    float *rope_sin_l;
    int rope_cap;
    int rope_bf16; /* frequencies rounded to bf16 (see rope_bf16_round) */
    float embd_scale; /* > 0: embeddings times it (Gemma's sqrt(dim), as the checkpoint's dtype rounds it) */

    fwd_timing tm; /* where the time went, since fwd_new */

    int n_past; /* decoding state: tokens in the cache */

    /* the prefix kept from the last fwd_score: its K/V at cache rows [0, ret_n) */
    int *ret_tok; /* [ret_n] */
    int ret_n;
    int kv_budget_rows; /* cache rows allowed (0: no bound) */
    size_t budget;      /* bytes for the cache plus a batch's activations (0: no bound) */

    struct fwd_moe *moe; /* the MoE MLP's scratch (moe.c), or NULL */
};

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* Index of cache row pos, component d (< kv_dim) in a layer's key cache. */
static inline size_t kv_kidx(const struct fwd *f, int pos, size_t d) {
    size_t hd = (size_t)f->m->hp.head_dim;
    return (d / hd) * (size_t)f->kv_cap * hd + (size_t)(pos / KT) * hd * KT + (d % hd) * KT + (size_t)(pos % KT);
}

/* Index of cache row pos, component d (< kv_dim) in a layer's value cache. */
static inline size_t kv_vidx(const struct fwd *f, int pos, size_t d) {
    size_t hd = (size_t)f->m->hp.head_dim;
    return (d / hd) * (size_t)f->kv_cap * hd + (size_t)pos * hd + d % hd;
}

/* --- forward.c: the row plan, shared with decode.c --- */

/* Row r of the next run: token tok at position pos, attending to the chain
 * rng[2 * chain ..] (nchain ranges) and then to cache rows [kvlo, kvrow],
 * its K/V written to cache row kvrow. */
void fwd_plan_row(fwd *f, int r, int tok, int pos, int chain, int nchain, int kvlo, int kvrow);
/* Runs the planned rows [0, n) through the layers (growing the cache and
 * the RoPE table as they need); the final-normed rows are left in f->xb. */
int fwd_run_rows(fwd *f, int n, cj_err *e);
/* Logits of the final-normed rows rows[0..nr) of f->xb, nr <= out_cap, into
 * f->logits [nr, vocab]. */
void fwd_logits_rows(fwd *f, const int *rows, int nr);
/* The cache holds at least `rows` rows (row indices keep their contents). */
int fwd_ensure_kv(fwd *f, int rows, cj_err *e);
/* Bytes of one cache row (K and V of every layer). */
size_t fwd_kv_row_bytes(const fwd *f);
/* Rows the next batch may take with `live` cache rows in use: under the
 * budget, each new row costs its cache row and its activations (never
 * fewer than a few dozen, so that any sequence progresses). */
int fwd_batch_room(const fwd *f, int live);
/* y[n, out] = x[n, in] W^T, timed as a weight product. */
void fwd_matmul(fwd *f, float *y, float *x, const model_mat *w, int n, int in, int out);
/* Rejects token ids outside the vocabulary, naming `what`. */
int fwd_check_tokens(const fwd *f, const int *tokens, int n, const char *what, cj_err *e);

/* --- attention.c --- */

/* Attention of rows [0, n) of layer l (their K/V already in the cache):
 * the rows' outputs into out [n, q_dim]. */
void fwd_attention(fwd *f, int l, int n, float *out);

/* g[i] = silu(g[i]) * u[i], each value computed alike wherever it falls. */
void fwd_swiglu(float *restrict g, const float *restrict u, size_t n);

/* --- block.c: the per-row steps of the block variants --- */

/* out = x / sqrt(mean(x^2) + eps) * w over d values (in place allowed). */
void block_rmsnorm(float *out, const float *x, const float *w, int d, float eps);
/* Rows [r0, r1) of f->q and f->k: each head RMSNormed by ly's q_norm / k_norm. */
void block_qk_norm(fwd *f, const model_layer *ly, int r0, int r1);
/* Adds the learned embedding of each row's position to rows [0, n) of f->x. */
void block_add_positions(fwd *f, int n);
/* out = (x - mean) / sqrt(var + eps) * w + b over d values. */
void block_layernorm(float *out, const float *x, const float *w, const float *b, int d, float eps);
/* Each of rows x width values: gelu(h + b[i]) (b may be NULL), exact GELU
 * or (tanh_approx) transformers' gelu_new. */
void block_gelu(float *h, const float *b, size_t rows, int width, int tanh_approx);
/* Rows [r0, r1) of the fused Q/K/V product (fused, [n, q_dim + 2 kv_dim] in
 * hp.qkv's layout) plus its bias (or NULL) into f->q, f->k, f->v. */
void block_split_qkv(fwd *f, const float *fused, const float *bias, int r0, int r1);
/* Rows x width values g = gelu_tanh(g) * u (GeGLU: the gate through
 * transformers' gelu_pytorch_tanh, times up). */
void block_geglu(float *g, const float *u, size_t n);
/* x[i] = cap tanh(x[i] / cap) over n values (Gemma's soft-capping). */
void block_softcap(float *x, size_t n, float cap);
/* x[i] *= s over n values. */
void block_scale(float *x, size_t n, float s);

/* --- rope.c --- */

/* v rounded to the nearest bfloat16 (ties to even), through float. */
double rope_bf16_round(double v);
/* The angular frequency of RoPE pair i (0 <= i < rope_dims / 2): scaled as
 * hp and m->rope_freqs say, or (local) at hp.rope_local_theta unscaled. */
double rope_freq(const model *m, int i, int local);
/* The RoPE tables cover positions [0, positions). */
int rope_ensure(fwd *f, int positions, cj_err *e);
/* Rotates the leading rope_dims of each of the n_h heads of rows [r0, r1)
 * of x in place by the row's position, with layer l's table (the rest of a
 * head passes through); nothing for a model of learned positions. */
void rope_rotate(const fwd *f, int l, float *x, int r0, int r1, int n_h);

/* --- prefix.c: the prefix tree of a scoring call --- */

/* An output: batch row `row` predicts seqs[s].tokens[t]. */
typedef struct {
    int row, s, t;
} out_row;

typedef struct {
    const int *toks; /* the tokens of a sequence through this node, by position */
    int parent;      /* node index, -1 for a root */
    int d0, d1;      /* positions */
    int done;        /* positions d0 .. d0 + done - 1 have K/V at cache rows kv .. */
    int kv;
    int pending;     /* nodes below still to compute */
    int owner;       /* first sequence (input order) through it, -1 if none */
    int keep;        /* on the path kept for the next call */
    int out0, nout;  /* its outputs: outs[out0 .. out0 + nout), row = offset in the node */
} tnode;

typedef struct {
    tnode *node;
    int n, cap;
    int *leaf;     /* [n_seqs + 1]: the node where each sequence ends (the last: the retained prefix) */
    int *order;    /* the sequences in the order the tree was built (sorted when sharing) */
    int n_order;
    int *sched;    /* nodes to compute, in order */
    int n_sched;
    out_row *outs; /* by node */
} trie;

typedef struct {
    const int *t;
    int n;
} tokseq;

/* Builds the tree of the nv sequences v (sorted and split when share). */
void trie_build(trie *T, const tokseq *v, int nv, int share);
/* The rows whose predictions the n sequences score, by node. */
void trie_outputs(trie *T, const fwd_seq *seqs, int n);
/* The order in which nodes are computed, and the path kept for the next call. */
void trie_plan(trie *T, int n, int ret_n, int keep_max);
void trie_free(trie *T);
/* Compacts the cache to the nodes still needed; returns the rows in use. */
int kv_compact(fwd *f, trie *T, int *tmp);

#endif
