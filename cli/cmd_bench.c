/* chaejeom bench — llama-bench-style synthetic speed test of the forward
 * pass, stored in the results database.
 *
 * Two tests, as llama-bench runs them: pp<P> pushes P tokens through the
 * model in one go (prompt processing, in batches of --batch tokens), tg<G>
 * decodes G tokens one at a time from an empty cache (generation). Tokens
 * are seeded pseudo-random ids after BOS, so the work does not depend on
 * any text. One untimed warm-up of each test, then REPS timed repetitions;
 * tokens/s is reported as mean ± sample standard deviation over the
 * repetitions. The row (machine CPU model, threads, harness commit, model
 * sha256, parameters, the seconds of every repetition) goes to the bench
 * table so that numbers from different commits line up. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "../runners/transformer/compute/forward.h"
#include "../runners/transformer/formats/model.h"
#include "../common/version.h"
#include "commands.h"
#include "../harness/run.h"
#include "../metrics/stats.h"
#include "../store/store.h"

#define MAX_TOKENS (1 << 20)

static void usage(FILE *f) {
    fputs("usage: chaejeom bench -m MODEL [--tokenizer PATH] [-t N] [--prompt-tokens P] [--gen-tokens G]\n"
          "                      [--batch B] [-r REPS] [--db FILE] [--json]\n\n"
          "Measures the forward pass as llama-bench does: pp<P> (P tokens in one go) and tg<G> (G\n"
          "tokens one at a time), one warm-up then REPS repetitions; prints tokens/s as mean ± stddev\n"
          "and stores the result, with the CPU model, threads and harness commit, in the database.\n\n"
          "  -m, --model MODEL     .gguf file, HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH      tokenizer file (required for llama2.c .bin models)\n"
          "  -t, --threads N       threads (default: all cores)\n"
          "  --prompt-tokens P     tokens of the prompt-processing test (default 512; 0 skips it)\n"
          "  --gen-tokens G        tokens of the generation test (default 128; 0 skips it)\n"
          "  --batch B             tokens per forward batch in prompt processing (default: the runner's)\n"
          "  -r, --reps REPS       timed repetitions (default 5)\n"
          "  --db FILE             results database (default chaejeom.db)\n"
          "  --json                print the stored row as JSON instead of a table\n",
          f);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The CPU's model name from /proc/cpuinfo ("model name", else the first of
 * "Hardware", "Processor", "cpu model"), else "unknown". */
static void cpu_model(char *buf, size_t n) {
    static const char *const keys[] = {"model name", "Hardware", "Processor", "cpu model"};
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    int best = (int)(sizeof keys / sizeof keys[0]);
    while (fgets(line, sizeof line, f)) {
        for (int k = 0; k < best; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(line, keys[k], kl) || !strchr(line + kl, ':')) continue;
            const char *v = strchr(line + kl, ':') + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t l = strcspn(v, "\r\n");
            if (!l) continue;
            snprintf(buf, n, "%.*s", (int)l, v);
            best = k;
            break;
        }
    }
    fclose(f);
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "chaejeom bench: %s: expected an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

typedef struct {
    const char *model, *tokenizer, *db;
    int threads, prompt_tokens, gen_tokens, batch, reps, json;
} args;

/* 0 to go on, 1 after --help, 2 on bad usage. */
static int parse_args(int argc, char **argv, args *a) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(arg, "--json")) {
            a->json = 1;
            continue;
        }
        char name[64];
        const char *val = NULL, *eq = strchr(arg, '=');
        if (!strncmp(arg, "--", 2) && eq && (size_t)(eq - arg) < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
            if (i + 1 < argc) val = argv[++i];
        }
        if (!val) {
            fprintf(stderr, "chaejeom bench: %s needs a value\n", name);
            return 2;
        }
        int bad = 0;
        if (!strcmp(name, "-m") || !strcmp(name, "--model")) a->model = val;
        else if (!strcmp(name, "--tokenizer")) a->tokenizer = val;
        else if (!strcmp(name, "--db")) a->db = val;
        else if (!strcmp(name, "-t") || !strcmp(name, "--threads")) bad = parse_int(name, val, 0, 4096, &a->threads);
        else if (!strcmp(name, "--prompt-tokens")) bad = parse_int(name, val, 0, MAX_TOKENS, &a->prompt_tokens);
        else if (!strcmp(name, "--gen-tokens")) bad = parse_int(name, val, 0, MAX_TOKENS, &a->gen_tokens);
        else if (!strcmp(name, "--batch")) bad = parse_int(name, val, 0, 1 << 16, &a->batch);
        else if (!strcmp(name, "-r") || !strcmp(name, "--reps")) bad = parse_int(name, val, 1, 10000, &a->reps);
        else {
            fprintf(stderr, "chaejeom bench: unknown option '%s' (see chaejeom bench --help)\n", name);
            return 2;
        }
        if (bad) return 2;
    }
    if (!a->model) {
        fprintf(stderr, "chaejeom bench: -m MODEL is required (see chaejeom bench --help)\n");
        return 2;
    }
    if (!a->prompt_tokens && !a->gen_tokens) {
        fprintf(stderr, "chaejeom bench: --prompt-tokens and --gen-tokens are both 0: nothing to measure\n");
        return 2;
    }
    return 0;
}

/* n token ids: BOS (when the vocabulary has one), then seeded random ids. */
static int *synthetic_tokens(const model *m, int n) {
    int *t = cj_xmalloc(sizeof *t * (size_t)(n ? n : 1));
    cj_rng r;
    cj_rng_seed(&r, 1234);
    int bos = tok_bos(m->tok);
    for (int i = 0; i < n; i++)
        t[i] = i == 0 && bos >= 0 ? bos : (int)cj_rng_below(&r, (uint64_t)m->hp.vocab_size);
    return t;
}

/* One run of a test: seconds in *sec. pp pushes all n tokens at once; tg
 * pushes them one by one, reading the logits after each as a decoder does. */
static int run_test(fwd *f, const int *tokens, int n, int one_by_one, float *logits, double *sec, cj_err *e) {
    fwd_reset(f);
    double t0 = now_s();
    if (one_by_one) {
        for (int i = 0; i < n; i++)
            if (fwd_push(f, tokens + i, 1, logits, e)) return -1;
    } else if (fwd_push(f, tokens, n, logits, e)) {
        return -1;
    }
    *sec = now_s() - t0;
    return 0;
}

/* Warm-up, then reps timed runs: the seconds of each in sec[reps]; mean and
 * sample stddev of tokens/s. */
static int measure(fwd *f, const int *tokens, int n, int one_by_one, int reps, float *logits, double *sec,
                   double *mean, double *sd, cj_err *e) {
    double warm;
    if (run_test(f, tokens, n, one_by_one, logits, &warm, e)) return -1;
    double *tps = cj_xmalloc(sizeof *tps * (size_t)reps);
    int rc = 0;
    for (int r = 0; r < reps && !rc; r++) {
        rc = run_test(f, tokens, n, one_by_one, logits, &sec[r], e);
        tps[r] = sec[r] > 0 ? n / sec[r] : NAN;
    }
    if (!rc) {
        *mean = stats_mean(tps, reps);
        /* stats_stderr is sd / sqrt(n): undo the division */
        *sd = reps > 1 ? stats_stderr(tps, reps) * sqrt((double)reps) : NAN;
    }
    free(tps);
    return rc;
}

static json_t *seconds_json(const double *sec, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(sec[i]));
    return a;
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static void print_table(const store_bench *b, const char *label, int64_t id) {
    char params[32];
    if (b->model_params >= 1000000000) snprintf(params, sizeof params, "%.2f B", b->model_params / 1e9);
    else if (b->model_params >= 1000000) snprintf(params, sizeof params, "%.2f M", b->model_params / 1e6);
    else snprintf(params, sizeof params, "%.1f K", b->model_params / 1e3);
    int wm = (int)strlen(label) > 5 ? (int)strlen(label) : 5;
    printf("%-*s  %10s  %-6s  %7s  %5s  %-8s  %22s\n", wm, "model", "params", "dtype", "threads", "batch", "test",
           "tokens/s");
    const char *tests[2] = {"pp", "tg"};
    int toks[2] = {b->prompt_tokens, b->gen_tokens};
    double mean[2] = {b->pp_tok_s, b->tg_tok_s}, sd[2] = {b->pp_tok_s_sd, b->tg_tok_s_sd};
    for (int k = 0; k < 2; k++) {
        if (!toks[k]) continue;
        char test[32], v[64];
        snprintf(test, sizeof test, "%s%d", tests[k], toks[k]);
        if (isnan(sd[k])) snprintf(v, sizeof v, "%.2f", mean[k]);
        else snprintf(v, sizeof v, "%.2f ± %.2f", mean[k], sd[k]);
        printf("%-*s  %10s  %-6s  %7d  %5d  %-8s  %22s\n", wm, label, params, b->model_dtype ? b->model_dtype : "?",
               b->threads, b->batch, test, v);
    }
    printf("\nbench %lld: %d repetitions after a warm-up; cpu %s; commit %.12s; model sha256 %.16s…\n", (long long)id,
           b->reps, b->cpu, b->git_commit, b->model_sha256);
}

int cmd_bench(int argc, char **argv) {
    args a = {.db = "chaejeom.db", .prompt_tokens = 512, .gen_tokens = 128, .reps = 5};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : 2;
    rc = 2;
    cj_err e;
    model *m = NULL;
    fwd *f = NULL;
    store *s = NULL;
    int *pp_tok = NULL, *tg_tok = NULL;
    float *logits = NULL;
    double *pp_sec = cj_xcalloc((size_t)a.reps, sizeof *pp_sec), *tg_sec = cj_xcalloc((size_t)a.reps, sizeof *tg_sec);
    char tok_sha[65];
    if (a.tokenizer && cj_sha256_file(a.tokenizer, tok_sha, &e)) goto fail;
    if (model_load(a.model, a.tokenizer, &m, &e)) goto fail;
    if (a.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a.threads = n > 0 ? (int)n : 1;
    }
    if (fwd_new(m, a.threads, a.batch, &f, &e)) goto fail;
    if (store_open(a.db, &s, &e)) goto fail;
    logits = cj_xmalloc(sizeof *logits * (size_t)m->hp.vocab_size);
    pp_tok = synthetic_tokens(m, a.prompt_tokens);
    tg_tok = synthetic_tokens(m, a.gen_tokens);
    char host[256], cpu[256];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    cpu_model(cpu, sizeof cpu);
    store_bench b = {
        .host = host,
        .cpu = cpu,
        .threads = a.threads,
        .harness_version = CJ_VERSION,
        .git_commit = run_git_commit(),
        .model_path = m->path,
        .model_sha256 = m->sha256,
        .model_format = m->format,
        .model_dtype = m->dtype,
        .tokenizer_sha256 = a.tokenizer ? tok_sha : NULL,
        .model_params = m->n_params,
        .prompt_tokens = a.prompt_tokens,
        .gen_tokens = a.gen_tokens,
        .batch = fwd_batch_tokens(f),
        .reps = a.reps,
        .pp_tok_s = NAN,
        .pp_tok_s_sd = NAN,
        .tg_tok_s = NAN,
        .tg_tok_s_sd = NAN,
    };
    if (a.prompt_tokens &&
        measure(f, pp_tok, a.prompt_tokens, 0, a.reps, logits, pp_sec, &b.pp_tok_s, &b.pp_tok_s_sd, &e))
        goto fail;
    if (a.gen_tokens && measure(f, tg_tok, a.gen_tokens, 1, a.reps, logits, tg_sec, &b.tg_tok_s, &b.tg_tok_s_sd, &e))
        goto fail;
    b.peak_rss_bytes = run_peak_rss_bytes();
    json_t *res = json_pack("{s:o, s:o}", "pp_s", a.prompt_tokens ? seconds_json(pp_sec, a.reps) : json_array(),
                            "tg_s", a.gen_tokens ? seconds_json(tg_sec, a.reps) : json_array());
    char *res_txt = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (!res_txt) abort();
    b.results = res_txt;
    int64_t id;
    int bad = store_bench_insert(s, &b, &id, &e);
    free(res_txt);
    if (bad) goto fail;
    if (a.json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:i, s:s, s:s?, s:s?, s:s, s:s?, s:I, s:i, s:i, s:i, s:i}", "id",
                              (json_int_t)id, "host", host, "cpu", cpu, "threads", a.threads, "harness_version",
                              CJ_VERSION, "git_commit", b.git_commit, "model_path", b.model_path, "model_sha256",
                              b.model_sha256, "model_dtype", b.model_dtype, "model_params", (json_int_t)b.model_params,
                              "prompt_tokens", a.prompt_tokens, "gen_tokens", a.gen_tokens, "batch", b.batch, "reps",
                              a.reps);
        if (!o) abort();
        json_object_set_new(o, "pp_tok_s", num_or_null(b.pp_tok_s));
        json_object_set_new(o, "pp_tok_s_sd", num_or_null(b.pp_tok_s_sd));
        json_object_set_new(o, "tg_tok_s", num_or_null(b.tg_tok_s));
        json_object_set_new(o, "tg_tok_s_sd", num_or_null(b.tg_tok_s_sd));
        json_object_set_new(o, "pp_s", a.prompt_tokens ? seconds_json(pp_sec, a.reps) : json_array());
        json_object_set_new(o, "tg_s", a.gen_tokens ? seconds_json(tg_sec, a.reps) : json_array());
        json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)b.peak_rss_bytes));
        char *txt = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (!txt) abort();
        puts(txt);
        free(txt);
    } else {
        const char *slash = strrchr(a.model, '/');
        print_table(&b, slash && slash[1] ? slash + 1 : a.model, id);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "chaejeom bench: %s\n", e.msg);
out:
    store_close(s);
    fwd_free(f);
    model_free(m);
    free(pp_tok);
    free(tg_tok);
    free(logits);
    free(pp_sec);
    free(tg_sec);
    return rc;
}
