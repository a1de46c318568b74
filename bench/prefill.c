/* prefill — our prefill speed on one model, and a load-and-score check.
 *
 * Speed: one sequence of N tokens (BOS, then ids drawn from a fixed seed:
 * the speed does not depend on which tokens) goes through fwd_score as one
 * batch, scoring only the last position, as a prompt-processing benchmark
 * does; one warm-up run, then the best of R. Reported: tokens/s, and GFLOP/s
 * of the weight matrix products (2 * tokens * matrix parameters of the
 * layers, plus the one output row) and of everything (plus attention,
 * 4 * head_dim * (keys attended) per head and query), peak RSS next to the
 * weight bytes in the file and the KV bytes of the batch; then a second
 * line from the forward pass's own timers (fwd_get_timing): GFLOP/s inside
 * the weight products alone, and the shares of the time in products,
 * attention and the rest.
 *
 * Check (--check): the model loads, and every log-prob of a short sequence
 * is finite and plausible (mean within [-(ln V + 5), 0)); with --compare
 * OTHER, the same tokens scored by a second copy of the model (e.g. the HF
 * folder mkmodel writes next to the GGUF) agree within --tol. Exit 1 when a
 * check fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/sb.h"
#include "../runners/transformer/compute/forward.h"
#include "../runners/transformer/formats/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : 0; /* ru_maxrss is in KiB on Linux */
}

/* BOS (if the vocabulary has one) and then n - 1 ids in [3, vocab) from a fixed seed. */
static int *make_tokens(const model *m, int n) {
    int *t = cj_xmalloc((size_t)n * sizeof *t);
    unsigned s = 12345;
    int bos = tok_bos(m->tok), v = m->hp.vocab_size;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        t[i] = v > 3 ? 3 + (int)((s >> 8) % (unsigned)(v - 3)) : 0;
    }
    if (bos >= 0) t[0] = bos;
    return t;
}

static int load(const char *path, const char *tok, model **m, double *secs) {
    cj_err e;
    double t0 = now_s();
    if (model_load(path, tok, m, &e)) {
        fprintf(stderr, "prefill: %s\n", e.msg);
        return -1;
    }
    if (secs) *secs = now_s() - t0;
    return 0;
}

/* Scores tokens[0..n) at every position 1..n-1 into lp[n - 1]. */
static int score_all(const model *m, const int *tokens, int n, int threads, float *lp) {
    cj_err e;
    fwd *f;
    if (fwd_new(m, threads, n, &f, &e)) {
        fprintf(stderr, "prefill: %s\n", e.msg);
        return -1;
    }
    fwd_seq s = {.tokens = tokens, .n_tokens = n, .score_from = 1, .logprobs = lp};
    int rc = fwd_score(f, &s, 1, &e);
    if (rc) fprintf(stderr, "prefill: %s\n", e.msg);
    fwd_free(f);
    return rc;
}

static int check(const char *path, const char *other, const char *other_tok, int threads, double tol) {
    enum { N = 64 };
    model *m = NULL, *o = NULL;
    float lp[N - 1], lq[N - 1];
    int rc = 1;
    if (load(path, NULL, &m, NULL)) return 1;
    int *tokens = make_tokens(m, N);
    if (score_all(m, tokens, N, threads, lp)) goto done;
    double sum = 0;
    for (int i = 0; i < N - 1; i++) {
        if (!isfinite(lp[i]) || lp[i] > 0) {
            printf("check: FAIL %s: log-prob %d is %g\n", path, i + 1, lp[i]);
            goto done;
        }
        sum += lp[i];
    }
    double mean = sum / (N - 1), floor_lp = -(log((double)m->hp.vocab_size) + 5);
    if (mean < floor_lp) {
        printf("check: FAIL %s: mean log-prob %.3f is below %.3f\n", path, mean, floor_lp);
        goto done;
    }
    printf("check: %s loads (%s %s, %lld params) and scores %d tokens: mean log-prob %.4f (ln V = %.4f)\n", path,
           m->format, m->dtype, (long long)m->n_params, N - 1, mean, log((double)m->hp.vocab_size));
    if (other) {
        if (load(other, other_tok, &o, NULL)) goto done;
        if (o->hp.vocab_size != m->hp.vocab_size || o->n_params != m->n_params) {
            printf("check: FAIL %s and %s differ in shape\n", path, other);
            goto done;
        }
        if (score_all(o, tokens, N, threads, lq)) goto done;
        double worst = 0;
        for (int i = 0; i < N - 1; i++) worst = fmax(worst, fabs((double)lp[i] - lq[i]));
        if (!(worst <= tol)) {
            printf("check: FAIL %s vs %s: max |dlogprob| %.3g > %.3g\n", path, other, worst, tol);
            goto done;
        }
        printf("check: %s (%s) vs %s (%s): max |dlogprob| %.3g <= %.3g\n", path, m->format, other, o->format, worst,
               tol);
    }
    rc = 0;
done:
    free(tokens);
    model_free(m);
    model_free(o);
    return rc;
}

static int speed(const char *path, int n, int threads, int reps) {
    model *m;
    double load_s;
    if (load(path, NULL, &m, &load_s)) return 2;
    const model_hparams *hp = &m->hp;
    cj_err e;
    fwd *f;
    if (fwd_new(m, threads, n, &f, &e)) {
        fprintf(stderr, "prefill: %s\n", e.msg);
        model_free(m);
        return 2;
    }
    int *tokens = make_tokens(m, n);
    float lp;
    fwd_seq s = {.tokens = tokens, .n_tokens = n, .score_from = n - 1, .logprobs = &lp};
    double best = 1e30;
    fwd_timing tb = {0}; /* the best repetition's share of the forward pass's timers */
    int rc = 0;
    for (int r = -1; r < reps && !rc; r++) { /* r = -1: warm-up */
        fwd_timing a = fwd_get_timing(f);
        double t0 = now_s();
        rc = fwd_score(f, &s, 1, &e);
        double dt = now_s() - t0;
        fwd_timing b = fwd_get_timing(f);
        if (r >= 0 && dt < best) {
            best = dt;
            tb = (fwd_timing){b.forward_s - a.forward_s, b.matrix_s - a.matrix_s, b.attention_s - a.attention_s,
                              b.matrix_flops - a.matrix_flops, b.rows - a.rows};
        }
    }
    if (rc) {
        fprintf(stderr, "prefill: %s\n", e.msg);
    } else {
        double q = (double)hp->n_heads * hp->head_dim, kv = (double)hp->n_kv_heads * hp->head_dim;
        double n_ffn = m->layers[0].w_gate.data ? 3.0 : 2.0; /* SwiGLU's gate, or a GELU MLP */
        double layer = (double)hp->dim * (q + 2 * kv) + q * hp->dim + n_ffn * hp->dim * hp->ffn_dim;
        double mat = 2.0 * n * layer * hp->n_layers + 2.0 * hp->dim * hp->vocab_size;
        double att = 4.0 * hp->head_dim * hp->n_heads * hp->n_layers * ((double)n * (n + 1) / 2);
        double kv_mb = 2.0 * hp->n_layers * n * kv * 4 / (1 << 20);
        struct stat st;
        double file_mb = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size / 1048576.0 : 0;
        printf("prefill: model=%s dtype=%s tokens=%d threads=%d reps=%d best_s=%.4f tok_s=%.1f gflops_matrix=%.2f "
               "gflops_all=%.2f load_s=%.2f rss_mb=%.1f weights_file_mb=%.1f kv_mb=%.1f\n",
               path, m->dtype, n, threads, reps, best, n / best, mat / best * 1e-9, (mat + att) / best * 1e-9, load_s,
               peak_rss_mb(), file_mb, kv_mb);
        /* Inside the products alone (dequantization included), and where
         * the rest of the time went. */
        printf("prefill-parts: gflops_in_products=%.2f share_products=%.3f share_attention=%.3f share_other=%.3f\n",
               tb.matrix_s > 0 ? tb.matrix_flops / tb.matrix_s * 1e-9 : 0, tb.matrix_s / best, tb.attention_s / best,
               1 - (tb.matrix_s + tb.attention_s) / best);
    }
    free(tokens);
    fwd_free(f);
    model_free(m);
    return rc ? 2 : 0;
}

static void usage(FILE *f) {
    fputs("usage: prefill -m MODEL [-n TOKENS] [-t THREADS] [--reps R]\n"
          "       prefill --check -m MODEL [--compare OTHER [--tokenizer PATH]] [--tol X] [-t THREADS]\n",
          f);
}

int main(int argc, char **argv) {
    const char *path = NULL, *other = NULL, *other_tok = NULL;
    int n = 512, threads = 2, reps = 3, do_check = 0;
    double tol = 1e-4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--check")) {
            do_check = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-m")) path = v;
        else if (!strcmp(a, "--compare")) other = v;
        else if (!strcmp(a, "--tokenizer")) other_tok = v;
        else if (!strcmp(a, "-n")) n = atoi(v);
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--tol")) tol = atof(v);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!path || n < 2 || threads < 1 || reps < 1) {
        usage(stderr);
        return 2;
    }
    return do_check ? check(path, other, other_tok, threads, tol) : speed(path, n, threads, reps);
}
