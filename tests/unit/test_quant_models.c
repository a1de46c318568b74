/* Unit tests for real quantized GGUF files of the newer types: stories260K
 * quantized by llama.cpp to Q4_1, Q5_0, Q5_1 and IQ4_NL (tests/golden/quant/,
 * made by tests/golden/make_quant_models.py), scored by the local forward
 * pass against llama.cpp's F32-compute log-probs of the same file: ids
 * exact, every position within 1e-4. The files must really hold the type
 * (all 2-D weights but ffn_down, which llama.cpp keeps in F16). */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/gguf.h"
#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/formats/quant.h"
#include "../../runners/transformer/tokenizer/tokenizer.h"
#include "../check.h"

#define DIR "tests/golden/quant/"

/* Tensors of type t in the file: 7 matrices x 5 layers + embeddings and output, less 5 ffn_down. */
static int count_type(const char *path, ggml_type t) {
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    if (gguf_open(path, &g, &e) != 0) {
        printf("  %s\n", e.msg);
        return -1;
    }
    int n = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) n += gguf_tensor_at(g, i)->type == t;
    gguf_close(g);
    return n;
}

/* Max |d logprob| over one text; -1 when the ids differ. */
static double score_text(const model *m, fwd *f, const json_t *tx, int *n_pos) {
    const json_t *want_ids = json_object_get(tx, "ids"), *want_lp = json_object_get(tx, "logprobs");
    const char *text = json_string_value(json_object_get(tx, "text"));
    int *ids = NULL, n = 0;
    cj_err e = {{0}};
    if (!text || tok_encode(m->tok, text, strlen(text), 1, &ids, &n, &e) != 0 || n < 2 ||
        (size_t)n != json_array_size(want_ids) || (size_t)n - 1 != json_array_size(want_lp)) {
        free(ids);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] != json_integer_value(json_array_get(want_ids, (size_t)i))) n = -1;
    double worst = n < 0 ? -1 : 0;
    float *lp = malloc((size_t)(n > 0 ? n : 1) * sizeof *lp);
    fwd_seq s = {ids, n, 1, lp, NULL, 0};
    if (n > 0 && fwd_score(f, &s, 1, &e) != 0) worst = -1;
    for (int t = 1; t < n && worst >= 0; t++, (*n_pos)++) {
        double d = fabs(lp[t - 1] - json_real_value(json_array_get(want_lp, (size_t)t - 1)));
        if (d > worst) worst = d;
    }
    free(lp);
    free(ids);
    return worst;
}

static void check_model(const char *stem, ggml_type type) {
    char path[256], golden[256];
    snprintf(path, sizeof path, DIR "stories260K-%s.gguf", stem);
    snprintf(golden, sizeof golden, DIR "stories260K-%s.f32compute.logprobs.json", stem);
    int n_type = count_type(path, type);
    CHECKF(n_type == 48 - 11 - 5, "%s: %d tensors of type %s", path, n_type, quant_type_name(type));
    json_error_t je;
    json_t *g = json_load_file(golden, 0, &je);
    model *m = NULL;
    fwd *f = NULL;
    cj_err e = {{0}};
    CHECKF(g != NULL, "%s: %s", golden, je.text);
    CHECKF(model_load(path, NULL, &m, &e) == 0 && fwd_new(m, 1, 0, &f, &e) == 0, "%s", e.msg);
    const json_t *texts = json_object_get(g, "texts");
    double worst = 0;
    int n_pos = 0;
    for (size_t i = 0; f && i < json_array_size(texts); i++) {
        double d = score_text(m, f, json_array_get(texts, i), &n_pos);
        CHECKF(d >= 0 && d <= 1e-4, "%s text %zu: %s", stem, i, d < 0 ? "ids differ" : "a log-prob is off by > 1e-4");
        if (d > worst) worst = d;
    }
    printf("  %s: max |d logprob| %.2e over %d positions\n", stem, worst, n_pos);
    CHECK(n_pos > 200);
    fwd_free(f);
    model_free(m);
    json_decref(g);
}

static void test_q4_1(void) { check_model("q4_1", GGML_Q4_1); }
static void test_q5_0(void) { check_model("q5_0", GGML_Q5_0); }
static void test_q5_1(void) { check_model("q5_1", GGML_Q5_1); }
static void test_iq4_nl(void) { check_model("iq4_nl", GGML_IQ4_NL); }

int main(void) {
    RUN(test_q4_1);
    RUN(test_q5_0);
    RUN(test_q5_1);
    RUN(test_iq4_nl);
    return check_summary_();
}
