/* chaejeom chat-template — renders one conversation through a chat template
 * (a checkpoint's own, or a file), as transformers' apply_chat_template
 * would, so that anyone can see and debug what a model is given. Exit 2
 * with the template's own message when it raises. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sb.h"
#include "../runners/transformer/formats/chat_source.h"
#include "../tasks/template.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: chaejeom chat-template (-m MODEL | --template FILE) --messages FILE.json\n"
          "                              [--add-generation-prompt] [--bos-token S] [--eos-token S]\n"
          "                              [--date YYYY-MM-DD]\n\n"
          "Prints the rendering of a conversation through a chat template, byte for byte as\n"
          "transformers' apply_chat_template renders it, with no trailing newline.\n\n"
          "  -m MODEL                 take the model's template: an HF folder (chat_template.jinja or\n"
          "                           tokenizer_config.json) or a GGUF file (tokenizer.chat_template)\n"
          "  --template FILE          take the template from a file instead\n"
          "  --messages FILE.json     a list of {\"role\", \"content\"} messages, or an object whose\n"
          "                           fields are the template's variables (messages, tools, ...)\n"
          "  --add-generation-prompt  end with the assistant's turn opened\n"
          "  --bos-token S, --eos-token S  the token texts (default: the model's, else empty)\n"
          "  --date YYYY-MM-DD        what strftime_now() sees (default: today, UTC)\n\n"
          "Exit 2 on bad usage or input, and when the template raises an error (its message is printed).\n",
          f);
}

typedef struct {
    const char *model, *template_file, *messages, *bos, *eos, *date;
    int add_generation_prompt;
} options;

/* The option's slot in o, or NULL. */
static const char **value_slot(options *o, const char *a) {
    static const char *const names[] = {"-m", "--model", "--template", "--messages", "--bos-token", "--eos-token", "--date"};
    const char **slots[] = {&o->model, &o->model, &o->template_file, &o->messages, &o->bos, &o->eos, &o->date};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!strcmp(a, names[k])) return slots[k];
    return NULL;
}

/* 0 to go on, 1 when --help was printed, -1 on bad usage (printed). */
static int parse_args(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = value_slot(o, a);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 1;
        if (!strcmp(a, "--add-generation-prompt")) o->add_generation_prompt = 1;
        else if (slot && i + 1 < argc) *slot = argv[++i];
        else {
            fprintf(stderr, "chaejeom chat-template: unknown option or missing value: %s\n\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (!o->messages || !o->model == !o->template_file) {
        fprintf(stderr, "chaejeom chat-template: give --messages, and one of -m or --template\n\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The template's variables: the messages file (a list, or an object of
 * variables), then what transformers always passes. */
static json_t *load_vars(const options *o, const chat_source *src, cj_err *e) {
    json_error_t je;
    json_t *m = json_load_file(o->messages, 0, &je);
    if (!m) {
        cj_fail(e, "%s: line %d: %s", o->messages, je.line, je.text);
        return NULL;
    }
    json_t *vars = json_is_object(m) ? json_copy(m) : json_pack("{sO}", "messages", m);
    json_decref(m);
    if (!json_is_array(json_object_get(vars, "messages"))) {
        json_decref(vars);
        cj_fail(e, "%s: 'messages' must be a list of messages", o->messages);
        return NULL;
    }
    json_object_set_new(vars, "add_generation_prompt", json_boolean(o->add_generation_prompt));
    json_object_set_new(vars, "bos_token", json_string(o->bos ? o->bos : src->bos ? src->bos : ""));
    json_object_set_new(vars, "eos_token", json_string(o->eos ? o->eos : src->eos ? src->eos : ""));
    if (!json_object_get(vars, "tools")) json_object_set_new(vars, "tools", json_null());
    if (!json_object_get(vars, "documents")) json_object_set_new(vars, "documents", json_null());
    return vars;
}

static int load_source(const options *o, chat_source *src, cj_err *e) {
    return o->model ? chat_source_load(o->model, src, e) : chat_source_load_file(o->template_file, src, e);
}

int cmd_chat_template(int argc, char **argv) {
    options o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;
    char today[16];
    if (!o.date) {
        time_t now = time(NULL);
        struct tm tm;
        strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
        o.date = today;
    }
    cj_err e = {{0}};
    chat_source src;
    tpl *t = NULL;
    json_t *vars = NULL;
    sb out;
    sb_init(&out);
    if (load_source(&o, &src, &e) || !(vars = load_vars(&o, &src, &e))) {
        fprintf(stderr, "chaejeom chat-template: %s\n", e.msg);
        rc = 2;
    } else if (tpl_compile_chat(src.source, &t, &e)) {
        fprintf(stderr, "chaejeom chat-template: %s: %s\n", o.template_file ? o.template_file : src.origin, e.msg);
        rc = 2;
    } else if (tpl_render_chat(t, vars, o.date, &out, &e)) {
        fprintf(stderr, "%s\n", e.msg); /* the template's own message, as transformers raises it */
        rc = 2;
    } else fwrite(out.s ? out.s : "", 1, out.len, stdout);
    sb_free(&out);
    json_decref(vars);
    tpl_free(t);
    chat_source_free(&src);
    return rc;
}
