/* chaejeom logprobs — ln p(token | tokens before it) for every token of a text. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../runners/transformer/compute/forward.h"
#include "../runners/transformer/formats/model.h"
#include "cli_args.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom logprobs -m MODEL [--tokenizer PATH] (--text TEXT | -f FILE) [--json] [-t N] [--no-bos]\n\n"
          "Tokenizes the text (BOS prepended per the vocabulary's default) and prints, for every\n"
          "token after the first, ln p(token | tokens before it) from one forward pass.\n\n"
          "  -m, --model MODEL   .gguf file, HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH    tokenizer.json or llama2.c tokenizer.bin (required for .bin models)\n"
          "  --text TEXT         the text to score\n"
          "  -f, --file FILE     score the contents of FILE\n"
          "  --no-bos            do not prepend BOS\n"
          "  -t, --threads N     threads (default: all cores)\n"
          "  --json              print {\"ids\": [...], \"logprobs\": [null, lp1, ...], \"sum_logprob\": s}\n"
          "                      (default: one line per token: position, id, logprob, piece)\n",
          f);
}

static json_t *json_lp(double v) {
    json_t *j = json_real(v); /* NULL for inf / nan, which JSON cannot hold */
    return j ? j : json_null();
}

static void print_json(const int *ids, int n, const float *lp, int n_lp, double sum) {
    json_t *root = json_object(), *jids = json_array(), *jlp = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(jids, json_integer(ids[i]));
        json_array_append_new(jlp, i >= n - n_lp ? json_lp(lp[i - (n - n_lp)]) : json_null());
    }
    json_object_set_new(root, "ids", jids);
    json_object_set_new(root, "logprobs", jlp);
    json_object_set_new(root, "sum_logprob", json_lp(sum));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    puts(s);
    free(s);
    json_decref(root);
}

static void print_plain(const tokenizer *t, const int *ids, int n, const float *lp, int n_lp, double sum) {
    for (int i = 0; i < n; i++) {
        const char *piece = tok_piece(t, ids[i]);
        if (i >= n - n_lp) printf("%d\t%d\t%.6f\t%s\n", i, ids[i], lp[i - (n - n_lp)], piece ? piece : "");
        else printf("%d\t%d\t-\t%s\n", i, ids[i], piece ? piece : "");
    }
    printf("sum\t%.6f\n", sum);
}

/* Scores ids[1..n) in one sequence; *lp gets n-1 values (NULL when n < 2). */
static int score(const model *m, int threads, const int *ids, int n, float **lp, cj_err *e) {
    *lp = NULL;
    if (n < 2) return 0;
    fwd *f;
    if (fwd_new(m, threads, 0, &f, e)) return -1;
    *lp = cj_xmalloc((size_t)(n - 1) * sizeof **lp);
    fwd_seq seq = {.tokens = ids, .n_tokens = n, .score_from = 1, .logprobs = *lp, .argmax = NULL};
    int rc = fwd_score(f, &seq, 1, e);
    fwd_free(f);
    return rc;
}

int cmd_logprobs(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *text = NULL, *file = NULL;
    int json = 0, add_bos = 1, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--tokenizer") && has_val) {
            tok_path = argv[++i];
        } else if (!strcmp(a, "--text") && has_val) {
            text = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            file = argv[++i];
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            if (cli_parse_int(argv[++i], 0, 1024, &threads)) {
                fprintf(stderr, "chaejeom logprobs: -t wants an integer 0..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--no-bos")) {
            add_bos = 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "chaejeom logprobs: unknown argument or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || (!text == !file)) {
        fprintf(stderr, "chaejeom logprobs: need -m MODEL and exactly one of --text TEXT or -f FILE\n");
        usage(stderr);
        return 2;
    }
    cj_err e;
    char *buf = NULL;
    size_t len = 0;
    if (file) {
        if (cj_read_file(file, &buf, &len, &e)) {
            fprintf(stderr, "chaejeom logprobs: %s\n", e.msg);
            return 2;
        }
    } else {
        buf = cj_xstrdup(text);
        len = strlen(buf);
    }
    model *m;
    if (model_load(model_path, tok_path, &m, &e)) {
        fprintf(stderr, "chaejeom logprobs: %s\n", e.msg);
        free(buf);
        return 2;
    }
    int *ids = NULL, n = 0, rc = 0;
    float *lp = NULL;
    if (tok_encode(m->tok, buf, len, add_bos && tok_add_bos(m->tok), &ids, &n, &e) ||
        score(m, threads, ids, n, &lp, &e)) {
        fprintf(stderr, "chaejeom logprobs: %s\n", e.msg);
        rc = 2;
    } else {
        int n_lp = n < 2 ? 0 : n - 1;
        double sum = 0;
        for (int i = 0; i < n_lp; i++) sum += lp[i];
        if (json) print_json(ids, n, lp, n_lp, sum);
        else print_plain(m->tok, ids, n, lp, n_lp, sum);
    }
    free(lp);
    free(ids);
    model_free(m);
    free(buf);
    return rc;
}
