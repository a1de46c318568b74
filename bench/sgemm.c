/* sgemm — the cblas_sgemm ceiling for a model's prefill: the GFLOP/s that
 * OpenBLAS reaches on the very matrix products one layer of prefill makes.
 *
 * The shapes come from the GGUF tensor table (blk.0's matrices, read without
 * loading any weight: Llama's seven, GPT-NeoX's four with the fused
 * attn_qkv): for a weight of [out, in] and M tokens, the product is
 * y[M, out] = x[M, in] W^T, called exactly as the forward pass calls it
 * (row-major, W transposed). Each repetition runs the layer's products
 * once; the ceiling is the layer's flops over the best repetition's time, so
 * that it compares with a best-of-N prefill time.
 *
 * Output: one line per shape and a last line
 *   sgemm: M=... threads=... gflops=... layer_ms=...
 * that bench/prefill.sh reads. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"
#include "../runners/transformer/compute/gemm.h"
#include "../runners/transformer/formats/gguf.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A layer's matrices, those the file has. */
static const char *const MATS[] = {"attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up",
                                   "ffn_down"};
#define MAX_MATS 8

typedef struct {
    const char *name;
    int out, in;
    float *w;    /* [out, in] */
    double best; /* seconds, best repetition: cblas_sgemm */
    double own;  /* the same, our products (gemm.h) */
} prod;

/* Small values away from zero and denormals; the speed does not depend on them. */
static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 9) & 0x3fff) / 16384.0f - 0.5f;
    }
}

int main(int argc, char **argv) {
    const char *model = NULL;
    int m = 512, threads = 2;
    double min_s = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model = argv[i + 1];
        else if (!strcmp(argv[i], "-M")) m = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--min-time")) min_s = atof(argv[i + 1]);
        else {
            fprintf(stderr, "sgemm: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model || m < 1 || threads < 1 || (argc - 1) % 2) {
        fputs("usage: sgemm -m MODEL.gguf [-M TOKENS] [-t THREADS] [--min-time SECONDS]\n", stderr);
        return 2;
    }
    cj_err e;
    gguf_ctx *g;
    if (gguf_open(model, &g, &e)) {
        fprintf(stderr, "sgemm: %s\n", e.msg);
        return 2;
    }
    prod p[MAX_MATS];
    int N_MATS = 0;
    size_t max_in = 0, max_out = 0;
    for (int k = 0; k < MAX_MATS; k++) {
        char name[64];
        snprintf(name, sizeof name, "blk.0.%s.weight", MATS[k]);
        const gguf_tensor *t = gguf_find_tensor(g, name);
        if (!t) continue;
        if (t->n_dims != 2 || t->ne[0] < 1 || t->ne[1] < 1 || t->ne[0] > 1 << 20 || t->ne[1] > 1 << 20) {
            fprintf(stderr, "sgemm: %s: %s is not a usable 2-D tensor\n", model, name);
            gguf_close(g);
            return 2;
        }
        p[N_MATS] = (prod){.name = MATS[k], .out = (int)t->ne[1], .in = (int)t->ne[0], .best = 1e30, .own = 1e30};
        if ((size_t)t->ne[0] > max_in) max_in = (size_t)t->ne[0];
        if ((size_t)t->ne[1] > max_out) max_out = (size_t)t->ne[1];
        N_MATS++;
    }
    if (N_MATS == 0) {
        fprintf(stderr, "sgemm: %s: no blk.0 weight matrices\n", model);
        gguf_close(g);
        return 2;
    }
    gguf_close(g);

    openblas_set_num_threads(threads);
    float *x = cj_xmalloc((size_t)m * max_in * sizeof *x), *y = cj_xmalloc((size_t)m * max_out * sizeof *y);
    fill(x, (size_t)m * max_in, 1);
    for (int k = 0; k < N_MATS; k++) {
        p[k].w = cj_xmalloc((size_t)p[k].out * (size_t)p[k].in * sizeof(float));
        fill(p[k].w, (size_t)p[k].out * (size_t)p[k].in, (unsigned)k + 2);
    }
    gemm *gm = gemm_new(threads, GEMM_OWN);
    double flops = 0, best_layer = 1e30, own_layer = 1e30, t_start = now_s();
    for (int k = 0; k < N_MATS; k++) flops += 2.0 * m * p[k].out * p[k].in;
    /* One warm-up repetition (thread start-up, page faults), then at least
     * three timed ones and at least min_s seconds. */
    for (int rep = -1; rep < 3 || now_s() - t_start < min_s; rep++) {
        double layer = 0;
        for (int k = 0; k < N_MATS; k++) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, p[k].out, p[k].in, 1.0f, x, p[k].in, p[k].w,
                        p[k].in, 0.0f, y, p[k].out);
            double dt = now_s() - t0;
            layer += dt;
            if (rep >= 0 && dt < p[k].best) p[k].best = dt;
        }
        if (rep >= 0 && layer < best_layer) best_layer = layer;
        layer = 0;
        for (int k = 0; k < N_MATS; k++) {
            double t0 = now_s();
            gemm_f32(gm, y, p[k].out, x, p[k].in, p[k].w, p[k].in, m, p[k].in, p[k].out);
            double dt = now_s() - t0;
            layer += dt;
            if (rep >= 0 && dt < p[k].own) p[k].own = dt;
        }
        if (rep >= 0 && layer < own_layer) own_layer = layer;
    }
    gemm_free(gm);
    for (int k = 0; k < N_MATS; k++) {
        double f = 2.0 * m * p[k].out * p[k].in * 1e-9;
        printf("  %-12s M=%d N=%d K=%d  sgemm %.1f GFLOP/s  own %.1f GFLOP/s\n", p[k].name, m, p[k].out, p[k].in,
               f / p[k].best, f / p[k].own);
        free(p[k].w);
    }
    printf("own: M=%d threads=%d isa=%s gflops=%.2f layer_ms=%.3f ratio_vs_sgemm=%.3f\n", m, threads, gemm_isa(),
           flops / own_layer * 1e-9, own_layer * 1e3, best_layer / own_layer);
    printf("sgemm: M=%d threads=%d gflops=%.2f layer_ms=%.3f\n", m, threads, flops / best_layer * 1e-9,
           best_layer * 1e3);
    free(x);
    free(y);
    return 0;
}
