/* chaejeom perplexity — perplexity of a file, scored the way llama.cpp's
 * llama-perplexity scores it, plus bits per byte.
 *
 * The whole file is tokenized once (BOS per the vocabulary). It is cut into
 * n_tokens / ctx chunks of ctx tokens (the tail is dropped); each chunk is
 * evaluated from scratch with its first token replaced by BOS, and only the
 * second half is scored: the tokens at chunk positions ctx/2+1 .. ctx-1.
 * PPL = exp(mean nll), its ± = PPL * sqrt((mean(nll²) - mean(nll)²)/(count-1)).
 * Bits per byte = Σ nll / ln 2 / the UTF-8 bytes of the scored tokens. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../runners/transformer/compute/forward.h"
#include "../runners/transformer/formats/model.h"
#include "cli_args.h"
#include "commands.h"

/* Tokens per fwd_score call when chunks are short: several chunks share one
 * batch of matrix products. */
#define BATCH_TOKENS 512

static void usage(FILE *f) {
    fputs("usage: chaejeom perplexity -m MODEL [--tokenizer PATH] -f FILE [--ctx N] [--json] [-t N]\n\n"
          "Perplexity of FILE as llama.cpp's llama-perplexity computes it: chunks of N tokens, each\n"
          "starting with BOS, scored on their second half; prints the running PPL per chunk, the final\n"
          "PPL with its standard error, bits per byte and token counts.\n\n"
          "  -m, --model MODEL   .gguf file, HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH    tokenizer.json or llama2.c tokenizer.bin (required for .bin models)\n"
          "  -f, --file FILE     the text (gzip is inflated)\n"
          "  -c, --ctx N         chunk length in tokens (default 512; the file needs 2*N tokens)\n"
          "  -t, --threads N     threads (default: all cores)\n"
          "  --json              one JSON object instead of text\n",
          f);
}

typedef struct {
    double nll, nll2;  /* sums over scored tokens */
    long count;        /* tokens scored */
    long bytes;        /* their UTF-8 bytes */
    double *running;   /* [n_chunk] running PPL after each chunk */
} ppl_acc;

/* Scores chunks [c0, c1) in one fwd_score call and accumulates them. */
static int score_chunks(fwd *f, const tokenizer *t, const int *tokens, int ctx, int c0, int c1, int bos,
                        ppl_acc *acc, cj_err *e) {
    int first = ctx / 2, n_scored = ctx - first - 1, nc = c1 - c0;
    int *buf = cj_xmalloc((size_t)nc * (size_t)ctx * sizeof *buf);
    float *lp = cj_xmalloc((size_t)nc * (size_t)n_scored * sizeof *lp);
    fwd_seq *seqs = cj_xcalloc((size_t)nc, sizeof *seqs);
    for (int k = 0; k < nc; k++) {
        int *chunk = buf + (size_t)k * ctx;
        memcpy(chunk, tokens + (size_t)(c0 + k) * ctx, (size_t)ctx * sizeof *chunk);
        if (bos >= 0) chunk[0] = bos;
        seqs[k] = (fwd_seq){.tokens = chunk, .n_tokens = ctx, .score_from = first + 1,
                            .logprobs = lp + (size_t)k * n_scored, .argmax = NULL};
    }
    int rc = fwd_score(f, seqs, nc, e);
    sb piece;
    sb_init(&piece);
    for (int k = 0; k < nc && !rc; k++) {
        const int *orig = tokens + (size_t)(c0 + k) * ctx;
        for (int j = 0; j < n_scored; j++) {
            double nll = -(double)seqs[k].logprobs[j];
            acc->nll += nll;
            acc->nll2 += nll * nll;
            sb_clear(&piece);
            tok_decode(t, orig + first + 1 + j, 1, 0, &piece);
            acc->bytes += (long)piece.len;
        }
        acc->count += n_scored;
        acc->running[c0 + k] = exp(acc->nll / (double)acc->count);
    }
    sb_free(&piece);
    free(seqs);
    free(lp);
    free(buf);
    return rc;
}

static void print_result(const ppl_acc *acc, int n_chunk, int n_tokens, int ctx, int json) {
    double mean = acc->nll / (double)acc->count, ppl = exp(mean);
    double var = acc->nll2 / (double)acc->count - mean * mean;
    double se = var > 0 && acc->count > 1 ? ppl * sqrt(var / (double)(acc->count - 1)) : 0;
    double bpb = acc->bytes ? acc->nll / log(2.0) / (double)acc->bytes : 0;
    if (json) {
        json_t *root = json_object(), *run = json_array();
        for (int k = 0; k < n_chunk; k++) json_array_append_new(run, json_real(acc->running[k]));
        json_object_set_new(root, "ppl", json_real(ppl));
        json_object_set_new(root, "ppl_stderr", json_real(se));
        json_object_set_new(root, "nll_mean", json_real(mean));
        json_object_set_new(root, "bits_per_byte", json_real(bpb));
        json_object_set_new(root, "running_ppl", run);
        json_object_set_new(root, "ctx", json_integer(ctx));
        json_object_set_new(root, "n_chunks", json_integer(n_chunk));
        json_object_set_new(root, "n_tokens", json_integer(n_tokens));
        json_object_set_new(root, "n_scored", json_integer(acc->count));
        json_object_set_new(root, "n_bytes_scored", json_integer(acc->bytes));
        char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
        puts(s);
        free(s);
        json_decref(root);
        return;
    }
    for (int k = 0; k < n_chunk; k++) printf("[%d]%.4f,", k + 1, acc->running[k]);
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, se);
    printf("bits per byte = %.5f over %ld bytes; %ld of %d tokens scored in %d chunks of %d\n", bpb, acc->bytes,
           acc->count, n_tokens, n_chunk, ctx);
}

static int run(const char *model_path, const char *tok_path, const char *file, int ctx, int threads, int json,
               cj_err *e) {
    char *text = NULL;
    size_t len = 0;
    model *m = NULL;
    fwd *f = NULL;
    int *tokens = NULL, n_tokens = 0, rc = -1;
    ppl_acc acc = {0};
    if (cj_read_file(file, &text, &len, e) || model_load(model_path, tok_path, &m, e)) goto done;
    int add_bos = tok_add_bos(m->tok) && tok_bos(m->tok) >= 0;
    if (tok_encode(m->tok, text, len, add_bos, &tokens, &n_tokens, e)) goto done;
    if (n_tokens < 2 * ctx) {
        cj_fail(e, "%s: %d tokens; perplexity with --ctx %d needs at least %d", file, n_tokens, ctx, 2 * ctx);
        goto done;
    }
    int n_chunk = n_tokens / ctx, per_call = ctx >= BATCH_TOKENS ? 1 : BATCH_TOKENS / ctx;
    if (fwd_new(m, threads, per_call * ctx, &f, e)) goto done;
    acc.running = cj_xcalloc((size_t)n_chunk, sizeof *acc.running);
    for (int c = 0; c < n_chunk; c += per_call) {
        int c1 = c + per_call < n_chunk ? c + per_call : n_chunk;
        if (score_chunks(f, m->tok, tokens, ctx, c, c1, add_bos ? tok_bos(m->tok) : -1, &acc, e)) goto done;
    }
    print_result(&acc, n_chunk, n_tokens, ctx, json);
    rc = 0;
done:
    free(acc.running);
    fwd_free(f);
    free(tokens);
    model_free(m);
    free(text);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *file = NULL;
    int ctx = 512, threads = 0, json = 0;
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
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            file = argv[++i];
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx")) && has_val) {
            if (cli_parse_int(argv[++i], 4, 1 << 20, &ctx)) {
                fprintf(stderr, "chaejeom perplexity: --ctx wants an integer 4..%d, got '%s'\n", 1 << 20, argv[i]);
                return 2;
            }
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            if (cli_parse_int(argv[++i], 0, 1024, &threads)) {
                fprintf(stderr, "chaejeom perplexity: -t wants an integer 0..1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "chaejeom perplexity: unknown argument or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !file) {
        fprintf(stderr, "chaejeom perplexity: need -m MODEL and -f FILE\n");
        usage(stderr);
        return 2;
    }
    cj_err e;
    if (run(model_path, tok_path, file, ctx, threads, json, &e)) {
        fprintf(stderr, "chaejeom perplexity: %s\n", e.msg);
        return 2;
    }
    return 0;
}
