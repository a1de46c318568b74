/* chaejeom run — evaluate a model on tasks and store everything in the database. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "chat_flags.h"
#include "commands.h"
#include "http_args.h"
#include "../harness/run.h"
#include "../metrics/stats.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: chaejeom run -m MODEL --tasks LIST [options]\n"
            "\n"
            "Scores MODEL on the tasks and stores docs, per-choice log-likelihoods or generations,\n"
            "metrics and latency in the database; prints the results table and the run id.\n"
            "\n"
            "  -m, --model PATH       .gguf file, HF folder, or llama2.c .bin\n"
            "      --tokenizer PATH   tokenizer file (llama2.c tokenizer.bin or tokenizer.json)\n"
            "      --tasks LIST       comma-separated tasks, groups or globs (e.g. mmlu,arc_*)\n"
            "      --shots K          few-shot examples per prompt (default: each task's own)\n"
            "      --limit N          a seeded random sample of N docs per task (default: all)\n"
            "      --seed S           seed for sampling and bootstrap (default 1234)\n"
            "      --batch N          docs per runner call (default 32)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "      --no-prefix-cache  compute every request in full (same results, slower)\n"
            "      --kv-budget MB     bound the KV cache plus one batch's activations (default: none)\n"
            "      --gen-batch N      answers generated together, at most (default 64; a call holds\n"
            "                         --batch docs; 1 = one at a time; the texts are the same)\n"
            "      --kernels K        weight products: own (default; the same bits on every machine)\n"
            "                         or openblas (OpenBLAS's sgemm; last bits depend on the CPU)\n"
            "      --db FILE          results database (default chaejeom.db)\n"
            "      --data-dir DIR     datasets root (default: <assets>/datasets)\n"
            "      --tasks-dir DIR    task definitions (default: the built-in ones)\n"
            "      --tag KEY=VALUE    label the run (repeatable)\n"
            "      --resume ID        continue run ID (it must have the same configuration)\n"
            "      --no-resume        start a new run even if an unfinished one matches\n"
            "      --bootstrap N      resamples for stderrs without a closed form (default %d)\n"
            "      --confidence-threshold P\n"
            "                         confident_error_rate counts wrong answers with p >= P (default 0.9)\n"
            "generation (generate_until tasks; each overrides the task's own setting):\n"
            "      --max-gen-tokens N at most N tokens per answer\n"
            "      --temperature T    0 = greedy (the default of the built-in tasks); > 0 samples\n"
            "      --top-p P          nucleus sampling, in (0, 1]\n"
            "      --gen-seed S       sampling seed (default: the task's, else --seed)\n"
            "instruction-tuned models (lm-eval's --apply_chat_template, --system_instruction,\n"
            "--fewshot_as_multiturn; they join the run's identity):\n" CHAT_FLAGS_HELP
            "  -q, --quiet            no progress report\n"
            "\n"
            "An unfinished run with the same model, tasks, shots, limit, seed and data is resumed\n"
            "automatically. Ctrl-C finishes the batch in flight, marks the run interrupted and\n"
            "exits 130 (143 on SIGTERM).\n",
            STATS_BOOTSTRAP_ITERS);
    http_args_usage(f);
}

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* A second Ctrl-C gets the default action: an immediate exit. */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Parses a decimal integer in [lo, hi]; -1 with a message on error. */
static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "chaejeom run: %s: expected an integer in [%" PRId64 ", %" PRId64 "], got '%s'\n", opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a number in [lo, hi]; -1 with a message on error. */
static int parse_real(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "chaejeom run: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct {
    const char *model, *tokenizer, *db, *data_dir, *tasks_dir;
    int quiet, no_prefix_cache, kv_budget_mb, gen_batch;
    const char *kernels; /* NULL: the runner's default (own) */
    run_opts run;
    runner_http_opts http;
    chat_flags chat;
    const char **tag_keys, **tag_values;
    int n_tags;
} args;

/* Returns 0 to go on, 1 after --help, 2 on bad usage. */
static int parse_args(int argc, char **argv, args *a) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(arg, "--no-resume")) {
            a->run.no_resume = 1;
            continue;
        }
        if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet")) {
            a->quiet = 1;
            continue;
        }
        if (!strcmp(arg, "--stream")) {
            a->http.stream = 1;
            continue;
        }
        if (!strcmp(arg, "--no-prefix-cache")) {
            a->no_prefix_cache = 1;
            continue;
        }
        int took = chat_flags_parse(&a->chat, argc, argv, &i, "run");
        if (took) {
            if (took < 0) return 2;
            continue;
        }
        /* Every other option takes a value: "--opt value" or "--opt=value". */
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
            fprintf(stderr, "chaejeom run: %s needs a value\n", name);
            return 2;
        }
        int64_t v;
        int h = http_args_take(name, val, &a->http);
        if (h) {
            if (h < 0) return 2;
        } else if (!strcmp(name, "-m") || !strcmp(name, "--model")) a->model = val;
        else if (!strcmp(name, "--tokenizer")) a->tokenizer = val;
        else if (!strcmp(name, "--tasks")) a->run.tasks = val;
        else if (!strcmp(name, "--db")) a->db = val;
        else if (!strcmp(name, "--data-dir")) a->data_dir = val;
        else if (!strcmp(name, "--tasks-dir")) a->tasks_dir = val;
        else if (!strcmp(name, "--shots")) {
            if (parse_i64(name, val, 0, 1000, &v)) return 2;
            a->run.shots = (int)v;
        } else if (!strcmp(name, "--limit")) {
            if (parse_i64(name, val, 1, INT_MAX, &v)) return 2;
            a->run.limit = (int)v;
        } else if (!strcmp(name, "--seed")) {
            if (parse_i64(name, val, 0, INT64_MAX, &v)) return 2;
            a->run.seed = (uint64_t)v;
        } else if (!strcmp(name, "--batch")) {
            if (parse_i64(name, val, 1, 1 << 20, &v)) return 2;
            a->run.batch = (int)v;
        } else if (!strcmp(name, "-t") || !strcmp(name, "--threads")) {
            if (parse_i64(name, val, 0, 4096, &v)) return 2;
            a->run.threads = (int)v;
        } else if (!strcmp(name, "--kernels")) {
            if (strcmp(val, "own") && strcmp(val, "openblas")) {
                fprintf(stderr, "chaejeom run: --kernels: expected own or openblas, got '%s'\n", val);
                return 2;
            }
            a->kernels = val;
        } else if (!strcmp(name, "--gen-batch")) {
            if (parse_i64(name, val, 1, 1 << 16, &v)) return 2;
            a->gen_batch = (int)v;
        } else if (!strcmp(name, "--kv-budget")) {
            if (parse_i64(name, val, 1, 1 << 24, &v)) return 2;
            a->kv_budget_mb = (int)v;
        } else if (!strcmp(name, "--resume")) {
            if (parse_i64(name, val, 1, INT64_MAX, &v)) return 2;
            a->run.resume_id = v;
        } else if (!strcmp(name, "--bootstrap")) {
            if (parse_i64(name, val, 2, 100000000, &v)) return 2;
            a->run.bootstrap_iters = (int)v;
        } else if (!strcmp(name, "--max-gen-tokens")) {
            if (parse_i64(name, val, 1, 1 << 20, &v)) return 2;
            a->run.max_gen_tokens = (int)v;
        } else if (!strcmp(name, "--temperature")) {
            if (parse_real(name, val, 0, 100, &a->run.temperature)) return 2;
        } else if (!strcmp(name, "--top-p")) {
            if (parse_real(name, val, 1e-9, 1, &a->run.top_p)) return 2;
        } else if (!strcmp(name, "--gen-seed")) {
            if (parse_i64(name, val, 0, INT64_MAX, &v)) return 2;
            a->run.gen_seed = (uint64_t)v;
            a->run.has_gen_seed = 1;
        } else if (!strcmp(name, "--confidence-threshold")) {
            if (parse_real(name, val, 0, 1, &a->run.confidence_threshold)) return 2;
        } else if (!strcmp(name, "--tag")) {
            const char *kv = strchr(val, '=');
            if (!kv || kv == val) {
                fprintf(stderr, "chaejeom run: --tag: expected KEY=VALUE, got '%s'\n", val);
                return 2;
            }
            a->tag_keys = cj_xrealloc(a->tag_keys, sizeof *a->tag_keys * (size_t)(a->n_tags + 1));
            a->tag_values = cj_xrealloc(a->tag_values, sizeof *a->tag_values * (size_t)(a->n_tags + 1));
            a->tag_keys[a->n_tags] = cj_xstrndup(val, (size_t)(kv - val));
            a->tag_values[a->n_tags++] = kv + 1;
        } else {
            fprintf(stderr, "chaejeom run: unknown option '%s' (see chaejeom run --help)\n", name);
            return 2;
        }
    }
    if (!a->model || !a->run.tasks) {
        fprintf(stderr, "chaejeom run: -m MODEL and --tasks LIST are required (see chaejeom run --help)\n");
        return 2;
    }
    return 0;
}

/* Once, at the end: text prompts leave the token boundary to the server,
 * and where one of its tokens spans the context's end the scores cannot be
 * lm-eval's (docs/models.md, "Grading a model on a server"). */
static void text_boundary_notice(runner *r) {
    long scored, spanned;
    runner_http_text_boundaries(r, &scored, &spanned);
    if (spanned > 0)
        fprintf(stderr,
                "chaejeom run: %ld of %ld choices scored as text had a server token spanning the end of the context: "
                "their continuation tokens are not lm-eval's; --tokenizer sends lm-eval's token ids\n",
                spanned, scored);
}

int cmd_run(int argc, char **argv) {
    args a = {.db = "chaejeom.db", .http = {.retries = -1}};
    run_opts_init(&a.run);
    int rc = parse_args(argc, argv, &a);
    char *data_dir = NULL, *tasks_dir = NULL;
    task_registry *reg = NULL;
    store *s = NULL;
    runner *r = NULL;
    cj_err e;
    if (rc) {
        rc = rc == 1 ? 0 : 2;
        goto out;
    }
    /* Past a file-size limit (ulimit -f) a database write then fails with
     * EFBIG and is reported like a full disk, instead of killing the run. */
    signal(SIGXFSZ, SIG_IGN);
    rc = 2;
    if (a.data_dir) {
        data_dir = cj_xstrdup(a.data_dir);
    } else {
        char *assets = cj_assets_dir();
        data_dir = cj_path_join(assets, "datasets");
        free(assets);
    }
    tasks_dir = a.tasks_dir ? cj_xstrdup(a.tasks_dir) : task_default_dir();
    char tok_sha[65];
    if (a.tokenizer && cj_sha256_file(a.tokenizer, tok_sha, &e)) goto fail;
    if (chat_flags_setup(&a.chat, a.model, &a.run.chat, &e)) goto fail;
    a.run.chat_hash = a.chat.hash;
    if (a.chat.uses_date) { /* the date the prompts were rendered with, recorded with the run */
        a.tag_keys = cj_xrealloc(a.tag_keys, sizeof *a.tag_keys * (size_t)(a.n_tags + 1));
        a.tag_values = cj_xrealloc(a.tag_values, sizeof *a.tag_values * (size_t)(a.n_tags + 1));
        a.tag_keys[a.n_tags] = cj_xstrdup("chat_date");
        a.tag_values[a.n_tags++] = a.chat.chat.date;
    }
    if (task_registry_load(tasks_dir, &reg, &e) || store_open(a.db, &s, &e)) goto fail;
    if (a.run.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a.run.threads = n > 0 ? (int)n : 1;
    }
    runner_opts ro = {.model_path = a.model, .tokenizer_path = a.tokenizer, .threads = a.run.threads,
                      .no_prefix_cache = a.no_prefix_cache, .kv_budget_mb = a.kv_budget_mb, .kernels = a.kernels,
                      .gen_batch = a.gen_batch, .chat_prompts = a.run.chat != NULL};
    a.http.urls = a.model;
    a.http.tokenizer_path = a.tokenizer;
    a.http.chat = a.run.chat && a.run.chat->as_messages;
    a.http.chat_prompts = a.run.chat && !a.run.chat->as_messages;
    r = http_args_is_url(a.model) ? runner_http_open(&a.http, &e) : runner_local_open(&ro, &e);
    if (!r) goto fail;

    a.run.data_dir = data_dir;
    a.run.tokenizer_sha256 = a.tokenizer ? tok_sha : NULL;
    a.run.tag_keys = a.tag_keys;
    a.run.tag_values = a.tag_values;
    a.run.n_tags = a.n_tags;
    a.run.progress = a.quiet ? NULL : stderr;
    a.run.log = stderr;
    a.run.stop = &g_stop;
    install_signals();
    run_result res;
    if (run_execute(r, reg, s, &a.run, &res, &e)) {
        if (res.run_id) fprintf(stderr, "chaejeom run: run %lld failed: %s\n", (long long)res.run_id, e.msg);
        else fprintf(stderr, "chaejeom run: %s\n", e.msg);
        goto out;
    }
    if (res.stopped) {
        fprintf(stderr, "chaejeom run: interrupted; run %lld keeps what was scored (resume: same command, or --resume %lld)\n",
                (long long)res.run_id, (long long)res.run_id);
        rc = g_stop == SIGTERM ? 143 : 130;
        goto out;
    }
    sb table;
    sb_init(&table);
    if (run_format_metrics(s, res.run_id, "table", &table, &e)) {
        sb_free(&table);
        goto fail;
    }
    fputs(table.s, stdout);
    sb_free(&table);
    printf("run %lld%s\n", (long long)res.run_id, res.resumed ? " (resumed)" : "");
    text_boundary_notice(r);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "chaejeom run: %s\n", e.msg);
out:
    runner_free(r);
    store_close(s);
    if (reg) task_registry_free(reg);
    free(data_dir);
    free(tasks_dir);
    for (int i = 0; i < a.n_tags; i++) free((void *)a.tag_keys[i]);
    free(a.tag_keys);
    free(a.tag_values);
    chat_flags_free(&a.chat);
    return rc;
}
