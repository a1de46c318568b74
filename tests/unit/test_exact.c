/* Exact bits on every machine: the log-probs of fixed texts under real
 * models, as hex floats, against tests/golden/exact-logprobs.txt, which was
 * written once and must be reproduced bit for bit by every build on every
 * CPU (any x86-64 with FMA, whatever OpenBLAS's core type), by scoring with
 * any batch size and thread count, and by decoding one token at a time.
 *
 *   build/tests/test_exact               check (what make test runs)
 *   build/tests/test_exact --write FILE  write the file anew (only when the
 *                                        numerics change on purpose; say why
 *                                        in the commit)
 *
 * A model that is missing from the assets is a visible SKIP. */
#include <errno.h>
#include <stdint.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

#define GOLDEN "tests/golden/exact-logprobs.txt"

/* Under the assets (a) or the goldens (g). */
static const struct {
    char root;
    const char *path, *tokenizer;
} MODELS[] = {
    {'a', "models/stories260K/stories260K.bin", "models/stories260K/tok512.bin"},
    {'g', "llamacpp/stories260K.gguf", NULL},
    {'g', "llamacpp/tiny-llama-f16.gguf", NULL},
    {'g', "llamacpp/tiny-llama-q8_0.gguf", NULL},
    {'g', "llamacpp/tiny-llama-q4_0.gguf", NULL},
    {'g', "llamacpp/tiny-llama-q4_k_m.gguf", NULL},
    {'g', "llamacpp/tiny-llama-q6_k.gguf", NULL},
    {'g', "hf/llama-untied-bf16", NULL},
    {'g', "hf/qwen2-qkvbias-f32", NULL},
};
#define N_MODELS ((int)(sizeof MODELS / sizeof MODELS[0]))

static const char *const TEXT =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day she saw a big red ball under a tree.";

static char *root_path(char root, const char *rel) {
    char *r = root == 'a' ? cj_assets_dir() : cj_golden_dir();
    char *p = cj_path_join(r, rel);
    free(r);
    return p;
}

typedef struct {
    int *tok;
    int n;
    float *lp; /* [n - 1]: ln p(tok[t] | tok[<t]) for t >= 1 */
} result;

/* Scores the text as one sequence with the given threads and batch size. */
static int score(const model *m, const int *tok, int n, int threads, int batch, float *lp) {
    fwd *f;
    cj_err e;
    if (fwd_new(m, threads, batch, &f, &e)) {
        printf("  %s\n", e.msg);
        return -1;
    }
    fwd_seq s = {.tokens = tok, .n_tokens = n, .score_from = 1, .logprobs = lp};
    int rc = fwd_score(f, &s, 1, &e);
    if (rc) printf("  %s\n", e.msg);
    fwd_free(f);
    return rc;
}

/* The same log-probs by decoding: one token pushed at a time. */
static int decode(const model *m, const int *tok, int n, float *lp) {
    fwd *f;
    cj_err e;
    if (fwd_new(m, 1, 0, &f, &e)) return -1;
    int V = m->hp.vocab_size, rc = 0;
    float *logits = cj_xmalloc((size_t)V * sizeof(float));
    for (int t = 0; t + 1 < n && !rc; t++) {
        rc = fwd_push(f, &tok[t], 1, logits, &e);
        if (!rc) lp[t] = fwd_logprob(logits, V, tok[t + 1], NULL);
    }
    if (rc) printf("  %s\n", e.msg);
    free(logits);
    fwd_free(f);
    return rc;
}

/* Loads model i and computes its result with threads=2 and the default
 * batch; 1 = missing (SKIP), -1 = error. */
static int compute(int i, model **mo, result *r) {
    char *mp = root_path(MODELS[i].root, MODELS[i].path);
    char *tp = MODELS[i].tokenizer ? root_path('a', MODELS[i].tokenizer) : NULL;
    int rc = 1;
    cj_err e;
    if (!cj_is_file(mp) && !cj_is_dir(mp)) {
        printf("SKIP exact_%s: %s is missing\n", MODELS[i].path, mp);
        goto out;
    }
    rc = -1;
    if (model_load(mp, tp, mo, &e)) {
        printf("  %s\n", e.msg);
        goto out;
    }
    if (tok_encode((*mo)->tok, TEXT, strlen(TEXT), 1, &r->tok, &r->n, &e)) {
        printf("  %s\n", e.msg);
        goto out;
    }
    r->lp = cj_xmalloc((size_t)r->n * sizeof(float));
    rc = score(*mo, r->tok, r->n, 2, 0, r->lp);
out:
    free(mp);
    free(tp);
    return rc;
}

static int write_golden(const char *path) {
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fprintf(stderr, "test_exact: %s: %s\n", path, strerror(errno));
        return 2;
    }
    fprintf(fp, "# ln p(token | tokens before it) of a fixed text, as C99 hex floats: see tests/unit/test_exact.c\n");
    for (int i = 0; i < N_MODELS; i++) {
        model *m = NULL;
        result r = {0};
        int rc = compute(i, &m, &r);
        if (rc) {
            fprintf(stderr, "test_exact: %s: cannot compute\n", MODELS[i].path);
            fclose(fp);
            return 2;
        }
        fprintf(fp, "model %s %d\n", MODELS[i].path, r.n - 1);
        for (int t = 1; t < r.n; t++) fprintf(fp, "%d %d %a\n", t, r.tok[t], (double)r.lp[t - 1]);
        free(r.tok);
        free(r.lp);
        model_free(m);
    }
    return fclose(fp) ? 2 : 0;
}

/* The golden entries of one model: tokens and bits. */
typedef struct {
    int n;
    int tok[512];
    float lp[512];
} golden;

static int read_golden(const char *model_path, golden *g) {
    FILE *fp = fopen(GOLDEN, "r");
    if (!fp) return -1;
    char line[512], name[256];
    int found = 0;
    g->n = 0;
    while (fgets(line, sizeof line, fp)) {
        int n;
        if (sscanf(line, "model %255s %d", name, &n) == 2) {
            found = !strcmp(name, model_path);
            if (found) g->n = n;
            continue;
        }
        int t, tok;
        double v;
        if (found && sscanf(line, "%d %d %la", &t, &tok, &v) == 3 && t >= 1 && t <= g->n && t <= 512) {
            g->tok[t - 1] = tok;
            g->lp[t - 1] = (float)v;
        }
    }
    fclose(fp);
    return g->n > 0 && g->n <= 512 ? 0 : -1;
}

static int same_bits(const float *a, const float *b, int n, const char *what) {
    int bad = 0;
    for (int t = 0; t < n; t++)
        if (memcmp(&a[t], &b[t], sizeof(float))) {
            if (bad < 3) printf("  %s: position %d: %a, golden %a\n", what, t + 1, (double)a[t], (double)b[t]);
            bad++;
        }
    return bad;
}

static void check_model(int i) {
    model *m = NULL;
    result r = {0};
    golden *g = cj_xcalloc(1, sizeof *g);
    char name[300];
    snprintf(name, sizeof name, "exact_%s", MODELS[i].path);
    int rc = compute(i, &m, &r);
    if (rc == 1) goto out;
    check_cur_failed_ = 0;
    CHECK(rc == 0);
    if (rc == 0 && read_golden(MODELS[i].path, g)) {
        printf("  %s: no entry for %s\n", GOLDEN, MODELS[i].path);
        check_cur_failed_++;
    } else if (rc == 0) {
        CHECKF(r.n - 1 == g->n && !memcmp(r.tok + 1, g->tok, (size_t)g->n * sizeof(int)), "token ids differ");
        if (r.n - 1 == g->n) {
            float *lp = cj_xmalloc((size_t)r.n * sizeof(float));
            CHECK(same_bits(r.lp, g->lp, g->n, "scored, 2 threads") == 0);
            CHECK(score(m, r.tok, r.n, 1, 7, lp) == 0 && same_bits(lp, g->lp, g->n, "batches of 7, 1 thread") == 0);
            CHECK(decode(m, r.tok, r.n, lp) == 0 && same_bits(lp, g->lp, g->n, "decoded") == 0);
            free(lp);
        }
    }
    printf("%s %s\n", check_cur_failed_ ? "FAIL" : "PASS", name);
    if (check_cur_failed_) check_n_fail_++;
    else check_n_pass_++;
out:
    free(g);
    free(r.tok);
    free(r.lp);
    model_free(m);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) return write_golden(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_exact [--write FILE]\n");
        return 2;
    }
    for (int i = 0; i < N_MODELS; i++) check_model(i);
    return check_summary_();
}
