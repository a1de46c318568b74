/* forward — the batched Llama-family forward pass over a loaded model.
 *
 * A fwd context owns scratch buffers for one batch of at most
 * max_batch_tokens tokens in total and a KV cache that grows as needed.
 * fwd_score runs several token sequences through the model in one batch (one
 * product per weight matrix per layer over all tokens of the batch, gemm.h)
 * and returns log-probs only at the positions asked for. Results do not
 * depend on how sequences are batched, on prefix sharing, on the thread
 * count, on scoring versus decoding, or on the CPU (any x86-64 with FMA):
 * they are bit-identical (see forward.c), unless fwd_set_kernels asked for
 * OpenBLAS.
 *
 * Ownership: the model must outlive the fwd context; fwd_free releases the
 * context. Output arrays belong to the caller. A context is used by one
 * thread at a time; with OpenBLAS's kernels each product sets OpenBLAS's
 * (process-wide) thread count to the context's. */
#ifndef CJ_FORWARD_H
#define CJ_FORWARD_H

#include <stddef.h>

#include "../../../common/err.h"
#include "gemm.h"
#include "../formats/model.h"

typedef struct fwd fwd;

#define FWD_MAX_TOP_K 20 /* vLLM's default max_logprobs */

typedef struct {
    const int *tokens; /* [n_tokens] token ids, BOS included if wanted */
    int n_tokens;
    int score_from;    /* first position t (>= 1) whose token is scored */
    float *logprobs;   /* out [n_tokens - score_from]: ln p(tokens[t] | tokens[<t]) */
    int *argmax;       /* out [n_tokens - score_from] or NULL: argmax of that distribution (first on ties) */
    int computed;      /* out: tokens of this sequence pushed through the model (a shared
                        * prefix counts once, for the first sequence that holds it) */
    int *rank;         /* out [n_tokens - score_from] or NULL: 1 + the tokens strictly more likely than tokens[t] */
    int top_k;         /* alternatives wanted per position, 0 .. FWD_MAX_TOP_K */
    int *top_ids;      /* out [(n_tokens - score_from) * top_k]: the top_k most likely tokens, most likely first
                        * (the lower id first on ties) */
    float *top_lps;    /* out, the same shape: their ln p, computed as logprobs is (so the same float for the same token) */
} fwd_seq;

/* threads: 0 = all cores. max_batch_tokens: 0 = a default. */
int fwd_new(const model *m, int threads, int max_batch_tokens, fwd **out, cj_err *e);
void fwd_free(fwd *f);

/* Scores n sequences. The sequences of one call form a prefix tree: every
 * distinct prefix is computed once and its K/V read by every sequence that
 * extends it (with prefix sharing on); the work is packed into batches of
 * max_batch_tokens rows, a long sequence continuing from batch to batch.
 * With sharing on, the K/V of the prefix most of a call's sequences share
 * (e.g. a few-shot block) stays in the cache after the call, within the KV
 * budget, and the next call reuses it for the sequences that begin with it.
 * Token ids out of range are an error, never an out-of-bounds read. */
int fwd_score(fwd *f, fwd_seq *seqs, int n, cj_err *e);

/* Where the forward pass spent its time since fwd_new (wall seconds):
 * matrix products (each weight's dequantization included) and attention
 * are parts of forward_s, which covers every row pushed through the model
 * (the output projection excepted); the rest of it is norms, RoPE, SwiGLU
 * and the KV writes. The timers cost two clock reads per product. */
typedef struct {
    double forward_s;    /* run through the layers */
    double matrix_s;     /* in weight products: layers and output projection */
    double attention_s;  /* in attention */
    double matrix_flops; /* 2 * rows * in * out over those products */
    double rows;         /* rows (tokens) pushed through the layers */
} fwd_timing;
fwd_timing fwd_get_timing(const fwd *f);

/* The batch size in tokens (max_batch_tokens, or the default it stands for). */
int fwd_batch_tokens(const fwd *f);

/* Prefix sharing (on by default). The log-probs are bit-identical either
 * way; only the work changes. Off, each sequence runs in full and nothing is
 * kept between calls. Either call drops the kept prefix. */
void fwd_set_prefix_sharing(fwd *f, int on);

/* The weight products' kernels: GEMM_OWN (the default) or GEMM_OPENBLAS
 * (faster on some machines, no bit-for-bit promise; see gemm.h). */
void fwd_set_kernels(fwd *f, gemm_kernels k);
gemm_kernels fwd_kernels(const fwd *f);

/* Bounds the KV cache plus a batch's activations to about `bytes` (0: no
 * bound, the default): batches shrink so that the prefixes in use plus a
 * batch (its cache rows and its activation rows) fit (never below a few
 * dozen rows, so a sequence longer than the budget still runs), and the
 * prefix kept between calls is at most half of it. Fixed scratch (one
 * dequantized matrix, one group of logit rows) comes on top. */
void fwd_set_kv_budget(fwd *f, size_t bytes);

/* Incremental decoding of one sequence, for generation. The KV cache holds
 * the tokens pushed since the last fwd_reset (fwd_score also resets it, and
 * decoding drops the prefix fwd_score kept);
 * fwd_push appends n >= 1 tokens at positions n_past.. and, if logits is
 * non-NULL, writes the logits of the last one: logits[vocab_size]. The cache
 * grows as needed; positions are never capped at the model's ctx_len. */
void fwd_reset(fwd *f);
int fwd_n_past(const fwd *f);
int fwd_push(fwd *f, const int *tokens, int n, float *logits, cj_err *e);

/* Generation of many sequences at once. Each sequence's prompt is
 * computed (the prompts' common prefix once, or reused from the prefix the
 * last call kept, with prefix sharing on), then the callback gets its
 * logits and says what comes next, step after step; all sequences that
 * decode advance together, one row each in one run of the layers. A
 * sequence's logits, and so its tokens, do not depend on the others, on
 * max_live, on the budget or on the thread count: they are the bits
 * fwd_push gives for the same tokens. */
typedef struct {
    const int *prompt; /* [n_prompt] >= 1 token ids */
    int n_prompt;
    int max_new;       /* >= 1: most tokens the callback gives it (cache rows are reserved for them) */
    int computed;      /* out: prompt tokens pushed through the model (a shared prefix counts for sequence 0) */
    double prefill_s;  /* out: wall time attributed to it until its first logits were handed out */
    double decode_s;   /* out: after */
} fwd_gen_seq;

/* Called with sequence s's logits (vocab_size floats, scratch the callee
 * may change) after its prompt, then after each token it was given, in no
 * promised order among sequences. Returns the token to append (0 ..
 * vocab_size - 1; at most max_new - 1 of them over the sequence's life),
 * or -1 when the sequence is done. */
typedef int (*fwd_gen_next)(void *ctx, int s, float *logits);

/* Runs seqs[0..n) to their end, at most max_live (>= 1) at once and, under
 * a KV budget, as many as fit (at least one). The kept prefix becomes the
 * prompts' common prefix. */
int fwd_generate(fwd *f, fwd_gen_seq *seqs, int n, int max_live, fwd_gen_next next, void *ctx, cj_err *e);

/* ln softmax(logits)[tok] over n logits: max in float, sum of exp in double
 * (as llama.cpp's perplexity). If argmax is non-NULL it receives the first
 * index of the largest logit. */
float fwd_logprob(const float *logits, int n, int tok, int *argmax);

#endif
