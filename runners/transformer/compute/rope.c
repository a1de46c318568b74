/* rope — the RoPE tables of a forward context and the rotation of Q and K
 * (fwd_impl.h): per position and pair, cos and sin of the position times
 * the pair's frequency; a second table for the windowed layers of a model
 * whose local layers have their own base (Gemma 3).
 *
 * Determinism: the tables depend on the model alone, and each row is
 * rotated by its own position in a fixed order. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fwd_impl.h"

double rope_bf16_round(double v) {
    float x = (float)v;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

double rope_freq(const model *m, int i, int local) {
    const model_hparams *hp = &m->hp;
    int dims = model_rope_dims(hp);
    /* transformers' local rotary embedding: the default type at its own base */
    if (local) return pow((double)hp->rope_local_theta, -2.0 * i / dims);
    double freq = pow((double)hp->rope_theta, -2.0 * i / dims);
    if (m->rope_freqs) freq /= m->rope_freqs[i];
    if (hp->rope_scale == ROPE_SCALE_LINEAR) freq /= hp->rope_factor;
    if (hp->rope_scale != ROPE_SCALE_LLAMA3) return freq;
    /* transformers' _compute_llama3_parameters: by wavelength */
    double wavelen = 2 * M_PI / freq, factor = hp->rope_factor;
    double low_wl = hp->rope_orig_ctx / hp->rope_low_freq, high_wl = hp->rope_orig_ctx / hp->rope_high_freq;
    if (wavelen < high_wl) return freq;
    if (wavelen > low_wl) return freq / factor;
    double smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq) / (hp->rope_high_freq - hp->rope_low_freq);
    return (1 - smooth) * freq / factor + smooth * freq;
}

/* Positions [from, cap) of one table. */
static void fill_table(const fwd *f, float *cs, float *sn, int from, int cap, int local) {
    int half = model_rope_dims(&f->m->hp) / 2;
    for (int p = from; p < cap; p++)
        for (int i = 0; i < half; i++) {
            double freq = rope_freq(f->m, i, local);
            double theta = p * (f->rope_bf16 ? rope_bf16_round(freq) : freq);
            cs[(size_t)p * half + i] = (float)cos(theta);
            sn[(size_t)p * half + i] = (float)sin(theta);
        }
}

int rope_ensure(fwd *f, int positions, cj_err *e) {
    if (positions <= f->rope_cap) return 0;
    int half = model_rope_dims(&f->m->hp) / 2, local = f->m->hp.rope_local_theta > 0;
    int cap = imax(positions, imin(2 * f->rope_cap, INT32_MAX / 2));
    if ((size_t)cap > SIZE_MAX / sizeof(float) / (size_t)half)
        return cj_fail(e, "forward: RoPE table for %d positions is too large", positions);
    size_t bytes = (size_t)cap * half * sizeof(float);
    f->rope_cos = cj_xrealloc(f->rope_cos, bytes);
    f->rope_sin = cj_xrealloc(f->rope_sin, bytes);
    fill_table(f, f->rope_cos, f->rope_sin, f->rope_cap, cap, 0);
    if (local) {
        f->rope_cos_l = cj_xrealloc(f->rope_cos_l, bytes);
        f->rope_sin_l = cj_xrealloc(f->rope_sin_l, bytes);
        fill_table(f, f->rope_cos_l, f->rope_sin_l, f->rope_cap, cap, 1);
    }
    f->rope_cap = cap;
    return 0;
}

void rope_rotate(const fwd *f, int l, float *x, int r0, int r1, int n_h) {
    const model_hparams *hp = &f->m->hp;
    if (hp->pos_embd) return;
    int local = hp->rope_local_theta > 0 && model_layer_local(hp, l);
    const float *cs = local ? f->rope_cos_l : f->rope_cos, *sn = local ? f->rope_sin_l : f->rope_sin;
    int hd = hp->head_dim, half = model_rope_dims(hp) / 2, width = n_h * hd;
    for (int r = r0; r < r1; r++) {
        const float *c = cs + (size_t)f->pos[r] * half;
        const float *s = sn + (size_t)f->pos[r] * half;
        for (int h = 0; h < n_h; h++) {
            float *v = x + (size_t)r * width + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                /* neox rotates (v[i], v[i + rope_dims/2]); normal rotates (v[2i], v[2i+1]) */
                int a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * c[i] - v1 * s[i];
                v[b] = v0 * s[i] + v1 * c[i];
            }
        }
    }
}
