/* chaejeom generate — text from a prompt through the local runner. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sb.h"
#include "../runners/runner.h"
#include "commands.h"

#define MAX_STOPS 16

static void usage(FILE *f) {
    fputs("usage: chaejeom generate -m MODEL [--tokenizer PATH] [--prompt TEXT] [-n N] [--temperature T]\n"
          "                         [--top-p P] [--seed S] [--stop STR]... [-t N]\n\n"
          "Generates up to N tokens after the prompt (from BOS when the prompt is empty) and prints\n"
          "the generated text exactly as decoded, without a trailing newline.\n\n"
          "  -m, --model MODEL   .gguf file, HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH    tokenizer.json or llama2.c tokenizer.bin (required for .bin models)\n"
          "  --prompt TEXT       the context (default: empty)\n"
          "  -n N                tokens to generate at most (default 256)\n"
          "  --temperature T     0 = greedy, deterministic (default 0)\n"
          "  --top-p P           nucleus sampling mass, 1 = off (default 1)\n"
          "  --seed S            sampling seed (default 0; same seed, same text)\n"
          "  --stop STR          stop before the first occurrence of STR (repeatable)\n"
          "  -t, --threads N     threads (default: all cores)\n",
          f);
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = (float)v;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    runner_opts opts = {0};
    runner_gen_item item = {.context = "", .max_tokens = 256, .temperature = 0, .top_p = 1, .seed = 0};
    const char *stops[MAX_STOPS];
    int n_stops = 0;
    /* Every option takes a value: step over pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!v) {
            bad = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            opts.model_path = v;
        } else if (!strcmp(a, "--tokenizer")) {
            opts.tokenizer_path = v;
        } else if (!strcmp(a, "--prompt")) {
            item.context = v;
        } else if (!strcmp(a, "-n")) {
            bad = parse_long(v, 0, 1 << 24, &l);
            item.max_tokens = (int)l;
        } else if (!strcmp(a, "--temperature")) {
            bad = parse_float(v, 0, 100, &item.temperature);
        } else if (!strcmp(a, "--top-p")) {
            bad = parse_float(v, 0, 1, &item.top_p) || item.top_p <= 0;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            item.seed = strtoull(v, &end, 10);
            bad = errno || end == v || *end || *v == '-';
        } else if (!strcmp(a, "--stop")) {
            if (n_stops == MAX_STOPS) {
                fprintf(stderr, "chaejeom generate: at most %d --stop strings\n", MAX_STOPS);
                return 2;
            }
            bad = !*v;
            stops[n_stops++] = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            bad = parse_long(v, 0, 1024, &l);
            opts.threads = (int)l;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "chaejeom generate: bad argument or value: %s%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    if (!opts.model_path) {
        fprintf(stderr, "chaejeom generate: need -m MODEL\n");
        usage(stderr);
        return 2;
    }
    item.until = stops;
    item.n_until = n_stops;
    cj_err e;
    runner *r = runner_local_open(&opts, &e);
    if (!r) {
        fprintf(stderr, "chaejeom generate: %s\n", e.msg);
        return 2;
    }
    runner_gen_result res = {0};
    runner_timing timing = {0};
    int rc = 0;
    if (runner_generate(r, &item, 1, &res, &timing, &e)) {
        fprintf(stderr, "chaejeom generate: %s\n", e.msg);
        rc = 2;
    } else {
        fwrite(res.text, 1, strlen(res.text), stdout);
        fflush(stdout);
    }
    free(res.text);
    runner_free(r);
    return rc;
}
