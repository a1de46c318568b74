/* block — the per-row operations of the block variants of arch.h: RMSNorm
 * (also per head of Q and K, Qwen3), LayerNorm with bias, GELU with the up
 * bias, GeGLU (Gemma), the split of a fused Q/K/V product, soft-capping
 * (Gemma) and learned position embeddings (GPT-2).
 *
 * Determinism (forward.c's rule): every loop here is a fixed order over one
 * row, with no operation whose result depends on the other rows or on the
 * thread that runs it, so a row gives the same bits wherever it sits. Sums
 * are in double in a fixed order; -ffp-contract=off keeps each product and
 * sum separately rounded as written.
 *
 * GELU is the exact one, 0.5 x (1 + erf(x / sqrt 2)), which is what
 * transformers' "gelu" (GPT-NeoX, Polyglot-ko) computes; it is evaluated in
 * double through libm's erf, which, like the expf and cos the forward pass
 * already uses, gives the same bits for the same glibc. (llama.cpp runs
 * gptneox with its tanh approximation instead, which differs by up to about
 * 1e-3 per activation.) GPT-2's gelu_new is that tanh approximation,
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), also in double through
 * libm's tanh, which llama.cpp's gpt2 also runs; Gemma's GeGLU gate
 * (gelu_pytorch_tanh) is the same function. Soft-capping, cap tanh(x /
 * cap), also goes through libm's tanh in double, in every path (scores,
 * logits of scoring and of decoding). */
#include <math.h>
#include <string.h>

#include "fwd_impl.h"

/* The sum of squares in double: 16 partial sums by i mod 16 (independent
 * chains, so they vectorize, where one chain of dependent adds does not),
 * added in a fixed order. Each square is exact in double. */
void block_rmsnorm(float *out, const float *x, const float *w, int d, float eps) {
    double part[16] = {0};
    int i = 0;
    for (; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) part[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; i + k < d; k++) part[k] += (double)x[i + k] * x[i + k];
    for (int h = 8; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) part[k] += part[k + h];
    float scale = 1.0f / sqrtf((float)(part[0] / d) + eps);
    for (i = 0; i < d; i++) out[i] = x[i] * scale * w[i];
}

void block_qk_norm(fwd *f, const model_layer *ly, int r0, int r1) {
    const model_hparams *hp = &f->m->hp;
    int full = hp->qk_norm == QK_NORM_FULL; /* OLMoE: one norm over all heads */
    int nq = full ? 1 : hp->n_heads, nk = full ? 1 : hp->n_kv_heads;
    int wq = f->q_dim / nq, wk = f->kv_dim / nk;
    for (int r = r0; r < r1; r++) {
        for (int h = 0; h < nq; h++) {
            float *v = f->q + (size_t)r * f->q_dim + (size_t)h * wq;
            block_rmsnorm(v, v, ly->q_norm, wq, hp->rms_eps);
        }
        for (int h = 0; h < nk; h++) {
            float *v = f->k + (size_t)r * f->kv_dim + (size_t)h * wk;
            block_rmsnorm(v, v, ly->k_norm, wk, hp->rms_eps);
        }
    }
}

void block_add_positions(fwd *f, int n) {
    int d = f->m->hp.dim;
    float *row = f->xb; /* free until the first layer's norm */
    for (int r = 0; r < n; r++) {
        float *x = f->x + (size_t)r * d;
        model_mat_rows(&f->m->pos_embd, f->pos[r], 1, d, row);
        for (int i = 0; i < d; i++) x[i] += row[i];
    }
}

void block_layernorm(float *out, const float *x, const float *w, const float *b, int d, float eps) {
    double part[16] = {0};
    int i = 0;
    for (; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) part[k] += x[i + k];
    for (int k = 0; i + k < d; k++) part[k] += x[i + k];
    for (int h = 8; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) part[k] += part[k + h];
    double mean = part[0] / d;
    memset(part, 0, sizeof part);
    for (i = 0; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) part[k] += (x[i + k] - mean) * (x[i + k] - mean);
    for (int k = 0; i + k < d; k++) part[k] += (x[i + k] - mean) * (x[i + k] - mean);
    for (int h = 8; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) part[k] += part[k + h];
    double rstd = 1.0 / sqrt(part[0] / d + eps);
    for (i = 0; i < d; i++) out[i] = (float)((x[i] - mean) * rstd) * w[i] + b[i];
}

static double gelu_tanh(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * (x * x * x)))); }

void block_gelu(float *h, const float *b, size_t rows, int width, int tanh_approx) {
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < width; i++) {
            float *v = h + r * (size_t)width + i;
            double x = b ? *v + b[i] : *v;
            *v = (float)(tanh_approx ? gelu_tanh(x) : 0.5 * x * (1.0 + erf(x * M_SQRT1_2)));
        }
}

void block_geglu(float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] = (float)gelu_tanh(g[i]) * u[i];
}

void block_softcap(float *x, size_t n, float cap) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(cap * tanh(x[i] / (double)cap));
}

void block_scale(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

void block_split_qkv(fwd *f, const float *fused, const float *bias, int r0, int r1) {
    const model_hparams *hp = &f->m->hp;
    int hd = hp->head_dim, width = f->q_dim + 2 * f->kv_dim;
    for (int r = r0; r < r1; r++) {
        const float *src = fused + (size_t)r * width;
        float *dst[3] = {f->q + (size_t)r * f->q_dim, f->k + (size_t)r * f->kv_dim, f->v + (size_t)r * f->kv_dim};
        int n_h[3] = {hp->n_heads, hp->n_kv_heads, hp->n_kv_heads};
        int base[3] = {0, f->q_dim, f->q_dim + f->kv_dim};
        for (int part = 0; part < 3; part++)
            for (int h = 0; h < n_h[part]; h++) {
                /* [q | k | v], or per head [q_h | k_h | v_h] (then n_kv_heads = n_heads) */
                int from = hp->qkv == QKV_FUSED_PER_HEAD ? (3 * h + part) * hd : base[part] + h * hd;
                for (int i = 0; i < hd; i++)
                    dst[part][h * hd + i] = bias ? src[from + i] + bias[from + i] : src[from + i];
            }
    }
}
