/* Unit tests for real quantized GGUF files of the newer types, scored by the
 * local forward pass against llama.cpp's F32-compute log-probs of the same
 * file: ids exact, every position within 1e-4.
 * - stories260K quantized by llama.cpp to Q4_1, Q5_0, Q5_1 and IQ4_NL
 *   (tests/golden/quant/, made by tests/golden/make_quant_models.py); the
 *   files must really hold the type (all 2-D weights but ffn_down, which
 *   llama.cpp keeps in F16).
 * - llama256-<type>.gguf, a random Llama with rows of 256, quantized by
 *   llama.cpp to Q2_K, Q3_K, Q5_K, IQ4_XS (every matrix) and the Q4_K_M,
 *   Q5_K_M, Q6_K presets (make_kquant_models.py): besides the log-probs,
 *   every tensor's dequantization has the sha256 of ggml's own floats.
 * - llama512-<type>.gguf, the same with dim 512, so that most rows hold two
 *   256-blocks (the Q4_K_M and Q6_K presets): an error in where a row's
 *   second super-block starts passes every one-block file above.
 * - mixtral-q8_0.gguf and qwen2moe-q4_k_m.gguf, two MoE goldens of
 *   tests/golden/arch/ quantized by llama.cpp (make_moe_quant_models.py):
 *   expert stacks and shared experts in Q8_0, Q5_0 and F16, the same two
 *   checks. */
#include <string.h>

#include "../../runners/transformer/formats/gguf.h"
#include "../../runners/transformer/formats/quant.h"
#include "../../common/sha256.h"
#include "golden_logprobs.h"

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

/* Every position of every text within 1e-4 of the golden, over > 200 positions. */
static void check_logprobs(const char *path, const json_t *g, const char *label) {
    int n_pos = 0;
    check_golden_logprobs(path, g, label, 1e-4, 0, &n_pos);
    CHECK(n_pos > 200);
}

static void check_model(const char *stem, ggml_type type) {
    char path[256], golden[256];
    snprintf(path, sizeof path, DIR "stories260K-%s.gguf", stem);
    snprintf(golden, sizeof golden, DIR "stories260K-%s.f32compute.logprobs.json", stem);
    int n_type = count_type(path, type);
    CHECKF(n_type == 48 - 11 - 5, "%s: %d tensors of type %s", path, n_type, quant_type_name(type));
    json_t *g = load_golden_json(golden);
    if (g) check_logprobs(path, g, stem);
    json_decref(g);
}

static void test_q4_1(void) { check_model("q4_1", GGML_Q4_1); }
static void test_q5_0(void) { check_model("q5_0", GGML_Q5_0); }
static void test_q5_1(void) { check_model("q5_1", GGML_Q5_1); }
static void test_iq4_nl(void) { check_model("iq4_nl", GGML_IQ4_NL); }

/* --- llama256-<type>.gguf: rows of whole 256-blocks (make_kquant_models.py) --- */

/* sha256 of our floats for one tensor; 0 when they equal the golden's. */
static int tensor_differs(const gguf_tensor *t, const json_t *want) {
    const char *type = json_string_value(json_object_get(want, "type"));
    const char *hash = json_string_value(json_object_get(want, "sha256_f32"));
    if (!type || !hash || strcmp(type, quant_type_name(t->type)) != 0 ||
        (json_int_t)t->n_elements != json_integer_value(json_object_get(want, "n")))
        return 1;
    float *y = malloc(t->n_elements * sizeof *y);
    quant_dequantize(t->type, t->data, y, t->n_elements);
    char got[65];
    sha256_hex(y, t->n_elements * sizeof *y, got); /* little-endian floats, as the golden */
    free(y);
    return strcmp(got, hash) != 0;
}

/* Every tensor of the file, dequantized, equals ggml's dequantization. */
static int check_tensors(const char *path, const json_t *want) {
    gguf_ctx *g = NULL;
    cj_err e = {{0}};
    CHECKF(gguf_open(path, &g, &e) == 0, "%s", e.msg);
    if (!g) return 0;
    int n_ok = 0;
    CHECK(gguf_n_tensors(g) == (int64_t)json_array_size(want));
    for (size_t i = 0; i < json_array_size(want); i++) {
        const json_t *w = json_array_get(want, i);
        const char *name = json_string_value(json_object_get(w, "name"));
        const gguf_tensor *t = name ? gguf_find_tensor(g, name) : NULL;
        int bad = !t || tensor_differs(t, w);
        CHECKF(!bad, "%s: tensor %s differs from ggml's dequantization", path, name ? name : "?");
        n_ok += !bad;
    }
    gguf_close(g);
    return n_ok;
}

static void check_kquant(const char *model, const char *stem) {
    char path[256], golden[256], label[64];
    snprintf(path, sizeof path, DIR "%s-%s.gguf", model, stem);
    snprintf(golden, sizeof golden, DIR "%s-%s.json", model, stem);
    snprintf(label, sizeof label, "%s-%s", model, stem);
    json_t *g = load_golden_json(golden);
    if (!g) return;
    int n_ok = check_tensors(path, json_object_get(g, "tensors"));
    printf("  %s: %d tensors bit-exact with ggml\n", label, n_ok);
    check_logprobs(path, g, label);
    json_decref(g);
}

static void test_q2_k(void) { check_kquant("llama256", "q2_k"); }
static void test_q3_k(void) { check_kquant("llama256", "q3_k"); }
static void test_q5_k(void) { check_kquant("llama256", "q5_k"); }
static void test_iq4_xs(void) { check_kquant("llama256", "iq4_xs"); }
static void test_q4_k_m(void) { check_kquant("llama256", "q4_k_m"); }
static void test_q5_k_m(void) { check_kquant("llama256", "q5_k_m"); }
static void test_q6_k(void) { check_kquant("llama256", "q6_k"); }
static void test_q4_k_m_two_blocks(void) { check_kquant("llama512", "q4_k_m"); }
static void test_q6_k_two_blocks(void) { check_kquant("llama512", "q6_k"); }
static void test_moe_q8_0(void) { check_kquant("mixtral", "q8_0"); }
static void test_moe_q4_k_m(void) { check_kquant("qwen2moe", "q4_k_m"); }

int main(void) {
    RUN(test_q4_1);
    RUN(test_q5_0);
    RUN(test_q5_1);
    RUN(test_iq4_nl);
    RUN(test_q2_k);
    RUN(test_q3_k);
    RUN(test_q5_k);
    RUN(test_iq4_xs);
    RUN(test_q4_k_m);
    RUN(test_q5_k_m);
    RUN(test_q6_k);
    RUN(test_q4_k_m_two_blocks);
    RUN(test_q6_k_two_blocks);
    RUN(test_moe_q8_0);
    RUN(test_moe_q4_k_m);
    return check_summary_();
}
