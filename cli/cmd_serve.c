/* chaejeom serve — an OpenAI-compatible HTTP server over the local model. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../serve/serve_http.h"
#include "chat_flags.h"
#include "cli_args.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom serve -m MODEL [--tokenizer PATH] [--host ADDR] [--port N] [--model-name NAME]\n"
          "                      [--add-bos] [--chat-template FILE] [--chat-date YYYY-MM-DD] [--kv-budget MB] [-t N]\n\n"
          "Serves the local model over HTTP with vLLM's API: POST /v1/completions (echo, logprobs,\n"
          "prompt_logprobs, token-id prompts, stop, max_tokens, temperature, top_p, seed, stream),\n"
          "POST /v1/chat/completions (the model's chat template), GET /v1/models,\n"
          "POST /tokenize, POST /detokenize, GET /tokenizer_info, GET /health. Concurrent requests\n"
          "share forward calls. Stops on SIGINT or SIGTERM.\n\n"
          "  -m, --model MODEL   .gguf file, HF folder, or llama2.c .bin\n"
          "  --tokenizer PATH    tokenizer.json or llama2.c tokenizer.bin (required for .bin models)\n"
          "  --host ADDR         address to listen on (default 127.0.0.1: this machine only)\n"
          "  --port N            port (default 8080; 0: any free port)\n"
          "  --model-name NAME   the model's name in /v1/models and replies (default: the file's name)\n"
          "  --add-bos           score token-id prompts after a BOS when they lack one (not echoed),\n"
          "                      as `chaejeom run` does; for lm-eval's remote tokenizer, which sends none\n"
          "  --chat-template FILE  the chat template /v1/chat/completions renders (default: the model's)\n"
          "  --chat-date D       what the template's strftime_now() sees (default: today, UTC)\n"
          "  --kv-budget MB      bound the KV cache plus a batch's activations (default: none)\n"
          "  -t, --threads N     threads (default: all cores)\n"
          "The first line on stdout is 'listening on http://HOST:PORT/v1'.\n",
          f);
}

static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--; /* an HF folder given as dir/ */
    const char *s = p + n;
    while (s > p && s[-1] != '/') s--;
    return s;
}

static int parse_args(int argc, char **argv, runner_opts *ro, serve_http_opts *ho, int *add_bos, chat_flags *cf) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            ro->model_path = argv[++i];
        } else if (!strcmp(a, "--tokenizer") && has_val) {
            ro->tokenizer_path = argv[++i];
        } else if (!strcmp(a, "--host") && has_val) {
            ho->host = argv[++i];
        } else if (!strcmp(a, "--chat-template") && has_val) {
            cf->template_file = argv[++i];
        } else if (!strcmp(a, "--chat-date") && has_val) {
            cf->date = argv[++i];
        } else if (!strcmp(a, "--add-bos")) {
            *add_bos = 1;
        } else if (!strcmp(a, "--model-name") && has_val) {
            ho->model_name = argv[++i];
        } else if (!strcmp(a, "--port") && has_val) {
            if (cli_parse_int(argv[++i], 0, 65535, &ho->port)) return fprintf(stderr, "chaejeom serve: --port wants 0..65535, got '%s'\n", argv[i]), -1;
        } else if (!strcmp(a, "--kv-budget") && has_val) {
            if (cli_parse_int(argv[++i], 1, 1 << 20, &ro->kv_budget_mb))
                return fprintf(stderr, "chaejeom serve: --kv-budget wants MiB 1..1048576, got '%s'\n", argv[i]), -1;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            if (cli_parse_int(argv[++i], 0, 1024, &ro->threads)) return fprintf(stderr, "chaejeom serve: -t wants 0..1024, got '%s'\n", argv[i]), -1;
        } else {
            fprintf(stderr, "chaejeom serve: unknown argument or missing value: %s\n", a);
            return -1;
        }
    }
    if (!ro->model_path) return fprintf(stderr, "chaejeom serve: need -m MODEL\n"), -1;
    if (!ho->model_name) ho->model_name = base_name(ro->model_path);
    return 0;
}

/* The template /v1/chat/completions renders: a model without one (or a
 * template that does not compile) still serves everything else, and its
 * chat requests get a 400 that says why. A bad --chat-template FILE stops. */
static int setup_chat(chat_flags *cf, const char *model, serve_http_opts *ho, char *why, size_t n) {
    cj_err e;
    const task_chat *tc;
    if (chat_flags_setup(cf, model, &tc, &e) == 0) {
        ho->chat = tc;
        return 0;
    }
    if (cf->template_file) return fprintf(stderr, "chaejeom serve: --chat-template: %s\n", e.msg), -1;
    snprintf(why, n, "/v1/chat/completions: no chat template (%.500s); start serve with --chat-template FILE", e.msg);
    ho->no_chat = why;
    return 0;
}

/* Why: every connection has its own thread, and glibc gives threads arenas
 * of their own (up to 8 per core), each keeping the memory freed in it. With
 * 32 clients (bench/serve_soak.sh) RSS crept ~0.4-0.5 MiB a minute with ~3.7
 * MiB free in the arenas against ~0.8 MiB in use (mallinfo2 at stop); a
 * fixed mmap threshold alone changed nothing; one arena with it cut the
 * creep to about a third (what is left is the brk heap's top, moving with
 * fragmentation), at no measurable cost in requests/s: the connection
 * threads only parse and write JSON. MALLOC_ARENA_MAX and
 * MALLOC_MMAP_THRESHOLD_ in the environment still win. */
static void malloc_setup(void) {
    if (!getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 1);
    if (!getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 128 << 10);
}

static int serve_main(runner_opts *ro, serve_http_opts *ho, int add_bos, chat_flags *cf) {
    char why[700];
    if (setup_chat(cf, ro->model_path, ho, why, sizeof why)) return 2;
    malloc_setup();
    /* Blocked before the server's thread starts, so that only sigwait below takes them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    cj_err e;
    serve_engine *s;
    serve_http *h;
    if (serve_engine_open(ro, &s, &e)) {
        fprintf(stderr, "chaejeom serve: %s\n", e.msg);
        return 2;
    }
    serve_engine_set_add_bos(s, add_bos);
    if (serve_http_start(s, ho, &h, &e)) {
        fprintf(stderr, "chaejeom serve: %s\n", e.msg);
        serve_engine_free(s);
        return 2;
    }
    printf("listening on http://%s:%d/v1 (model %s)\n", ho->host, serve_http_port(h), ho->model_name);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    serve_http_stop(h);
    long calls, jobs;
    serve_engine_stats(s, &calls, &jobs);
    fprintf(stderr, "chaejeom serve: stopped; %ld scoring calls folded into %ld forward calls\n", jobs, calls);
    /* What malloc holds: in use, and free but kept in its arenas (RSS that is not data). */
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "chaejeom serve: heap %zu KiB in use, %zu KiB free in malloc's arenas, %zu KiB mmapped\n",
            mi.uordblks >> 10, mi.fordblks >> 10, mi.hblkhd >> 10);
    serve_engine_free(s);
    return 0;
}

int cmd_serve(int argc, char **argv) {
    runner_opts ro = {0};
    serve_http_opts ho = {.host = "127.0.0.1", .port = 8080};
    int add_bos = 0;
    chat_flags cf = {.apply = 1};
    if (parse_args(argc, argv, &ro, &ho, &add_bos, &cf)) {
        usage(stderr);
        return 2;
    }
    int rc = serve_main(&ro, &ho, add_bos, &cf);
    chat_flags_free(&cf);
    return rc;
}
