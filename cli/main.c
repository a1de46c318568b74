/* chaejeom — the command-line entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "../common/version.h"
#include "commands.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"run", cmd_run, "evaluate a model on tasks; results go to the database"},
    {"ls", cmd_ls, "list runs in the database"},
    {"show", cmd_show, "show one run's results"},
    {"compare", cmd_compare, "paired comparison of two runs; exit 1 on a significant regression"},
    {"report", cmd_report, "Markdown/HTML report with gnuplot charts"},
    {"fetch", cmd_fetch, "download tasks' datasets from their public homes (pinned sha256)"},
    {"tasks", cmd_tasks, "list built-in tasks and groups"},
    {"prompt", cmd_prompt, "print the exact context of one doc of a task"},
    {"chat-template", cmd_chat_template, "render a conversation through a model's chat template"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"logprobs", cmd_logprobs, "print per-token log-probabilities of a text"},
    {"generate", cmd_generate, "generate text from a prompt"},
    {"perplexity", cmd_perplexity, "perplexity and bits per byte of a file"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server (vLLM's API) over the local model"},
    {"bench", cmd_bench, "llama-bench-style speed test (prompt processing, generation); stored"},
};

static void usage(FILE *f) {
    fprintf(f, "chaejeom %s — LLM evaluation harness\n\nusage: chaejeom COMMAND [options]   (COMMAND --help for its options)\n\n",
            CJ_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-13s %s\n", COMMANDS[i].name, COMMANDS[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("chaejeom %s\n", CJ_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "chaejeom: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
