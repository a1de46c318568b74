/* golden_logprobs — what the tests against llama.cpp's log-prob goldens
 * share (test_quant_models.c, test_arch_llamacpp.c): a golden is
 * {"texts": [{"text", "ids", "logprobs"}]}, logprobs[t - 1] being ln p of
 * ids[t]. Header-only: static functions, each used by both binaries. */
#ifndef CJ_GOLDEN_LOGPROBS_H
#define CJ_GOLDEN_LOGPROBS_H

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../runners/transformer/compute/forward.h"
#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/tokenizer/tokenizer.h"
#include "../check.h"

/* Our ids for the text (the vocabulary's BOS default) must be the golden's;
 * then d[t - 1] = |our log-prob - golden| for t = 1..n-1 (d: caller frees).
 * Returns n - 1, or -1 when the ids differ or scoring fails. */
static int golden_text_diffs(const model *m, fwd *f, const json_t *tx, double **d) {
    const json_t *want_ids = json_object_get(tx, "ids"), *want_lp = json_object_get(tx, "logprobs");
    const char *text = json_string_value(json_object_get(tx, "text"));
    int *ids = NULL, n = 0;
    cj_err e = {{0}};
    *d = NULL;
    if (!text || tok_encode(m->tok, text, strlen(text), tok_add_bos(m->tok), &ids, &n, &e) != 0 || n < 2 ||
        (size_t)n != json_array_size(want_ids) || (size_t)n - 1 != json_array_size(want_lp)) {
        free(ids);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] != json_integer_value(json_array_get(want_ids, (size_t)i))) n = -1;
    float *lp = malloc((size_t)(n > 0 ? n : 1) * sizeof *lp);
    fwd_seq s = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = lp};
    if (n > 0 && fwd_score(f, &s, 1, &e) != 0) n = -1;
    if (n > 0) *d = malloc((size_t)n * sizeof **d);
    for (int t = 1; t < n; t++) (*d)[t - 1] = fabs(lp[t - 1] - json_real_value(json_array_get(want_lp, (size_t)t - 1)));
    free(lp);
    free(ids);
    return n > 0 ? n - 1 : -1;
}

/* Loads the model at path and checks every text of golden g: ids exact,
 * |d log-prob| <= tol at every position whose row index is below window
 * (0: every position). Prints and returns the max over the checked
 * positions (-1 when the model does not load); *n_checked counts them. */
static double check_golden_logprobs(const char *path, const json_t *g, const char *label, double tol, int window,
                                    int *n_checked) {
    model *m = NULL;
    fwd *f = NULL;
    cj_err e = {{0}};
    CHECKF(model_load(path, NULL, &m, &e) == 0 && fwd_new(m, 1, 0, &f, &e) == 0, "%s: %s", path, e.msg);
    const json_t *texts = json_object_get(g, "texts");
    double worst = f ? 0 : -1;
    *n_checked = 0;
    for (size_t i = 0; f && i < json_array_size(texts); i++) {
        double *d = NULL;
        int n = golden_text_diffs(m, f, json_array_get(texts, i), &d);
        CHECKF(n > 0, "%s text %zu: our ids differ from the golden's", label, i);
        for (int t = 0; t < n && (window == 0 || t < window); t++, (*n_checked)++) {
            CHECKF(d[t] <= tol, "%s text %zu position %d: |d log-prob| %.2e > %.0e", label, i, t + 1, d[t], tol);
            if (d[t] > worst) worst = d[t];
        }
        free(d);
    }
    printf("  %s: max |d logprob| %.2e over %d positions\n", label, worst, *n_checked);
    fwd_free(f);
    model_free(m);
    return worst;
}

static json_t *load_golden_json(const char *path) {
    json_error_t je;
    json_t *g = json_load_file(path, 0, &je);
    CHECKF(g != NULL, "%s: %s", path, je.text);
    return g;
}

#endif
