/* moe — the mixture-of-experts MLP of the forward pass (Mixtral, Qwen2-MoE,
 * Qwen3-MoE, OLMoE; formats/moe_load.h loads them).
 *
 * For each row x (the FFN-normed hidden state): router logits = R x (one
 * product over all rows); p = softmax over all experts; the top k of p,
 * chosen by logit (the same order) with ties to the lower expert index, a
 * fixed rule of our own: torch.topk's order among equal values is its
 * algorithm's (on CPU, top 2 of [.1 .3 .3 .2 .3] is experts 2 and 4), so an
 * exact tie at the k-th place may pick other experts than transformers;
 * their weights p_i, divided by their sum when hp.norm_topk (Mixtral
 * always, Qwen3-MoE by default: the same as a softmax over the top-k
 * logits up to rounding); the output
 * is sum_i w_i * down_i(silu(gate_i x) * up_i x), plus sigmoid(g . x) *
 * shared(x) for Qwen2-MoE's shared expert.
 *
 * Rows are grouped by expert: each expert's three matrices are one product
 * each over the rows routed to it (gemm.h). Determinism: every output
 * element of gemm is one FMA chain over k whatever rows share the call, the
 * routing is a per-row loop, and a row's weighted expert outputs are added
 * in ascending expert index (transformers' order too), starting from 0, then
 * the shared expert's: so a row's result depends on the row and the weights
 * only, never on the batch, the other rows routed to the same expert, the
 * thread count, or scoring versus decoding (single or bulk: all of them run
 * this one function). */
#ifndef CJ_MOE_H
#define CJ_MOE_H

typedef struct fwd fwd;

/* The scratch of the MoE MLP for a context of f->max_batch rows (nothing
 * when the model has no experts), into f->moe. */
void moe_new(fwd *f);
void moe_free(fwd *f);

/* The MLP of layer l on rows [0, n): reads the normed rows in f->xb and
 * leaves the MLP's output rows there (f->hb and f->hb2 are scratch). */
void moe_ffn(fwd *f, int l, int n);

#endif
