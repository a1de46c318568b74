/* Tests of the local runner: determinism across batching and threads, the
 * llama2.c greedy golden, the token boundary, sampling, stop strings, rolling
 * windows. */
#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/runner.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

static char *asset(const char *rel) {
    char *a = cj_assets_dir();
    char *p = cj_path_join(a, rel);
    free(a);
    return p;
}

static char *golden_file(const char *rel) {
    char *g = cj_golden_dir();
    char *p = cj_path_join(g, rel);
    free(g);
    return p;
}

/* stories260K.bin (or _v1) with tok512.bin. */
static runner *open_stories(const char *bin, int threads, int batch, int no_share) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/stories260K/%s", bin);
    char *mp = asset(rel), *tp = asset("models/stories260K/tok512.bin");
    runner_opts o = {.model_path = mp, .tokenizer_path = tp, .threads = threads, .batch_tokens = batch,
                     .no_prefix_cache = no_share};
    cj_err e;
    runner *r = runner_local_open(&o, &e);
    if (!r) printf("  %s\n", e.msg);
    free(mp);
    free(tp);
    return r;
}

static char *golden_text(void) {
    char *p = golden_file("llama2c/stories260K_greedy200.txt"), *d = NULL;
    size_t n;
    cj_err e;
    if (cj_read_file(p, &d, &n, &e)) printf("  %s\n", e.msg);
    free(p);
    return d;
}

/* --- determinism -------------------------------------------------------------- */

enum { N_ITEMS = 64, N_CONT = 3 };

typedef struct {
    char *ctx[N_ITEMS];
    char *cont[N_ITEMS][N_CONT];
    const char *conts[N_ITEMS][N_CONT];
    runner_ll_item items[N_ITEMS];
} request_set;

/* 64 items cut from the golden story: contexts of many lengths (some empty,
 * some ending in a space or newline), three continuations each. */
static void requests_init(request_set *rs, const char *story) {
    size_t n = strlen(story);
    for (int i = 0; i < N_ITEMS; i++) {
        size_t clen = i % 9 == 0 ? 0 : (size_t)(i * 37) % 200;
        if (i % 5 == 1) /* end on a space */
            while (clen > 0 && story[clen - 1] != ' ') clen--;
        rs->ctx[i] = cj_xstrndup(story, clen);
        for (int c = 0; c < N_CONT; c++) {
            size_t off = clen + (size_t)c * 3, len = 1 + (size_t)(i + c) % 12;
            if (off + len > n) off = n - len;
            rs->cont[i][c] = cj_xstrndup(story + off, len);
            rs->conts[i][c] = rs->cont[i][c];
        }
        rs->items[i] = (runner_ll_item){rs->ctx[i], rs->conts[i], N_CONT};
    }
}

static void requests_free(request_set *rs) {
    for (int i = 0; i < N_ITEMS; i++) {
        free(rs->ctx[i]);
        for (int c = 0; c < N_CONT; c++) free(rs->cont[i][c]);
    }
}

/* Scores the set in calls of `per_call` items. */
static int score_set(runner *r, request_set *rs, int per_call, runner_ll_result *out) {
    runner_timing tm[N_ITEMS];
    cj_err e;
    for (int i = 0; i < N_ITEMS; i += per_call) {
        int n = N_ITEMS - i < per_call ? N_ITEMS - i : per_call;
        if (runner_loglikelihood(r, rs->items + i, n, out + i * N_CONT, tm, &e)) {
            printf("  %s\n", e.msg);
            return -1;
        }
        for (int k = 0; k < n; k++) /* 0 when an earlier item computed all of it */
            if (tm[k].prefill_tokens < 0 || tm[k].wall_s < 0) return -1;
    }
    return 0;
}

static void test_determinism(void) {
    char *story = golden_text();
    CHECK(story != NULL);
    if (!story) return;
    request_set rs;
    requests_init(&rs, story);
    runner_ll_result ref[N_ITEMS * N_CONT], got[N_ITEMS * N_CONT];
    runner *r1 = open_stories("stories260K.bin", 1, 0, 1);
    CHECK(r1 != NULL);
    if (r1) CHECK(score_set(r1, &rs, 1, ref) == 0);
    runner_free(r1);
    /* (threads, batch tokens, no sharing, items per call) */
    int configs[][4] = {{1, 0, 0, 3}, {2, 0, 0, 64}, {2, 0, 1, 3}, {1, 64, 0, 64}};
    double max_d = 0;
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        runner *r = open_stories("stories260K.bin", configs[c][0], configs[c][1], configs[c][2]);
        CHECK(r != NULL);
        if (!r) continue;
        memset(got, 0, sizeof got);
        CHECK(score_set(r, &rs, configs[c][3], got) == 0);
        for (int i = 0; i < N_ITEMS * N_CONT; i++) {
            double d = fabs(got[i].logprob - ref[i].logprob);
            if (d > max_d) max_d = d;
            CHECKF(d <= 1e-6, "config %zu request %d: %.9f vs %.9f", c, i, got[i].logprob, ref[i].logprob);
            CHECK(got[i].is_greedy == ref[i].is_greedy);
            CHECK(got[i].n_tokens == ref[i].n_tokens);
        }
        runner_free(r);
    }
    int greedy = 0;
    for (int i = 0; i < N_ITEMS * N_CONT; i++) greedy += ref[i].is_greedy;
    printf("  %d requests, %d greedy; max |d| across batching/threads/sharing: %.3g\n", N_ITEMS * N_CONT, greedy,
           max_d);
    CHECK(greedy > 0 && greedy < N_ITEMS * N_CONT); /* the set exercises both */
    requests_free(&rs);
    free(story);
}

/* The same on models of other shapes and architectures: MMLU-like prompts
 * of many lengths, the longest 1/div of the 5-shot prompt. mp is owned and
 * freed here. */
static void determinism_mmlu_part(char *mp, int div) {
    char *pp = golden_file("prompts/mmlu_anatomy_test0_5shot.txt");
    char *prompt = NULL;
    size_t plen = 0;
    cj_err e;
    CHECK(cj_read_file(pp, &prompt, &plen, &e) == 0);
    enum { N = 4 };
    const char *conts[] = {" A", " B", " C", " D"};
    char *ctx[N];
    runner_ll_item items[N];
    for (int i = 0; i < N; i++) {
        ctx[i] = cj_xstrndup(prompt ? prompt : "", plen * (size_t)(N - i) / ((size_t)div * N));
        items[i] = (runner_ll_item){ctx[i], conts, 4};
    }
    runner_ll_result ref[N * 4], got[N * 4];
    runner_timing tm[N];
    int configs[][3] = {{1, 1, 0}, {2, N, 0}, {1, 3, 1}}; /* threads, items per call, no sharing */
    for (size_t c = 0; c < sizeof configs / sizeof configs[0] && prompt; c++) {
        runner_opts o = {.model_path = mp, .threads = configs[c][0], .no_prefix_cache = configs[c][2]};
        runner *r = runner_local_open(&o, &e);
        CHECK(r != NULL);
        if (!r) break;
        runner_ll_result *out = c ? got : ref;
        for (int i = 0; i < N; i += configs[c][1]) {
            int n = N - i < configs[c][1] ? N - i : configs[c][1];
            CHECK(runner_loglikelihood(r, items + i, n, out + 4 * i, tm, &e) == 0);
        }
        for (int i = 0; c && i < N * 4; i++) {
            CHECKF(fabs(got[i].logprob - ref[i].logprob) <= 1e-6, "config %zu request %d", c, i);
            CHECK(got[i].is_greedy == ref[i].is_greedy && got[i].n_tokens == ref[i].n_tokens);
        }
        runner_free(r);
    }
    for (int i = 0; i < N; i++) free(ctx[i]);
    free(prompt);
    free(mp);
    free(pp);
}

static void determinism_mmlu(char *mp) { determinism_mmlu_part(mp, 2); }

/* vocab 32000, GQA 4/2, head_dim 64, a quantized file */
static void test_determinism_tiny_llama(void) { determinism_mmlu(golden_file("llamacpp/tiny-llama-q4_k_m.gguf")); }
/* GPT-NeoX: LayerNorm, fused Q/K/V, partial RoPE, parallel residual, GELU */
static void test_determinism_neox(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/neox-parallel-f32/model.gguf")); }
/* Llama 3 RoPE scaling, HF folder */
static void test_determinism_llama3(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/llama3-scaled-f32")); }
/* Qwen3 q/k norms and head_dim != dim / heads, GGUF */
static void test_determinism_qwen3(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/qwen3-tied-f16/model.gguf")); }
/* EXAONE names and llama3 RoPE, HF folder */
static void test_determinism_exaone(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/exaone-tied-f16")); }
/* GPT-2 learned positions, transposed Conv1D weights (HF folder), gelu_new;
 * prompts within its 256 positions, so that none is truncated to the same length */
static void test_determinism_gpt2(void) { determinism_mmlu_part(cj_xstrdup("tests/golden/arch/gpt2-f16"), 4); }
/* Mistral's sliding window (16 keys, far shorter than the prompts): rows
 * trimmed inside shared prefixes, sibling rows paired with the same trim */
static void test_determinism_mistral_swa(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/mistral-swa16-f32")); }
/* Mixtures of experts: Mixtral's GGUF (3-D expert stacks), Qwen2-MoE's
 * folder (shared expert); test_moe.c checks every path bit for bit */
static void test_determinism_moe(void) {
    determinism_mmlu(cj_xstrdup("tests/golden/arch/mixtral-f16/model.gguf"));
    determinism_mmlu(cj_xstrdup("tests/golden/arch/qwen2moe-f16"));
}
/* Gemma 2: windowed and global layers alternating, attention and final
 * soft-caps, post norms, GeGLU; HF folder */
static void test_determinism_gemma2(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/gemma2-swa-f32")); }
/* Gemma 3: 5 windowed layers on their own RoPE table, 1 global with linear
 * scaling, q/k norms, the final soft-cap; GGUF */
static void test_determinism_gemma3(void) { determinism_mmlu(cj_xstrdup("tests/golden/arch/gemma3-swa-f32/model.gguf")); }

/* --- generation ---------------------------------------------------------------- */

static void greedy_golden(const char *bin) {
    char *want = golden_text();
    runner *r = open_stories(bin, 1, 0, 0);
    CHECK(r && want);
    if (r && want) {
        runner_gen_item it = {.context = "", .max_tokens = 200, .temperature = 0, .top_p = 1};
        runner_gen_result res;
        runner_timing tm;
        cj_err e;
        CHECK(runner_generate(r, &it, 1, &res, &tm, &e) == 0);
        CHECK_STR(res.text, want);
        CHECK(res.n_tokens == 200);
        CHECK(res.finish == RUNNER_FINISH_LENGTH);
        CHECK(tm.prefill_tokens == 1 && tm.decode_tokens == 200 && tm.ttft_s > 0 && tm.wall_s >= tm.ttft_s);
        free(res.text);
    }
    runner_free(r);
    free(want);
}

static void test_greedy_golden_legacy(void) { greedy_golden("stories260K.bin"); }
static void test_greedy_golden_v1(void) { greedy_golden("stories260K_v1.bin"); }

static void test_stop_strings(void) {
    char *want = golden_text();
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    CHECK(r && want);
    if (r && want) {
        /* each: stop strings, then the expected cut (first match of any) */
        const char *stops[][3] = {{"\n", NULL, NULL}, {"xyzzy", "park", "\n"}, {"y. Sh", NULL, NULL}, {"", "s", NULL}};
        int n_stops[] = {1, 3, 1, 2};
        for (int s = 0; s < 4; s++) {
            runner_gen_item it = {.context = "", .until = stops[s], .n_until = n_stops[s], .max_tokens = 200};
            runner_gen_result res;
            runner_timing tm;
            cj_err e;
            CHECK(runner_generate(r, &it, 1, &res, &tm, &e) == 0);
            size_t cut = strlen(want);
            for (int k = 0; k < n_stops[s]; k++) {
                const char *hit = stops[s][k][0] ? strstr(want, stops[s][k]) : NULL;
                if (hit && (size_t)(hit - want) < cut) cut = (size_t)(hit - want);
            }
            CHECKF(strlen(res.text) == cut && !strncmp(res.text, want, cut), "stop set %d gave \"%s\"", s, res.text);
            CHECK(res.finish == RUNNER_FINISH_STOP);
            CHECK(res.n_tokens < 200);
            free(res.text);
        }
        /* from a prompt, max_tokens counts only new tokens; no space is dropped */
        runner_gen_item it = {.context = "Once upon a time,", .max_tokens = 3};
        runner_gen_result res;
        runner_timing tm;
        cj_err e;
        CHECK(runner_generate(r, &it, 1, &res, &tm, &e) == 0);
        CHECK_STR(res.text, " there was a");
        CHECK(res.n_tokens == 3 && res.finish == RUNNER_FINISH_LENGTH);
        free(res.text);
    }
    runner_free(r);
    free(want);
}

static void test_sampling_seeded(void) {
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    CHECK(r != NULL);
    if (!r) return;
    runner_gen_item it[4];
    for (int i = 0; i < 4; i++)
        it[i] = (runner_gen_item){.context = "Once upon a time", .max_tokens = 40, .temperature = 1.0f,
                                  .top_p = i == 3 ? 1.0f : 0.9f, .seed = i == 1 ? 43 : 42};
    runner_gen_result a[4], b[4];
    runner_timing tm[4];
    cj_err e;
    CHECK(runner_generate(r, it, 4, a, tm, &e) == 0);
    CHECK(runner_generate(r, it, 4, b, tm, &e) == 0);
    for (int i = 0; i < 4; i++) CHECK_STR(a[i].text, b[i].text);
    CHECK_STR(a[2].text, a[0].text);       /* same seed, same settings */
    CHECK(strcmp(a[0].text, a[1].text) != 0); /* another seed */
    CHECK(strcmp(a[0].text, a[3].text) != 0); /* top-p off changes the draw */
    for (int i = 0; i < 4; i++) {
        free(a[i].text);
        free(b[i].text);
    }
    runner_free(r);
}

/* --- token boundary and rolling ----------------------------------------------------- */

static double direct_score(const model *m, const int *ids, int n, int from) {
    fwd *f;
    cj_err e;
    if (fwd_new(m, 1, 0, &f, &e)) return NAN;
    float *lp = malloc((size_t)n * sizeof(float));
    fwd_seq s = {.tokens = ids, .n_tokens = n, .score_from = from, .logprobs = lp, .argmax = NULL};
    double sum = 0;
    if (fwd_score(f, &s, 1, &e) == 0)
        for (int t = 0; t < n - from; t++) sum += lp[t];
    else
        sum = NAN;
    free(lp);
    fwd_free(f);
    return sum;
}

static void test_token_boundary(void) {
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    char *mp = asset("models/stories260K/stories260K.bin"), *tp = asset("models/stories260K/tok512.bin");
    model *m = NULL;
    cj_err e;
    CHECK(model_load(mp, tp, &m, &e) == 0);
    CHECK(r != NULL);
    if (r && m) {
        /* a context ending in whitespace scores like the whitespace moved over */
        const char *c1[] = {"sat on the mat"}, *c2[] = {" sat on the mat"};
        runner_ll_item items[3] = {{"The cat ", c1, 1}, {"The cat", c2, 1}, {"The cat\n", c2, 1}};
        runner_ll_result res[3];
        runner_timing tm[3];
        CHECK(runner_loglikelihood(r, items, 3, res, tm, &e) == 0);
        CHECK(res[0].logprob == res[1].logprob && res[0].n_tokens == res[1].n_tokens);
        /* by hand: whole = tok("The cat sat on the mat"), ctx = tok("The cat") */
        int *whole, nw, *ctx, nc;
        const char *w = "The cat sat on the mat";
        CHECK(tok_encode(m->tok, w, strlen(w), 1, &whole, &nw, &e) == 0);
        CHECK(tok_encode(m->tok, "The cat", 7, 1, &ctx, &nc, &e) == 0);
        CHECK(res[0].n_tokens == nw - nc);
        CHECK_NEAR(res[0].logprob, direct_score(m, whole, nw, nc), 1e-9);
        /* "The cat\n" + " sat": the newline moves too */
        const char *w2 = "The cat\n sat on the mat";
        int *whole2, nw2;
        CHECK(tok_encode(m->tok, w2, strlen(w2), 1, &whole2, &nw2, &e) == 0);
        CHECK(res[2].n_tokens == nw2 - nc);
        CHECK_NEAR(res[2].logprob, direct_score(m, whole2, nw2, nc), 1e-9);
        free(whole);
        free(whole2);
        free(ctx);
        /* an empty context conditions on BOS alone; rolling scores the same */
        const char *text = "Lily and Ben went to the park.";
        runner_ll_item empty = {"", (const char *const[]){text}, 1};
        runner_rolling_result roll;
        CHECK(runner_loglikelihood(r, &empty, 1, res, tm, &e) == 0);
        CHECK(runner_loglikelihood_rolling(r, &text, 1, &roll, tm, &e) == 0);
        CHECK(roll.n_tokens == res[0].n_tokens && roll.n_tokens > 5);
        CHECK_NEAR(roll.logprob, res[0].logprob, 1e-9);
    }
    model_free(m);
    runner_free(r);
    free(mp);
    free(tp);
}

/* A text longer than the context: lm-eval's disjoint rolling windows. */
static void test_rolling_windows(void) {
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    char *mp = asset("models/stories260K/stories260K.bin"), *tp = asset("models/stories260K/tok512.bin");
    char *story = golden_text();
    model *m = NULL;
    cj_err e;
    CHECK(model_load(mp, tp, &m, &e) == 0);
    CHECK(r && story);
    if (r && m && story) {
        sb text;
        sb_init(&text);
        for (int i = 0; i < 3; i++) sb_puts(&text, story); /* about 600 tokens */
        int *ids, n;
        CHECK(tok_encode(m->tok, text.s, text.len, 0, &ids, &n, &e) == 0);
        CHECK(n > 512 && n < 1024);
        int *F = malloc((size_t)(n + 1) * sizeof(int));
        F[0] = 1;
        memcpy(F + 1, ids, (size_t)n * sizeof(int));
        /* window 1: F[0..512] scores 512 tokens; window 2: F[n-512..n] scores the rest */
        double want = direct_score(m, F, 513, 1) + direct_score(m, F + n - 512, 513, 513 - (n - 512));
        const char *t = text.s;
        runner_rolling_result roll;
        runner_timing tm;
        CHECK(runner_loglikelihood_rolling(r, &t, 1, &roll, &tm, &e) == 0);
        CHECK(roll.n_tokens == n);
        CHECK_NEAR(roll.logprob, want, 1e-6);
        CHECK(tm.prefill_tokens == 512 + 512); /* a window's last token predicts nothing */
        free(F);
        free(ids);
        sb_free(&text);
    }
    model_free(m);
    runner_free(r);
    free(mp);
    free(tp);
    free(story);
}

/* A request longer than the context keeps its last max_len + 1 tokens. */
static void test_left_truncation(void) {
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    char *mp = asset("models/stories260K/stories260K.bin"), *tp = asset("models/stories260K/tok512.bin");
    char *story = golden_text();
    model *m = NULL;
    cj_err e;
    CHECK(model_load(mp, tp, &m, &e) == 0);
    if (r && m && story) {
        sb ctx;
        sb_init(&ctx);
        for (int i = 0; i < 3; i++) sb_puts(&ctx, story);
        const char *cont[] = {" The end."};
        runner_ll_item it = {ctx.s, cont, 1};
        runner_ll_result res;
        runner_timing tm;
        CHECK(runner_loglikelihood(r, &it, 1, &res, &tm, &e) == 0);
        sb_puts(&ctx, cont[0]);
        int *whole, nw;
        CHECK(tok_encode(m->tok, ctx.s, ctx.len, 1, &whole, &nw, &e) == 0);
        CHECK(nw > 513 && res.n_tokens >= 3);
        CHECK_NEAR(res.logprob, direct_score(m, whole + nw - 513, 513, 513 - res.n_tokens), 1e-9);
        CHECK(tm.prefill_tokens == 512);
        free(whole);
        sb_free(&ctx);
    }
    model_free(m);
    runner_free(r);
    free(mp);
    free(tp);
    free(story);
}

static void test_info_and_sharing_cost(void) {
    runner *r = open_stories("stories260K.bin", 1, 0, 0);
    CHECK(r != NULL);
    if (!r) return;
    const runner_info *in = runner_get_info(r);
    CHECK_STR(in->format, "llama2c");
    CHECK(in->ctx_len == 512 && in->n_params > 200000 && in->n_params < 300000);
    CHECK(strlen(in->sha256) == 64 && in->tokenizer && in->dtype && in->arch);
    /* four continuations of one long context: the context runs once */
    const char *conts[] = {" A", " B", " C", " D"};
    char *ctx = golden_text();
    runner_ll_item it = {ctx, conts, 4};
    runner_ll_result res[4];
    runner_timing tm;
    cj_err e;
    CHECK(runner_loglikelihood(r, &it, 1, res, &tm, &e) == 0);
    CHECK(tm.prefill_tokens > 200 && tm.prefill_tokens < 200 + 4 * 3);
    free(ctx);
    runner_free(r);
}

static void test_errors(void) {
    cj_err e;
    runner_opts o = {.model_path = "/nonexistent/model.gguf"};
    CHECK(runner_local_open(&o, &e) == NULL);
    CHECK(strstr(e.msg, "/nonexistent/model.gguf") != NULL);
}

int main(void) {
    RUN(test_determinism);
    RUN(test_determinism_tiny_llama);
    RUN(test_determinism_neox);
    RUN(test_determinism_llama3);
    RUN(test_determinism_qwen3);
    RUN(test_determinism_exaone);
    RUN(test_determinism_gpt2);
    RUN(test_determinism_mistral_swa);
    RUN(test_determinism_moe);
    RUN(test_determinism_gemma2);
    RUN(test_determinism_gemma3);
    RUN(test_greedy_golden_legacy);
    RUN(test_greedy_golden_v1);
    RUN(test_stop_strings);
    RUN(test_sampling_seeded);
    RUN(test_token_boundary);
    RUN(test_rolling_windows);
    RUN(test_left_truncation);
    RUN(test_info_and_sharing_cost);
    RUN(test_errors);
    return check_summary_();
}
