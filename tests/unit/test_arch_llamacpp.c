/* Unit tests of the architecture GGUFs of tests/golden/arch/ against
 * llama.cpp itself: each <name>/model.gguf scored by the local forward pass
 * against <name>/llamacpp.json (llama.cpp's F32-compute log-probs of the
 * same file and ids, made by tests/golden/make_llamacpp_goldens.py). Where
 * llama.cpp computes something else on purpose, the check says how and why
 * (docs/models.md, "Checks against llama.cpp"). */
#include "golden_logprobs.h"

typedef struct {
    const char *name;
    double tol;     /* per position */
    int window;     /* only the rows below it (0: all) */
    const char *why; /* printed when tol or window differs from 1e-4 / all */
} arch_case;

/* llama.cpp's GELU (gptneox, gpt2, and Gemma's GeGLU) rounds its input to
 * f16 and reads the tanh formula from a table of f16 values; transformers'
 * (and ours) is exact erf for NeoX, tanh in double for GPT-2 and Gemma.
 * tests/golden/explain_llamacpp_gap.py puts that table into transformers'
 * float64 forward pass: it lands within 2.3e-5 (gpt2), 4.5e-5
 * (neox-parallel), 1.3e-4 (neox-serial), 3.5e-4 (gemma2) and 2.3e-3 (gemma3)
 * of llama.cpp, each about what the same emulation moves by when run in
 * float32 instead (the table's f16 rounding carries such small changes far).
 * The tolerances are about twice the measured difference: they catch a
 * wrong layout, RoPE, window, cap or residual, which move log-probs by far
 * more, while transformers' float64 goldens check these to 1e-4. */
#define GELU_WHY "llama.cpp's GELU is an f16 table of the tanh approximation"

static const arch_case CASES[] = {
    {"llama3-scaled-f32", 1e-4, 0, NULL},
    {"llama-linear-f32", 1e-4, 0, NULL},
    {"qwen3-tied-f16", 1e-4, 0, NULL},
    {"qwen2.5-tied-f16", 1e-4, 0, NULL},
    {"exaone-tied-f16", 1e-4, 0, NULL},
    {"mistral-swa16-f32", 1e-4, 16,
     "llama.cpp's llama architecture ignores llama.attention.sliding_window (full attention): rows past 16 keys "
     "are not compared"},
    /* the mixtures of experts: llama.cpp in F32 compute (the F16 files widened),
     * Mixtral's near-tie of layer 1's router included */
    {"mixtral-f16", 1e-4, 0, NULL},
    {"qwen3moe-f16", 1e-4, 0, NULL},
    {"qwen2moe-f16", 1e-4, 0, NULL},
    {"olmoe-f32", 1e-4, 0, NULL},
    {"neox-parallel-f32", 3e-3, 0, GELU_WHY " (and NeoX's is erf): measured 1.5e-3"},
    {"neox-serial-f16", 2e-3, 0, GELU_WHY " (and NeoX's is erf): measured 9.5e-4"},
    {"gpt2-f16", 4e-4, 0, GELU_WHY ": measured 1.7e-4"},
    {"gemma2-swa-f32", 7e-3, 0, GELU_WHY " (GeGLU): measured 3.3e-3"},
    {"gemma3-swa-f32", 2e-2, 0, GELU_WHY " (GeGLU): measured 1.1e-2"},
};
#define N_LLAMA 6
#define N_MOE 4

static void check_case(const arch_case *c) {
    char path[160], golden[160];
    snprintf(path, sizeof path, "tests/golden/arch/%s/model.gguf", c->name);
    snprintf(golden, sizeof golden, "tests/golden/arch/%s/llamacpp.json", c->name);
    json_t *g = load_golden_json(golden);
    if (!g) return;
    if (c->why) printf("  %s: tolerance %.0e%s: %s\n", c->name, c->tol, c->window ? " in the window" : "", c->why);
    int n = 0;
    double worst = check_golden_logprobs(path, g, c->name, c->tol, c->window, &n);
    CHECK(worst >= 0 && n >= (c->window ? 4 * c->window : 300));
    json_decref(g);
}

static void test_llama_family(void) {
    for (int i = 0; i < N_LLAMA; i++) check_case(&CASES[i]);
}

static void test_moe(void) {
    for (int i = N_LLAMA; i < N_LLAMA + N_MOE; i++) check_case(&CASES[i]);
}

static void test_gelu_archs(void) {
    for (size_t i = N_LLAMA + N_MOE; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i]);
}

int main(void) {
    RUN(test_llama_family);
    RUN(test_moe);
    RUN(test_gelu_archs);
    return check_summary_();
}
