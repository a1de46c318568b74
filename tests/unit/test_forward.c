/* Tests of the forward pass: a float64 reference on hand-built models, batch
 * and prefix-sharing invariance, and the llama.cpp / HF golden log-probs. */
#include <jansson.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/runner.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/formats/quant.h"
#include "../check.h"

/* --- a hand-built tiny model ---------------------------------------------------- */

typedef struct {
    model m;
    model_layer layers[2];
    float *buf;     /* every weight, owned */
    uint16_t *hbuf; /* the matrices as F16 when asked for, owned */
    size_t hlen;
} toy;

static uint64_t toy_rng = 88172645463325252ull;
static float toy_rand(void) {
    toy_rng ^= toy_rng << 13;
    toy_rng ^= toy_rng >> 7;
    toy_rng ^= toy_rng << 17;
    return (float)((toy_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* The rows x cols floats at p as a matrix: F32 in place, or (t->hbuf set)
 * F16 copies of them, which the forward pass dequantizes as it goes. */
static model_mat toy_mat(toy *t, const float *p, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    if (!t->hbuf) return (model_mat){p, GGML_F32, (size_t)cols * sizeof(float)};
    uint16_t *h = t->hbuf + t->hlen;
    for (size_t i = 0; i < n; i++) h[i] = quant_f32_to_f16(p[i]);
    t->hlen += n;
    return (model_mat){h, GGML_F16, (size_t)cols * 2};
}

static void toy_free(toy *t) {
    free(t->buf);
    free(t->hbuf);
}

/* dim 16, 4 heads of 4, 2 KV heads, ffn 24, vocab 40, 2 layers; matrices
 * in F16 when f16 is set. */
static void toy_init(toy *t, int neox, int bias, int tied, int f16) {
    memset(t, 0, sizeof *t);
    model_hparams *hp = &t->m.hp;
    *hp = (model_hparams){.dim = 16, .ffn_dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 4,
                          .vocab_size = 40, .ctx_len = 64, .rms_eps = 1e-5f, .rope_theta = 10000.0f,
                          .rope_neox = neox, .qkv_bias = bias};
    int d = 16, q = 16, kv = 8, ff = 24, v = 40;
    size_t per_layer = (size_t)2 * d + 2 * (size_t)q * d + 2 * (size_t)kv * d + q + 2 * kv + 3 * (size_t)ff * d;
    size_t total = 2 * (size_t)v * d + d + 2 * per_layer;
    t->buf = malloc(total * sizeof(float));
    for (size_t i = 0; i < total; i++) t->buf[i] = toy_rand() * 0.5f;
    if (f16) t->hbuf = malloc(total * sizeof(uint16_t));
    float *p = t->buf;
#define TAKE(n) (p += (n), p - (n))
    t->m.tok_embd = toy_mat(t, TAKE((size_t)v * d), v, d);
    t->m.output = tied ? t->m.tok_embd : toy_mat(t, TAKE((size_t)v * d), v, d);
    float *on = TAKE(d);
    for (int i = 0; i < d; i++) on[i] = 1.0f + 0.2f * on[i];
    t->m.output_norm = on;
    for (int l = 0; l < 2; l++) {
        model_layer *L = &t->layers[l];
        float *an = TAKE(d), *fn = TAKE(d);
        for (int i = 0; i < d; i++) an[i] = 1.0f + 0.2f * an[i], fn[i] = 1.0f + 0.2f * fn[i];
        L->attn_norm = an;
        L->ffn_norm = fn;
        L->wq = toy_mat(t, TAKE((size_t)q * d), q, d);
        L->wk = toy_mat(t, TAKE((size_t)kv * d), kv, d);
        L->wv = toy_mat(t, TAKE((size_t)kv * d), kv, d);
        L->wo = toy_mat(t, TAKE((size_t)d * q), d, q);
        L->w_gate = toy_mat(t, TAKE((size_t)ff * d), ff, d);
        L->w_up = toy_mat(t, TAKE((size_t)ff * d), ff, d);
        L->w_down = toy_mat(t, TAKE((size_t)d * ff), d, ff);
        const float *bq = TAKE(q), *bk = TAKE(kv), *bv = TAKE(kv);
        if (bias) L->bq = bq, L->bk = bk, L->bv = bv;
    }
#undef TAKE
    t->m.layers = t->layers;
}

/* w as F32, malloc'd. */
static float *deq(const model_mat *w, int rows, int cols) {
    float *p = malloc((size_t)rows * cols * sizeof(float));
    model_mat_rows(w, 0, rows, cols, p);
    return p;
}

/* The textbook forward pass in double: ln p(tok[t] | tok[<t]) for t >= 1. */
static void ref_forward(const model *m, const int *tok, int n, double *lp, int *argmax) {
    const model_hparams *hp = &m->hp;
    int d = hp->dim, hd = hp->head_dim, nh = hp->n_heads, nkv = hp->n_kv_heads, ff = hp->ffn_dim;
    int q_dim = nh * hd, kv_dim = nkv * hd, V = hp->vocab_size;
    double *x = calloc((size_t)n * d, sizeof(double)), *xn = calloc((size_t)d, sizeof(double));
    double *q = calloc((size_t)n * q_dim, sizeof(double)), *k = calloc((size_t)n * kv_dim, sizeof(double));
    double *v = calloc((size_t)n * kv_dim, sizeof(double)), *att = calloc((size_t)n * q_dim, sizeof(double));
    double *h1 = calloc((size_t)ff, sizeof(double)), *h3 = calloc((size_t)ff, sizeof(double));
    double *lg = calloc((size_t)V, sizeof(double)), *sc = calloc((size_t)n, sizeof(double));
    float *emb = deq(&m->tok_embd, V, d), *out = deq(&m->output, V, d);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < d; i++) x[(size_t)t * d + i] = emb[(size_t)tok[t] * d + i];
#define NORM(src, w)                                                  \
    do {                                                              \
        double ss = 0;                                                \
        for (int i = 0; i < d; i++) ss += (src)[i] * (src)[i];       \
        double s = 1.0 / sqrt(ss / d + hp->rms_eps);                  \
        for (int i = 0; i < d; i++) xn[i] = (src)[i] * s * (w)[i];    \
    } while (0)
#define MATVEC(out, W, rows, cols, in)                                          \
    for (int r_ = 0; r_ < (rows); r_++) {                                       \
        double s_ = 0;                                                          \
        for (int c_ = 0; c_ < (cols); c_++) s_ += (W)[(size_t)r_ * (cols) + c_] * (in)[c_]; \
        (out)[r_] = s_;                                                         \
    }
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        float *wq = deq(&L->wq, q_dim, d), *wk = deq(&L->wk, kv_dim, d), *wv = deq(&L->wv, kv_dim, d);
        float *wo = deq(&L->wo, d, q_dim), *wg = deq(&L->w_gate, ff, d), *wu = deq(&L->w_up, ff, d);
        float *wd = deq(&L->w_down, d, ff);
        for (int t = 0; t < n; t++) {
            NORM(x + (size_t)t * d, L->attn_norm);
            MATVEC(q + (size_t)t * q_dim, wq, q_dim, d, xn);
            MATVEC(k + (size_t)t * kv_dim, wk, kv_dim, d, xn);
            MATVEC(v + (size_t)t * kv_dim, wv, kv_dim, d, xn);
            if (L->bq) {
                for (int i = 0; i < q_dim; i++) q[(size_t)t * q_dim + i] += L->bq[i];
                for (int i = 0; i < kv_dim; i++) k[(size_t)t * kv_dim + i] += L->bk[i], v[(size_t)t * kv_dim + i] += L->bv[i];
            }
            for (int which = 0; which < 2; which++) {
                double *base = which ? k + (size_t)t * kv_dim : q + (size_t)t * q_dim;
                int heads = which ? nkv : nh;
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < hd / 2; i++) {
                        double th = t * pow(hp->rope_theta, -2.0 * i / hd);
                        int a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + hd / 2 : 2 * i + 1;
                        double *z = base + (size_t)h * hd, z0 = z[a], z1 = z[b];
                        z[a] = z0 * cos(th) - z1 * sin(th);
                        z[b] = z0 * sin(th) + z1 * cos(th);
                    }
            }
        }
        for (int t = 0; t < n; t++)
            for (int h = 0; h < nh; h++) {
                int kh = h / (nh / nkv);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[(size_t)t * q_dim + h * hd + i] * k[(size_t)j * kv_dim + kh * hd + i];
                    sc[j] = s / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int j = 0; j <= t; j++) o += sc[j] / sum * v[(size_t)j * kv_dim + kh * hd + i];
                    att[(size_t)t * q_dim + h * hd + i] = o;
                }
            }
        for (int t = 0; t < n; t++) {
            double o[64];
            MATVEC(o, wo, d, q_dim, att + (size_t)t * q_dim);
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] += o[i];
            NORM(x + (size_t)t * d, L->ffn_norm);
            MATVEC(h1, wg, ff, d, xn);
            MATVEC(h3, wu, ff, d, xn);
            for (int i = 0; i < ff; i++) h1[i] = h1[i] / (1 + exp(-h1[i])) * h3[i];
            MATVEC(o, wd, d, ff, h1);
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] += o[i];
        }
        free(wq), free(wk), free(wv), free(wo), free(wg), free(wu), free(wd);
    }
    for (int t = 0; t + 1 < n; t++) {
        NORM(x + (size_t)t * d, m->output_norm);
        MATVEC(lg, out, V, d, xn);
        int am = 0;
        for (int i = 1; i < V; i++)
            if (lg[i] > lg[am]) am = i;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp(lg[i] - lg[am]);
        lp[t] = lg[tok[t + 1]] - lg[am] - log(sum);
        argmax[t] = am;
    }
#undef NORM
#undef MATVEC
    free(x), free(xn), free(q), free(k), free(v), free(att), free(h1), free(h3), free(lg), free(sc);
    free(emb), free(out);
}

static void toy_tokens(int *tok, int n, int salt) {
    for (int i = 0; i < n; i++) tok[i] = (i * 7 + salt * 13 + (i * i) % 11) % 40;
}

static void test_reference_variants(void) {
    for (int variant = 0; variant < 16; variant++) {
        toy t;
        toy_init(&t, variant & 1, (variant >> 1) & 1, (variant >> 2) & 1, variant >> 3);
        int tok[37];
        toy_tokens(tok, 37, variant);
        double ref[36];
        int ref_am[36], am[36];
        float lp[36];
        ref_forward(&t.m, tok, 37, ref, ref_am);
        fwd *f;
        cj_err e;
        CHECK(fwd_new(&t.m, 1, 0, &f, &e) == 0);
        fwd_seq s = {.tokens = tok, .n_tokens = 37, .score_from = 1, .logprobs = lp, .argmax = am};
        CHECK(fwd_score(f, &s, 1, &e) == 0);
        for (int i = 0; i < 36; i++) {
            CHECK_NEAR(lp[i], ref[i], 1e-5);
            CHECK(am[i] == ref_am[i]);
        }
        CHECK(s.computed == 36); /* the last token predicts nothing asked for */
        fwd_free(f);
        toy_free(&t);
    }
}

/* Scores 3 related sequences every way the batching can vary and checks the
 * log-probs are bit-identical. */
static void batching_bit_exact(int f16) {
    toy t;
    toy_init(&t, 0, 1, 0, f16);
    enum { N = 5, L = 60 };
    int tok[N][L], len[N] = {60, 45, 52, 7, 33};
    for (int s = 0; s < N; s++) toy_tokens(tok[s], L, s);
    /* 1..2 share 20 tokens with 0; 3 is a prefix of 0 */
    memcpy(tok[1], tok[0], 20 * sizeof(int));
    memcpy(tok[2], tok[0], 20 * sizeof(int));
    memcpy(tok[3], tok[0], 7 * sizeof(int));
    int from[N] = {1, 18, 25, 3, 1};
    float alone[N][L], lp[N][L];
    int am_alone[N][L], am[N][L];
    cj_err e;
    fwd *f;
    CHECK(fwd_new(&t.m, 1, 0, &f, &e) == 0);
    fwd_set_prefix_sharing(f, 0);
    for (int s = 0; s < N; s++) {
        fwd_seq q = {.tokens = tok[s], .n_tokens = len[s], .score_from = from[s], .logprobs = alone[s], .argmax = am_alone[s]};
        CHECK(fwd_score(f, &q, 1, &e) == 0);
    }
    fwd_free(f);
    /* batch sizes 0 (default), 8 (forces chunking), 64, 100 (packs some) x
     * sharing x threads */
    int batches[] = {0, 8, 64, 100};
    for (int bi = 0; bi < 4; bi++)
        for (int share = 0; share < 2; share++)
            for (int th = 1; th <= 2; th++) {
                CHECK(fwd_new(&t.m, th, batches[bi], &f, &e) == 0);
                fwd_set_prefix_sharing(f, share);
                fwd_seq q[N];
                for (int s = 0; s < N; s++) q[s] = (fwd_seq){.tokens = tok[s], .n_tokens = len[s], .score_from = from[s], .logprobs = lp[s], .argmax = am[s]};
                memset(lp, 0, sizeof lp);
                CHECK(fwd_score(f, q, N, &e) == 0);
                int computed = 0;
                for (int s = 0; s < N; s++) {
                    int n = len[s] - from[s];
                    CHECKF(!memcmp(lp[s], alone[s], (size_t)n * sizeof(float)), "batch %d share %d threads %d seq %d",
                           batches[bi], share, th, s);
                    CHECK(!memcmp(am[s], am_alone[s], (size_t)n * sizeof(int)));
                    computed += q[s].computed;
                }
                /* each sequence's last token is not computed; 3 is a prefix of 0 */
                if (share) CHECK(computed == 59 + 24 + 31 + 0 + 32);
                if (!share) CHECK(computed == 59 + 44 + 51 + 6 + 32);
                fwd_free(f);
            }
    toy_free(&t);
}

static void test_batching_bit_exact(void) { batching_bit_exact(0); }
/* F16 matrices go through the per-matrix dequantization and the chunked
 * output projection: still bit-exact every way. */
static void test_batching_bit_exact_f16(void) { batching_bit_exact(1); }

/* Incremental decoding gives the logits the batched pass gives. */
static void test_push_matches_score(void) {
    toy t;
    toy_init(&t, 1, 0, 1, 0);
    int tok[30];
    toy_tokens(tok, 30, 3);
    float lp[29], logits[40];
    cj_err e;
    fwd *f;
    CHECK(fwd_new(&t.m, 1, 4, &f, &e) == 0);
    fwd_seq s = {.tokens = tok, .n_tokens = 30, .score_from = 1, .logprobs = lp, .argmax = NULL};
    CHECK(fwd_score(f, &s, 1, &e) == 0);
    fwd_reset(f);
    CHECK(fwd_push(f, tok, 11, logits, &e) == 0); /* a prompt over 3 chunks */
    CHECK(fwd_logprob(logits, 40, tok[11], NULL) == lp[10]);
    for (int i = 11; i < 29; i++) {
        CHECK(fwd_push(f, &tok[i], 1, logits, &e) == 0);
        CHECK(fwd_logprob(logits, 40, tok[i + 1], NULL) == lp[i]);
    }
    CHECK(fwd_n_past(f) == 29);
    fwd_free(f);
    toy_free(&t);
}

/* The top-k alternatives and ranks that scoring returns are those of the
 * full logit row (by brute force over the logits decoding gives, which are
 * the scoring path's bits), their log-probs the very floats fwd_logprob
 * gives those tokens. */
static void test_top_k_and_rank(void) {
    toy t;
    toy_init(&t, 1, 0, 1, 0);
    enum { N = 20, K = FWD_MAX_TOP_K };
    int tok[N], ids[(N - 1) * K], rank[N - 1], am[N - 1];
    float lp[N - 1], lps[(N - 1) * K], logits[40];
    toy_tokens(tok, N, 7);
    cj_err e;
    fwd *f;
    CHECK(fwd_new(&t.m, 1, 0, &f, &e) == 0);
    fwd_seq s = {.tokens = tok, .n_tokens = N, .score_from = 1, .logprobs = lp, .argmax = am,
                 .rank = rank, .top_k = K, .top_ids = ids, .top_lps = lps};
    CHECK(fwd_score(f, &s, 1, &e) == 0);
    fwd_reset(f);
    for (int i = 0; i < N - 1; i++) {
        CHECK(fwd_push(f, &tok[i], 1, logits, &e) == 0);
        int order[40], r = 1;
        for (int v = 0; v < 40; v++) order[v] = v, r += logits[v] > logits[tok[i + 1]];
        for (int a = 1; a < 40; a++) /* stable: the lower id first on ties */
            for (int b = a; b > 0 && logits[order[b]] > logits[order[b - 1]]; b--) {
                int x = order[b];
                order[b] = order[b - 1];
                order[b - 1] = x;
            }
        CHECK(rank[i] == r);
        CHECK(ids[i * K] == am[i]);
        for (int k = 0; k < K; k++) {
            CHECK(ids[i * K + k] == order[k]);
            CHECK(lps[i * K + k] == fwd_logprob(logits, 40, order[k], NULL));
            if (order[k] == tok[i + 1]) CHECK(lps[i * K + k] == lp[i]);
        }
    }
    s.top_k = K + 1;
    CHECK(fwd_score(f, &s, 1, &e) == -1 && strstr(e.msg, "alternatives"));
    fwd_free(f);
    toy_free(&t);
}

/* F16 weights: decoding one token at a time takes the fused row-by-row
 * products, whose sums run in another order than sgemm's: the log-probs
 * agree with scoring to rounding. */
static void test_push_f16_fused(void) {
    toy t;
    toy_init(&t, 0, 1, 0, 1);
    int tok[30];
    toy_tokens(tok, 30, 5);
    float lp[29], logits[40];
    double ref[29];
    int ref_am[29];
    ref_forward(&t.m, tok, 30, ref, ref_am);
    cj_err e;
    fwd *f;
    CHECK(fwd_new(&t.m, 2, 0, &f, &e) == 0);
    fwd_seq s = {.tokens = tok, .n_tokens = 30, .score_from = 1, .logprobs = lp, .argmax = NULL};
    CHECK(fwd_score(f, &s, 1, &e) == 0);
    fwd_reset(f);
    CHECK(fwd_push(f, tok, 6, logits, &e) == 0); /* a prompt: sgemm */
    double worst = 0;
    for (int i = 6; i < 29; i++) {
        CHECK(fwd_push(f, &tok[i], 1, logits, &e) == 0); /* one row: fused */
        int am;
        float l = fwd_logprob(logits, 40, tok[i + 1], &am);
        worst = fmax(worst, fabs((double)l - lp[i]));
        CHECK_NEAR(l, ref[i], 1e-5);
        CHECK(am == ref_am[i]);
    }
    CHECK(worst <= 1e-5);
    printf("  f16 decode vs score: max |d logprob| %.3g\n", worst);
    fwd_free(f);
    toy_free(&t);
}

static void test_logprob_and_errors(void) {
    float l[4] = {1.0f, 3.0f, 3.0f, -2.0f};
    int am;
    double z = exp(1.0 - 3) + 2 + exp(-5.0);
    CHECK_NEAR(fwd_logprob(l, 4, 0, &am), -2 - log(z), 1e-6);
    CHECK(am == 1);
    toy t;
    toy_init(&t, 0, 0, 1, 0);
    cj_err e;
    fwd *f;
    CHECK(fwd_new(&t.m, 1, 0, &f, &e) == 0);
    int bad[3] = {1, 40, 2};
    float lp[2];
    fwd_seq s = {.tokens = bad, .n_tokens = 3, .score_from = 1, .logprobs = lp, .argmax = NULL};
    CHECK(fwd_score(f, &s, 1, &e) == -1);
    CHECK(strstr(e.msg, "40") != NULL);
    s.tokens = (int[]){1, 2, 3};
    s.score_from = 0;
    CHECK(fwd_score(f, &s, 1, &e) == -1);
    CHECK(fwd_push(f, (int[]){-1}, 1, NULL, &e) == -1);
    fwd_free(f);
    toy_free(&t);
}

/* --- goldens ---------------------------------------------------------------------- */

static char *golden_path(const char *rel) {
    char *g = cj_golden_dir();
    char *p = cj_path_join(g, rel);
    free(g);
    return p;
}

static char *assets_path(const char *rel) {
    char *a = cj_assets_dir();
    char *p = cj_path_join(a, rel);
    free(a);
    return p;
}

static json_t *load_json(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) printf("  cannot read %s: %s\n", path, je.text);
    return j;
}

static int *json_ints(const json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int *v = malloc((size_t)(*n ? *n : 1) * sizeof(int));
    for (int i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(arr, (size_t)i));
    return v;
}

/* Checks every text of a logprobs golden file (llama.cpp or HF format)
 * against the model: ids from our tokenizer, log-probs within tol, argmax
 * wherever the golden top-2 are more than 1e-3 apart. */
static void check_logprobs_golden(const char *model_path, const char *tokenizer_path, const char *golden) {
    model *m = NULL;
    cj_err e;
    json_t *g = load_json(golden);
    CHECK(g != NULL);
    if (model_load(model_path, tokenizer_path, &m, &e)) {
        printf("  %s\n", e.msg);
        CHECK(0);
    }
    if (!g || !m) {
        json_decref(g);
        model_free(m);
        return;
    }
    fwd *f;
    CHECK(fwd_new(m, 1, 0, &f, &e) == 0);
    double max_d = 0, sum_d = 0;
    int n_pos = 0;
    json_t *texts = json_object_get(g, "texts");
    for (size_t ti = 0; ti < json_array_size(texts); ti++) {
        json_t *tx = json_array_get(texts, ti);
        int n;
        int *ids = json_ints(json_object_get(tx, "ids"), &n);
        const char *text = json_string_value(json_object_get(tx, "text"));
        int *ours = NULL, n_ours = 0;
        if (tok_encode(m->tok, text, strlen(text), tok_add_bos(m->tok), &ours, &n_ours, &e) == 0) {
            CHECKF(n_ours == n && !memcmp(ours, ids, (size_t)n * sizeof(int)), "%s text %zu: token ids differ",
                   golden, ti);
        } else {
            CHECKF(0, "%s", e.msg);
        }
        free(ours);
        float *lp = malloc((size_t)n * sizeof(float));
        int *am = malloc((size_t)n * sizeof(int));
        fwd_seq s = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = lp, .argmax = am};
        CHECK(fwd_score(f, &s, 1, &e) == 0);
        json_t *pos = json_object_get(tx, "positions");
        CHECK((int)json_array_size(pos) == n - 1);
        for (int t = 1; t < n && t - 1 < (int)json_array_size(pos); t++) {
            json_t *p = json_array_get(pos, (size_t)(t - 1));
            double want = json_real_value(json_object_get(p, "logprob"));
            double d = fabs(lp[t - 1] - want);
            if (d > max_d) max_d = d;
            sum_d += d;
            n_pos++;
            CHECKF(d <= 1e-4, "%s text %zu position %d: logprob %.7f, golden %.7f", golden, ti, t, lp[t - 1], want);
            json_t *top = json_object_get(p, "top5");
            double l0 = json_real_value(json_array_get(json_array_get(top, 0), 1));
            double l1 = json_real_value(json_array_get(json_array_get(top, 1), 1));
            int want_am = (int)json_integer_value(json_object_get(p, "argmax"));
            if (l0 - l1 > 1e-3)
                CHECKF(am[t - 1] == want_am, "%s text %zu position %d: argmax %d, golden %d", golden, ti, t, am[t - 1],
                       want_am);
        }
        free(lp);
        free(am);
        free(ids);
    }
    const char *base = strrchr(model_path, '/');
    printf("  %s: max |d logprob| %.2e, mean %.2e over %d positions\n", base ? base + 1 : model_path, max_d,
           n_pos ? sum_d / n_pos : 0, n_pos);
    CHECK(n_pos > 0);
    fwd_free(f);
    model_free(m);
    json_decref(g);
}

static void gguf_golden(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "llamacpp/%s.gguf", name);
    char *model_path = golden_path(rel);
    snprintf(rel, sizeof rel, "llamacpp/%s.f32compute.logprobs.json", name);
    char *golden = golden_path(rel);
    check_logprobs_golden(model_path, NULL, golden);
    free(model_path);
    free(golden);
}

static void test_golden_stories260K_gguf(void) { gguf_golden("stories260K"); }
static void test_golden_tiny_f16(void) { gguf_golden("tiny-llama-f16"); }
static void test_golden_tiny_q8_0(void) { gguf_golden("tiny-llama-q8_0"); }
static void test_golden_tiny_q4_0(void) { gguf_golden("tiny-llama-q4_0"); }
static void test_golden_tiny_q4_k_m(void) { gguf_golden("tiny-llama-q4_k_m"); }
static void test_golden_tiny_q6_k(void) { gguf_golden("tiny-llama-q6_k"); }

static void hf_golden(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "hf/%s", name);
    char *dir = golden_path(rel);
    snprintf(rel, sizeof rel, "hf/%s/golden.json", name);
    char *golden = golden_path(rel);
    check_logprobs_golden(dir, NULL, golden);
    free(dir);
    free(golden);
}

static void test_golden_hf_llama_tied_f32(void) { hf_golden("llama-tied-f32"); }
static void test_golden_hf_llama_untied_bf16(void) { hf_golden("llama-untied-bf16"); }
static void test_golden_hf_qwen2_qkvbias_f32(void) { hf_golden("qwen2-qkvbias-f32"); }

/* The architectures of tests/golden/arch/ (make_arch_goldens.py): each
 * model's HF folder and its GGUF against transformers in float64. */
static void arch_golden(const char *name) {
    char dir[128], gguf[160], golden[160];
    snprintf(dir, sizeof dir, "tests/golden/arch/%s", name);
    snprintf(gguf, sizeof gguf, "%s/model.gguf", dir);
    snprintf(golden, sizeof golden, "%s/golden.json", dir);
    check_logprobs_golden(dir, NULL, golden);
    check_logprobs_golden(gguf, NULL, golden);
}

static void test_golden_neox_parallel(void) { arch_golden("neox-parallel-f32"); }
static void test_golden_neox_serial_f16(void) { arch_golden("neox-serial-f16"); }
static void test_golden_llama3_rope(void) { arch_golden("llama3-scaled-f32"); }
static void test_golden_linear_rope(void) { arch_golden("llama-linear-f32"); }
static void test_golden_qwen3(void) { arch_golden("qwen3-tied-f16"); }
static void test_golden_qwen2_5(void) { arch_golden("qwen2.5-tied-f16"); }
static void test_golden_exaone(void) { arch_golden("exaone-tied-f16"); }
static void test_golden_gpt2(void) { arch_golden("gpt2-f16"); }
/* Mixtures of experts (make_moe_goldens.py; more in test_moe.c) */
static void test_golden_moe(void) {
    const char *names[] = {"mixtral-f16", "qwen3moe-f16", "qwen2moe-f16", "olmoe-f32"};
    for (int i = 0; i < 4; i++) arch_golden(names[i]);
}
/* Mistral with sliding_window 16, shorter than every text: the folder's
 * config key and the GGUF's llama.attention.sliding_window both load. */
static void test_golden_mistral_swa(void) {
    const char *paths[] = {"tests/golden/arch/mistral-swa16-f32", "tests/golden/arch/mistral-swa16-f32/model.gguf"};
    for (int i = 0; i < 2; i++) {
        model *m = NULL;
        cj_err e = {0};
        CHECKF(model_load(paths[i], NULL, &m, &e) == 0, "%s", e.msg);
        CHECKF(m && m->hp.sliding_window == 16, "%s: sliding_window %d", paths[i], m ? m->hp.sliding_window : -1);
        model_free(m);
    }
    arch_golden("mistral-swa16-f32");
}

/* Gemma 2 and Gemma 3 (make_arch_goldens.py): both load their windows on
 * the layers transformers and llama.cpp give them, their caps and scales,
 * from the folder's config and from the GGUF's keys. */
static void gemma_golden(const char *name, int period, float attn_cap, float final_cap) {
    char dir[128], gguf[160];
    snprintf(dir, sizeof dir, "tests/golden/arch/%s", name);
    snprintf(gguf, sizeof gguf, "%s/model.gguf", dir);
    const char *paths[] = {dir, gguf};
    for (int i = 0; i < 2; i++) {
        model *m = NULL;
        cj_err e = {0};
        CHECKF(model_load(paths[i], NULL, &m, &e) == 0, "%s", e.msg);
        if (!m) continue;
        const model_hparams *hp = &m->hp;
        CHECKF(hp->swa_period == period && hp->sliding_window > 0 && hp->embd_scaled && hp->post_norms,
               "%s: period %d window %d", paths[i], hp->swa_period, hp->sliding_window);
        CHECKF(hp->attn_softcap == attn_cap && hp->final_softcap == final_cap, "%s: caps %g %g", paths[i],
               (double)hp->attn_softcap, (double)hp->final_softcap);
        CHECKF(model_layer_window(hp, period - 1) == 0 && model_layer_window(hp, 0) == hp->sliding_window, "%s",
               paths[i]);
        model_free(m);
    }
    arch_golden(name);
}

static void test_golden_gemma2(void) { gemma_golden("gemma2-swa-f32", 2, 5.0f, 3.0f); }
static void test_golden_gemma3(void) { gemma_golden("gemma3-swa-f32", 6, 0.0f, 4.0f); }

/* GPT-2 has no position past its n_positions (256 here): scoring one is an
 * error, not a read past the position table. */
static void test_gpt2_positions_end(void) {
    model *m = NULL;
    fwd *f = NULL;
    cj_err e = {{0}};
    CHECK(model_load("tests/golden/arch/gpt2-f16/model.gguf", NULL, &m, &e) == 0);
    CHECK(m && fwd_new(m, 1, 0, &f, &e) == 0);
    if (!f) goto done;
    enum { N = 258 };
    int ids[N];
    float lp[N];
    for (int i = 0; i < N; i++) ids[i] = i % 300;
    fwd_seq ok = {.tokens = ids, .n_tokens = 257, .score_from = 1, .logprobs = lp, .argmax = NULL}, past = {.tokens = ids, .n_tokens = N, .score_from = 1, .logprobs = lp, .argmax = NULL};
    CHECK(fwd_score(f, &ok, 1, &e) == 0); /* inputs at positions 0 .. 255 */
    CHECK(fwd_score(f, &past, 1, &e) != 0);
    CHECKF(strstr(e.msg, "position 256 is past the model's 256 learned positions") != NULL, "%s", e.msg);
done:
    fwd_free(f);
    model_free(m);
}

/* lm-eval multiple-choice requests through the local runner. */
static void mc_golden(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "llamacpp/%s.gguf", name);
    char *model_path = golden_path(rel);
    snprintf(rel, sizeof rel, "llamacpp/%s.f32compute.mc.json", name);
    char *golden = golden_path(rel);
    json_t *g = load_json(golden);
    cj_err e;
    runner_opts o = {.model_path = model_path, .threads = 1};
    runner *r = runner_local_open(&o, &e);
    if (!r) printf("  %s\n", e.msg);
    CHECK(r != NULL && g != NULL);
    if (r && g) {
        json_t *conts = json_object_get(g, "continuations");
        int n = (int)json_array_size(conts);
        const char **cs = calloc((size_t)n, sizeof *cs);
        for (int i = 0; i < n; i++) cs[i] = json_string_value(json_object_get(json_array_get(conts, (size_t)i), "continuation"));
        runner_ll_item item = {json_string_value(json_object_get(g, "context")), cs, n};
        runner_ll_result *res = calloc((size_t)n, sizeof *res);
        runner_timing tm;
        CHECK(runner_loglikelihood(r, &item, 1, res, &tm, &e) == 0);
        double max_d = 0;
        for (int i = 0; i < n; i++) {
            json_t *c = json_array_get(conts, (size_t)i);
            double want = json_real_value(json_object_get(c, "ll"));
            CHECK_NEAR(res[i].logprob, want, 1e-4);
            CHECK(res[i].is_greedy == json_is_true(json_object_get(c, "is_greedy")));
            CHECK(res[i].n_tokens == (int)json_array_size(json_object_get(c, "continuation_ids")));
            if (fabs(res[i].logprob - want) > max_d) max_d = fabs(res[i].logprob - want);
        }
        printf("  %s MC: max |d ll| %.2e over %d continuations\n", name, max_d, n);
        free(res);
        free(cs);
    }
    runner_free(r);
    json_decref(g);
    free(model_path);
    free(golden);
}

static void test_mc_stories260K(void) { mc_golden("stories260K"); }
static void test_mc_tiny_f16(void) { mc_golden("tiny-llama-f16"); }

/* The llama2.c checkpoints and the converted GGUF hold the same weights. */
static void test_llama2c_matches_gguf(void) {
    char *gguf = golden_path("llamacpp/stories260K.gguf");
    char *bins[2] = {assets_path("models/stories260K/stories260K.bin"),
                     assets_path("models/stories260K/stories260K_v1.bin")};
    char *tokp = assets_path("models/stories260K/tok512.bin");
    char *golden = golden_path("llamacpp/stories260K.f32compute.logprobs.json");
    json_t *g = load_json(golden);
    model *mg = NULL;
    cj_err e;
    CHECK(model_load(gguf, NULL, &mg, &e) == 0);
    for (int b = 0; b < 2 && mg && g; b++) {
        model *mb = NULL;
        if (model_load(bins[b], tokp, &mb, &e)) {
            printf("  %s\n", e.msg);
            CHECK(0);
            continue;
        }
        fwd *fa, *fb;
        CHECK(fwd_new(mg, 1, 0, &fa, &e) == 0);
        CHECK(fwd_new(mb, 1, 0, &fb, &e) == 0);
        json_t *texts = json_object_get(g, "texts");
        for (size_t ti = 0; ti < json_array_size(texts); ti++) {
            int n;
            int *ids = json_ints(json_object_get(json_array_get(texts, ti), "ids"), &n);
            float *la = malloc((size_t)n * sizeof(float)), *lb = malloc((size_t)n * sizeof(float));
            fwd_seq sa = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = la, .argmax = NULL}, sb_ = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = lb, .argmax = NULL};
            CHECK(fwd_score(fa, &sa, 1, &e) == 0);
            CHECK(fwd_score(fb, &sb_, 1, &e) == 0);
            CHECKF(!memcmp(la, lb, (size_t)(n - 1) * sizeof(float)), "%s text %zu", bins[b], ti);
            free(la);
            free(lb);
            free(ids);
        }
        fwd_free(fa);
        fwd_free(fb);
        model_free(mb);
    }
    model_free(mg);
    json_decref(g);
    free(gguf);
    free(bins[0]);
    free(bins[1]);
    free(tokp);
    free(golden);
}

int main(void) {
    RUN(test_reference_variants);
    RUN(test_batching_bit_exact);
    RUN(test_batching_bit_exact_f16);
    RUN(test_push_matches_score);
    RUN(test_push_f16_fused);
    RUN(test_top_k_and_rank);
    RUN(test_logprob_and_errors);
    RUN(test_golden_stories260K_gguf);
    RUN(test_golden_tiny_f16);
    RUN(test_golden_tiny_q8_0);
    RUN(test_golden_tiny_q4_0);
    RUN(test_golden_tiny_q4_k_m);
    RUN(test_golden_tiny_q6_k);
    RUN(test_golden_hf_llama_tied_f32);
    RUN(test_golden_hf_llama_untied_bf16);
    RUN(test_golden_hf_qwen2_qkvbias_f32);
    RUN(test_golden_neox_parallel);
    RUN(test_golden_neox_serial_f16);
    RUN(test_golden_llama3_rope);
    RUN(test_golden_linear_rope);
    RUN(test_golden_qwen3);
    RUN(test_golden_qwen2_5);
    RUN(test_golden_exaone);
    RUN(test_golden_gpt2);
    RUN(test_golden_moe);
    RUN(test_golden_mistral_swa);
    RUN(test_golden_gemma2);
    RUN(test_golden_gemma3);
    RUN(test_gpt2_positions_end);
    RUN(test_mc_stories260K);
    RUN(test_mc_tiny_f16);
    RUN(test_llama2c_matches_gguf);
    return check_summary_();
}
