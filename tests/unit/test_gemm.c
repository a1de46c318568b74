/* Tests of the own products (gemm.c): every output element is the ascending
 * fma chain over k, bit for bit, whatever the rows in the call, the row's
 * place, the threads, the instruction set and the weight type. */
#include <stdint.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/compute/gemm.h"
#include "../../runners/transformer/formats/quant.h"
#include "../check.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_vec(size_t n) {
    float *v = cj_xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

/* The contract itself: acc = fma(x[k], w[k], acc) from +0, k ascending. */
static float chain(const float *x, const float *w, int in) {
    float acc = 0.0f;
    for (int k = 0; k < in; k++) acc = fmaf(x[k], w[k], acc);
    return acc;
}

static int bits_eq(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* y = x W^T through gemm_f32 (ld strides larger than the widths) against
 * the chain, for threads 1 and 2 and both kernels. */
static int check_shape(int n, int in, int out) {
    int ldx = in + 3, ldw = in + 5, ldy = out + 2;
    float *x = rand_vec((size_t)n * ldx), *w = rand_vec((size_t)out * ldw);
    float *y = cj_xmalloc((size_t)n * ldy * sizeof(float));
    int bad = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int portable = 0; portable <= 1; portable++) {
            gemm *g = gemm_new(threads, GEMM_OWN);
            gemm_set_portable(g, portable);
            gemm_f32(g, y, ldy, x, ldx, w, ldw, n, in, out);
            for (int r = 0; r < n; r++)
                for (int o = 0; o < out; o++)
                    if (!bits_eq(y[(size_t)r * ldy + o], chain(x + (size_t)r * ldx, w + (size_t)o * ldw, in))) bad++;
            gemm_free(g);
        }
    if (bad) printf("  n=%d in=%d out=%d: %d elements differ from the chain\n", n, in, out, bad);
    free(x);
    free(w);
    free(y);
    return bad;
}

static void test_f32_is_the_chain(void) {
    static const int ns[] = {1, 2, 3, 4, 5, 6, 7, 13, 97, 200};
    static const int ins[] = {1, 7, 8, 64, 255, 256, 257, 600};
    static const int outs[] = {1, 15, 16, 17, 33, 100, 300};
    int bad = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ins / sizeof *ins; b++)
            for (size_t c = 0; c < sizeof outs / sizeof *outs; c++) bad += check_shape(ns[a], ins[b], outs[c]) != 0;
    CHECK(bad == 0);
}

/* Row r of a call of n rows equals the same row computed alone, for every
 * r: the rows beside it and its place change nothing. */
static void test_row_alone(void) {
    int n = 41, in = 520, out = 530;
    float *x = rand_vec((size_t)n * in), *w = rand_vec((size_t)out * in);
    float *y = cj_xmalloc((size_t)n * out * sizeof(float)), *y1 = cj_xmalloc((size_t)out * sizeof(float));
    gemm *g = gemm_new(2, GEMM_OWN);
    gemm_f32(g, y, out, x, in, w, in, n, in, out);
    int bad = 0;
    for (int r = 0; r < n; r++) {
        gemm_f32(g, y1, out, x + (size_t)r * in, in, w, in, 1, in, out);
        bad += memcmp(y1, y + (size_t)r * out, (size_t)out * sizeof(float)) != 0;
    }
    CHECK(bad == 0);
    gemm_free(g);
    free(x);
    free(w);
    free(y);
    free(y1);
}

/* An F32, Q8_0, F16, Q4_K and Q6_K matrix against the chain over their
 * dequantized rows (the dequantization is quant.c's, tested there), the
 * first n rows of a call. */
static void check_mat(ggml_type t, const void *data, size_t row_bytes, int in, int out, int n) {
    model_mat m = {data, t, row_bytes};
    float *x = rand_vec((size_t)n * in), *wf = cj_xmalloc((size_t)out * in * sizeof(float));
    float *y = cj_xmalloc((size_t)n * out * sizeof(float));
    model_mat_rows(&m, 0, out, in, wf);
    int bad = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int mode = 0; mode < 3; mode++) { /* SIMD, portable, SIMD over W in groups of 8 (wpack.h) */
            gemm *g = gemm_new(threads, GEMM_OWN);
            gemm_set_portable(g, mode == 1);
            if (mode == 2) gemm_pack_all(g);
            gemm_mat(g, y, out, x, in, &m, n, in, out);
            for (int r = 0; r < n; r++)
                for (int o = 0; o < out; o++)
                    bad += !bits_eq(y[(size_t)r * out + o], chain(x + (size_t)r * in, wf + (size_t)o * in, in));
            gemm_free(g);
        }
    CHECKF(bad == 0, "%s, %d rows: %d elements differ", quant_type_name(t), n, bad);
    free(x);
    free(wf);
    free(y);
}

static void test_quantized_is_the_chain(void) {
    int in = 768, out = 67; /* three K-quant super-blocks: k-blocks of 256 start on block boundaries */
    size_t rb16 = (size_t)in * 2, rb8 = (size_t)in / 32 * 34, rbk = (size_t)in / 256 * 144, rb6 = (size_t)in / 256 * 210;
    uint8_t *f16 = cj_xmalloc(rb16 * out), *q8 = cj_xmalloc(rb8 * out), *q4k = cj_xmalloc(rbk * out);
    uint8_t *q6k = cj_xmalloc(rb6 * out);
    for (size_t i = 0; i < (size_t)in * out; i++) {
        uint16_t h = quant_f32_to_f16(frand());
        memcpy(f16 + 2 * i, &h, 2);
    }
    for (size_t b = 0; b < (size_t)in / 32 * out; b++) {
        uint16_t d = quant_f32_to_f16(0.01f + 0.02f * (frand() + 1.0f));
        memcpy(q8 + 34 * b, &d, 2);
        for (int i = 0; i < 32; i++) q8[34 * b + 2 + i] = (uint8_t)(int8_t)(frand() * 127.0f);
    }
    for (size_t b = 0; b < (size_t)in / 256 * out; b++) {
        uint8_t *blk = q4k + 144 * b;
        uint16_t d = quant_f32_to_f16(0.01f), dmin = quant_f32_to_f16(0.004f);
        memcpy(blk, &d, 2);
        memcpy(blk + 2, &dmin, 2);
        for (int i = 4; i < 144; i++) { frand(); blk[i] = (uint8_t)(rng >> 40); }
    }
    for (size_t b = 0; b < (size_t)in / 256 * out; b++) { /* ql, qh, int8 scales: any bytes; then d */
        uint8_t *blk = q6k + 210 * b;
        for (int i = 0; i < 208; i++) { frand(); blk[i] = (uint8_t)(rng >> 40); }
        uint16_t d = quant_f32_to_f16(0.002f);
        memcpy(blk + 208, &d, 2);
    }
    float *f32 = rand_vec((size_t)in * out);
    for (int n = 1; n <= 9; n += 2) { /* the few-rows path (up to 4) and the packed one */
        check_mat(GGML_F32, f32, (size_t)in * 4, in, out, n);
        check_mat(GGML_F16, f16, rb16, in, out, n);
        check_mat(GGML_F16, f16, rb16, in, 64, n); /* whole blocks of 32 outputs: F16 read in place */
        check_mat(GGML_Q8_0, q8, rb8, in, out, n);
        check_mat(GGML_Q4_K, q4k, rbk, in, out, n);
        check_mat(GGML_Q6_K, q6k, rb6, in, out, n);
    }
    free(f32);
    free(f16);
    free(q8);
    free(q4k);
    free(q6k);
}

/* The other block types plug into the same panels: matrices cut from the
 * blocks of tests/golden/quant/ (repeated to fill them), both paths. */
static void test_more_types_are_the_chain(void) {
    const ggml_type types[] = {GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_IQ4_NL,
                               GGML_Q2_K, GGML_Q3_K, GGML_Q5_K, GGML_IQ4_XS};
    const char *files[] = {"q4_1", "q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q5_k", "iq4_xs"};
    int in = 512, out = 35;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char path[128], *blocks = NULL;
        size_t len = 0, rb = 0;
        cj_err e = {{0}};
        snprintf(path, sizeof path, "tests/golden/quant/%s.blocks", files[i]);
        CHECKF(cj_read_file(path, &blocks, &len, &e) == 0 && len > 0, "%s", e.msg);
        if (!blocks) continue;
        quant_nbytes(types[i], (uint64_t)in, &rb);
        uint8_t *w = cj_xmalloc(rb * out);
        for (size_t b = 0; b < rb * out; b++) w[b] = (uint8_t)blocks[b % len];
        for (int n = 1; n <= 7; n += 3) check_mat(types[i], w, rb, in, out, n);
        free(w);
        free(blocks);
    }
}

/* The OpenBLAS path computes the same product (not to the bit). */
static void test_openblas_close(void) {
    int n = 33, in = 300, out = 70;
    float *x = rand_vec((size_t)n * in), *w = rand_vec((size_t)out * in);
    float *y = cj_xmalloc((size_t)n * out * sizeof(float));
    gemm *g = gemm_new(2, GEMM_OPENBLAS);
    CHECK(gemm_get_kernels(g) == GEMM_OPENBLAS);
    gemm_f32(g, y, out, x, in, w, in, n, in, out);
    double worst = 0;
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double d = fabs((double)y[(size_t)r * out + o] - chain(x + (size_t)r * in, w + (size_t)o * in, in));
            if (d > worst) worst = d;
        }
    CHECK(worst < 1e-4);
    gemm_free(g);
    free(x);
    free(w);
    free(y);
}

static void test_names(void) {
    CHECK(gemm_parse_kernels("own") == GEMM_OWN);
    CHECK(gemm_parse_kernels("openblas") == GEMM_OPENBLAS);
    CHECK(gemm_parse_kernels("mkl") == -1);
    CHECK_STR(gemm_kernels_name(GEMM_OPENBLAS), "openblas");
    CHECK(!strcmp(gemm_isa(), "avx2+fma") || !strcmp(gemm_isa(), "portable"));
}

int main(void) {
    RUN(test_f32_is_the_chain);
    RUN(test_row_alone);
    RUN(test_quantized_is_the_chain);
    RUN(test_more_types_are_the_chain);
    RUN(test_openblas_close);
    RUN(test_names);
    return check_summary_();
}
