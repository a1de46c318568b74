/* Tests of the mixture-of-experts models (make_moe_goldens.py; their
 * transformers goldens are in test_forward.c): every path a row can take
 * gives the same bits (batching, threads, prefix sharing, single and bulk
 * decoding), and malformed expert tensors are refused by name. */
#include <jansson.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

#define DIR_ "tests/golden/arch/"
static const char *const MODELS[] = {DIR_ "mixtral-f16",         DIR_ "mixtral-f16/model.gguf",
                                     DIR_ "qwen3moe-f16",        DIR_ "qwen3moe-f16/model.gguf",
                                     DIR_ "qwen2moe-f16",        DIR_ "qwen2moe-f16/model.gguf",
                                     DIR_ "olmoe-f32",           DIR_ "olmoe-f32/model.gguf"};
#define N_MODELS (int)(sizeof MODELS / sizeof MODELS[0])

enum { NS = 6, MAXLEN = 64 };

/* Six sequences: four share a 20-token prefix, then tails of several
 * lengths; tokens from a fixed generator. */
typedef struct {
    int tok[NS][MAXLEN];
    int len[NS];
    float lp[NS][MAXLEN];
} seqset;

static void seqs_init(seqset *S, int vocab) {
    uint32_t x = 12345;
    for (int s = 0; s < NS; s++) {
        S->len[s] = 24 + 7 * s;
        for (int t = 0; t < S->len[s]; t++) {
            x = x * 1103515245u + 12345u;
            int own = (int)((x >> 8) % (uint32_t)vocab);
            S->tok[s][t] = s > 0 && s < 4 && t < 20 ? S->tok[0][t] : own;
        }
    }
}

/* Scores the set on a context of (threads, batch tokens, sharing), all in
 * one call or one call per sequence. */
static int score(const model *m, seqset *S, int threads, int batch, int share, int one_call) {
    fwd *f;
    cj_err e;
    if (fwd_new(m, threads, batch, &f, &e)) {
        printf("  %s\n", e.msg);
        return -1;
    }
    fwd_set_prefix_sharing(f, share);
    fwd_seq q[NS];
    for (int s = 0; s < NS; s++) q[s] = (fwd_seq){.tokens = S->tok[s], .n_tokens = S->len[s], .score_from = 1, .logprobs = S->lp[s], .argmax = NULL};
    int rc = 0;
    for (int s = 0; s < NS && !rc; s += one_call ? NS : 1) rc = fwd_score(f, q + s, one_call ? NS : 1, &e);
    if (rc) printf("  %s\n", e.msg);
    fwd_free(f);
    return rc;
}

/* The largest |difference| of the log-probs of a and b: 0 only for the same
 * bits (values that compare equal with other bits, as -0 and +0, count as
 * 1e-30). */
static double max_diff(const seqset *a, const seqset *b) {
    double d = 0;
    for (int s = 0; s < NS; s++)
        for (int t = 0; t < a->len[s] - 1; t++) {
            if (memcmp(&a->lp[s][t], &b->lp[s][t], sizeof(float))) d = fmax(d, fabs(a->lp[s][t] - b->lp[s][t]) + 1e-30);
        }
    return d;
}

/* Decoding one token at a time (after a prompt of s + 2 tokens) into S->lp. */
static int decode_single(const model *m, seqset *S, int threads) {
    fwd *f;
    cj_err e;
    int V = m->hp.vocab_size, rc = fwd_new(m, threads, 0, &f, &e);
    float *logits = malloc((size_t)V * sizeof(float));
    for (int s = 0; s < NS && !rc; s++) {
        fwd_reset(f);
        int p = s + 2;
        rc = fwd_push(f, S->tok[s], p, logits, &e);
        for (int t = p; t < S->len[s] && !rc; t++) {
            S->lp[s][t - 1] = fwd_logprob(logits, V, S->tok[s][t], NULL);
            if (t + 1 < S->len[s]) rc = fwd_push(f, &S->tok[s][t], 1, logits, &e);
        }
        for (int t = 1; t < p; t++) S->lp[s][t - 1] = 0; /* not predicted here */
    }
    if (rc) printf("  %s\n", e.msg);
    free(logits);
    fwd_free(f);
    return rc;
}

typedef struct {
    seqset *S;
    int vocab, step[NS], p[NS];
} gen_ctx;

/* Teacher forcing: the log-prob of the sequence's next token, which is
 * then appended. */
static int gen_next(void *ctxp, int s, float *logits) {
    gen_ctx *c = ctxp;
    int t = c->p[s] + c->step[s]++;
    c->S->lp[s][t - 1] = fwd_logprob(logits, c->vocab, c->S->tok[s][t], NULL);
    return t + 1 < c->S->len[s] ? c->S->tok[s][t] : -1;
}

/* Bulk decoding of all the sequences at once (prompts of s + 2 tokens). */
static int decode_bulk(const model *m, seqset *S, int threads, int max_live) {
    fwd *f;
    cj_err e;
    gen_ctx c = {S, m->hp.vocab_size, {0}, {0}};
    fwd_gen_seq g[NS];
    memset(g, 0, sizeof g);
    for (int s = 0; s < NS; s++) {
        c.p[s] = s + 2;
        g[s] = (fwd_gen_seq){.prompt = S->tok[s], .n_prompt = c.p[s], .max_new = S->len[s] - c.p[s]};
        for (int t = 1; t < c.p[s]; t++) S->lp[s][t - 1] = 0;
    }
    int rc = fwd_new(m, threads, 0, &f, &e) || fwd_generate(f, g, NS, max_live, gen_next, &c, &e);
    if (rc) printf("  %s\n", e.msg);
    fwd_free(f);
    return rc;
}

static void zero_prompts(seqset *S) {
    for (int s = 0; s < NS; s++)
        for (int t = 1; t < s + 2; t++) S->lp[s][t - 1] = 0;
}

static void invariance(const char *path) {
    model *m = NULL;
    cj_err e;
    if (model_load(path, NULL, &m, &e)) {
        CHECKF(0, "%s", e.msg);
        return;
    }
    CHECK(m->hp.n_experts > 0 && m->hp.n_expert_used == 2);
    const char *arch = strstr(path, "mixtral") ? "mixtral" /* its GGUF says "llama" */
                       : strstr(path, "olmoe") ? "olmoe"
                       : strstr(path, "qwen3") ? "qwen3moe"
                                               : "qwen2moe";
    CHECKF(!strcmp(m->arch, arch), "%s: arch %s", path, m->arch);
    static seqset ref, got;
    seqs_init(&ref, m->hp.vocab_size);
    got = ref;
    CHECK(score(m, &ref, 1, 0, 0, 0) == 0);
    /* (threads, batch tokens, sharing, one call): batches of 3 rows take
     * gemm's few-rows path, so each expert sees rows in both paths */
    int cfg[][4] = {{2, 0, 1, 1}, {1, 5, 1, 1}, {2, 3, 0, 0}, {1, 64, 1, 1}, {2, 17, 0, 1}};
    double worst = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        memset(got.lp, 0, sizeof got.lp);
        CHECK(score(m, &got, cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3]) == 0);
        double d = max_diff(&ref, &got);
        CHECKF(d == 0, "%s: scoring config %zu differs by %g", path, c, d);
        worst = fmax(worst, d);
    }
    seqset dec = ref;
    zero_prompts(&dec);
    for (int threads = 1; threads <= 2; threads++) {
        memset(got.lp, 0, sizeof got.lp);
        CHECK(decode_single(m, &got, threads) == 0);
        double d = max_diff(&dec, &got);
        CHECKF(d == 0, "%s: single decoding (%d threads) differs by %g", path, threads, d);
        worst = fmax(worst, d);
        for (int live = 1; live <= NS; live += NS - 1) {
            memset(got.lp, 0, sizeof got.lp);
            CHECK(decode_bulk(m, &got, threads, live) == 0);
            d = max_diff(&dec, &got);
            CHECKF(d == 0, "%s: bulk decoding (%d threads, %d live) differs by %g", path, threads, live, d);
            worst = fmax(worst, d);
        }
    }
    printf("  %s: max |d logprob| across batching, threads, sharing, decoding: %g\n", path, worst);
    model_free(m);
}

static void test_invariance(void) {
    for (int i = 0; i < N_MODELS; i++) invariance(MODELS[i]);
}

/* Log-probs of one sequence on m, into lp. */
static void score_one(const model *m, const int *tok, int n, float *lp) {
    fwd *f;
    cj_err e;
    CHECK(fwd_new(m, 1, 0, &f, &e) == 0);
    fwd_seq q = {.tokens = tok, .n_tokens = n, .score_from = 1, .logprobs = lp, .argmax = NULL};
    CHECK(fwd_score(f, &q, 1, &e) == 0);
    fwd_free(f);
}

/* An all-zero router ties every expert: the two of lowest index (0 and 1)
 * are the ones used, so giving experts 2.. expert 0's weights changes
 * nothing, and giving expert 1 expert 7's does. */
static void test_moe_ties(void) {
    model *m = NULL;
    cj_err e;
    if (model_load(DIR_ "mixtral-f16", NULL, &m, &e)) {
        CHECKF(0, "%s", e.msg);
        return;
    }
    int ne = m->hp.n_experts, tok[16];
    float *zero = calloc((size_t)ne * (size_t)m->hp.dim, sizeof(float)), base[15], got[15];
    for (int t = 0; t < 16; t++) tok[t] = (t * 37 + 5) % m->hp.vocab_size;
    for (int l = 0; l < m->hp.n_layers; l++)
        m->layers[l].router = (model_mat){zero, GGML_F32, (size_t)m->hp.dim * sizeof(float)};
    score_one(m, tok, 16, base);
    model_mat *mats[3];
    for (int l = 0; l < m->hp.n_layers; l++) {
        mats[0] = m->layers[l].exp_gate, mats[1] = m->layers[l].exp_up, mats[2] = m->layers[l].exp_down;
        for (int k = 0; k < 3; k++)
            for (int x = 2; x < ne; x++) mats[k][x] = mats[k][0];
    }
    score_one(m, tok, 16, got);
    CHECK(memcmp(base, got, sizeof base) == 0);
    for (int l = 0; l < m->hp.n_layers; l++) {
        m->layers[l].exp_gate[1] = m->layers[l].exp_gate[ne - 1];
        m->layers[l].exp_up[1] = m->layers[l].exp_up[ne - 1];
        m->layers[l].exp_down[1] = m->layers[l].exp_down[ne - 1];
    }
    score_one(m, tok, 16, got);
    CHECK(memcmp(base, got, sizeof base) != 0);
    free(zero);
    model_free(m);
}

static char tmp_dir[] = "/tmp/cj-test-moe-XXXXXX"; /* made by main */

/* The GGUF of `src` with dimension `dim` of tensor `name` set to v, at a
 * temporary path (the caller frees and removes it). */
static char *patched_gguf(const char *src, const char *name, int dim, uint64_t v) {
    char *data = NULL;
    size_t n = 0;
    cj_err e;
    if (cj_read_file(src, &data, &n, &e)) return NULL;
    size_t len = strlen(name);
    char *at = NULL;
    for (size_t i = 8; i + len + 4 + 8 * 4 < n && !at; i++)
        if (!memcmp(data + i, name, len) && !memcmp(data + i - 8, &(uint64_t){len}, 8)) at = data + i + len;
    char *path = NULL;
    if (at) {
        memcpy(at + 4 + 8 * (size_t)dim, &v, 8);
        path = cj_path_join(tmp_dir, "patched.gguf");
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(data, 1, n, f);
            fclose(f);
        }
    }
    free(data);
    return path;
}

/* A stack of the wrong expert count or width, a router of the wrong width,
 * a shared-expert gate of the wrong length: refused with the tensor's name
 * and shape. */
static void test_bad_expert_tensors(void) {
    struct {
        const char *file, *name;
        int dim;
        uint64_t v;
        const char *want;
    } cases[] = {{"mixtral-f16", "blk.1.ffn_up_exps.weight", 2, 7,
                  "'blk.1.ffn_up_exps.weight' has shape [64, 32, 7, 1]"},
                 {"mixtral-f16", "blk.0.ffn_down_exps.weight", 1, 63,
                  "'blk.0.ffn_down_exps.weight' has shape [32, 63, 8, 1], expected [32, 64, 8]"},
                 {"mixtral-f16", "blk.0.ffn_gate_inp.weight", 1, 4,
                  "'blk.0.ffn_gate_inp.weight' has shape [64, 4, 1, 1]"},
                 {"qwen2moe-f16", "blk.0.ffn_gate_inp_shexp.weight", 0, 32,
                  "'blk.0.ffn_gate_inp_shexp.weight' has shape [32, 1, 1, 1]"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, DIR_ "%s/model.gguf", cases[i].file);
        char *p = patched_gguf(src, cases[i].name, cases[i].dim, cases[i].v);
        CHECK(p != NULL);
        if (!p) continue;
        model *m = NULL;
        cj_err e = {0};
        CHECK(model_load(p, NULL, &m, &e) != 0 && m == NULL);
        CHECKF(strstr(e.msg, cases[i].want) != NULL, "%s", e.msg);
        remove(p);
        free(p);
    }
}

/* HF configs the MoE forward pass cannot honour: more experts per token
 * than experts, dense layers among the MoE ones, OLMoE's clip_qkv. Only
 * config.json is read before the refusal. */
static void test_config_refusals(void) {
    struct {
        const char *file, *key;
        json_t *v;
        const char *want;
    } cases[] = {{"mixtral-f16", "num_experts_per_tok", json_integer(9),
                  "experts used per token 9 is out of range (1..8)"},
                 {"qwen2moe-f16", "decoder_sparse_step", json_integer(2), "layers without experts"},
                 {"qwen3moe-f16", "mlp_only_layers", json_pack("[i]", 1), "layers without experts"},
                 {"olmoe-f32", "clip_qkv", json_real(8.0), "clip_qkv"}};
    char *cfg_path = cj_path_join(tmp_dir, "config.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, DIR_ "%s/config.json", cases[i].file);
        json_t *cfg = json_load_file(src, 0, NULL);
        CHECK(cfg != NULL);
        if (!cfg) continue;
        json_object_set_new(cfg, cases[i].key, cases[i].v);
        CHECK(json_dump_file(cfg, cfg_path, 0) == 0);
        json_decref(cfg);
        model *m = NULL;
        cj_err e = {0};
        CHECK(model_load(tmp_dir, NULL, &m, &e) != 0);
        CHECKF(strstr(e.msg, cases[i].want) != NULL, "%s", e.msg);
    }
    remove(cfg_path);
    free(cfg_path);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_invariance);
    RUN(test_moe_ties);
    RUN(test_bad_expert_tensors);
    RUN(test_config_refusals);
    remove(tmp_dir);
    return check_summary_();
}
