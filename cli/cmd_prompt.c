/* chaejeom prompt — the exact context (and continuations) of one doc of a task. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fileio.h"
#include "../tasks/task.h"
#include "chat_flags.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom prompt --task TASK [--doc I] [--shots K] [--seed S] [--data-dir DIR]\n"
          "                       [--tasks-dir DIR] [--json] [-m MODEL] [chat options]\n\n"
          "Prints the exact context the model is given for doc I of TASK, with no trailing\n"
          "newline (for partial-scoring tasks such as winogrande: the first choice's context).\n\n"
          "  --task TASK        a task name (chaejeom tasks lists them)\n"
          "  --doc I            index of the doc in the evaluation split (default 0)\n"
          "  --shots K          few-shot examples (default: the task's own)\n"
          "  --seed S           seed of the random few-shot sampler (default 1234, as chaejeom run)\n"
          "  --data-dir DIR     the datasets folder (default <assets>/datasets)\n"
          "  --tasks-dir DIR    task definitions (default $CHAEJEOM_TASKS or the built-in tasks/defs)\n"
          "  --json             print {\"context\", \"continuations\", \"target\", ...} instead\n"
          "  -m MODEL           the model whose chat template --apply-chat-template uses\n"
          "chat options, as chaejeom run takes them:\n" CHAT_FLAGS_HELP,
          f);
}

/* Parses a whole decimal integer in [lo, hi]. */
static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static json_t *str_array(char *const *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

static void print_json(const task *t, int doc, const task_request *q) {
    json_t *o = json_object();
    json_object_set_new(o, "task", json_string(task_name(t)));
    json_object_set_new(o, "doc_id", json_string(task_doc_id(t, doc)));
    json_object_set_new(o, "context", json_string(q->contexts[0]));
    int differ = 0;
    for (int i = 1; i < q->n; i++) differ |= strcmp(q->contexts[i], q->contexts[0]) != 0;
    if (differ) json_object_set_new(o, "contexts", str_array(q->contexts, q->n));
    if (task_output_type(t) == TASK_MULTIPLE_CHOICE) {
        json_object_set_new(o, "continuations", str_array(q->continuations, q->n));
        json_object_set_new(o, "choices", str_array(q->choices, q->n));
    }
    json_object_set_new(o, "target", q->gold_text ? json_string(q->gold_text) : json_null());
    if (q->gold >= 0) json_object_set_new(o, "gold", json_integer(q->gold));
    if (q->labels) {
        json_t *l = json_array();
        for (int i = 0; i < q->n; i++) json_array_append_new(l, json_integer(q->labels[i]));
        json_object_set_new(o, "labels", l);
    }
    if (task_output_type(t) == TASK_GENERATE_UNTIL) {
        json_object_set_new(o, "until", str_array(q->until, q->n_until));
        json_object_set_new(o, "max_tokens", json_integer(q->max_tokens));
    }
    char *s = json_dumps(o, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
    json_decref(o);
}

int cmd_prompt(int argc, char **argv) {
    const char *name = NULL, *data_dir = NULL, *tasks_dir = NULL, *model = NULL;
    chat_flags chat = {0};
    const task_chat *tc = NULL;
    long long doc = 0, shots = -1, seed = 1234;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        int took = chat_flags_parse(&chat, argc, argv, &i, "prompt");
        if (took < 0) return 2;
        if (took) continue;
        if (!v) {
            fprintf(stderr, "chaejeom prompt: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--task") || !strcmp(a, "-t")) name = v;
        else if (!strcmp(a, "--data-dir")) data_dir = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--tasks-dir")) tasks_dir = v;
        else if (!strcmp(a, "--doc")) bad = parse_ll(v, 0, 1LL << 30, &doc);
        else if (!strcmp(a, "--shots")) bad = parse_ll(v, 0, 1000, &shots);
        else if (!strcmp(a, "--seed")) bad = parse_ll(v, 0, (long long)(~0ULL >> 1), &seed);
        else {
            fprintf(stderr, "chaejeom prompt: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "chaejeom prompt: bad value for %s: '%s'\n", a, v);
            return 2;
        }
        i++;
    }
    if (!name) {
        fprintf(stderr, "chaejeom prompt: --task is required\n\n");
        usage(stderr);
        return 2;
    }

    char *tdir = tasks_dir ? NULL : task_default_dir(), *ddir = NULL;
    if (!data_dir) {
        char *assets = cj_assets_dir();
        ddir = cj_path_join(assets, "datasets");
        free(assets);
    }
    cj_err e;
    task_registry *reg = NULL;
    task_request q = {0};
    int rc = 2;
    if (task_registry_load(tasks_dir ? tasks_dir : tdir, &reg, &e)) goto fail;
    task *t = task_find(reg, name);
    if (!t) {
        snprintf(e.msg, sizeof e.msg, "unknown task '%s'%s", name,
                 task_find_group(reg, name) ? " (a group: name one of its tasks)" : " (chaejeom tasks lists them)");
        goto fail;
    }
    if (task_load_data(t, data_dir ? data_dir : ddir, &e) || chat_flags_setup(&chat, model, &tc, &e)) goto fail;
    if (task_build_request_chat(t, (int)doc, (int)shots, (uint64_t)seed, tc, &q, &e)) goto fail;
    if (json) print_json(t, (int)doc, &q);
    else fputs(q.contexts[0], stdout);
    rc = fflush(stdout) ? 2 : 0;
    goto out;
fail:
    fprintf(stderr, "chaejeom prompt: %s\n", e.msg);
out:
    task_request_free(&q);
    task_registry_free(reg);
    chat_flags_free(&chat);
    free(tdir);
    free(ddir);
    return rc;
}
