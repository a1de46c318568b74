/* chat_flags — the chat options of `run` and `prompt` (chat_flags.h). */
#include "chat_flags.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/sha256.h"
#include "http_args.h"

int chat_flags_parse(chat_flags *f, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i], *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--apply-chat-template")) {
        f->apply = 1;
        if (next && next[0] != '-') f->template_file = argv[++*i];
        return 1;
    }
    if (!strncmp(a, "--apply-chat-template=", 22)) {
        f->apply = 1;
        f->template_file = a + 22;
        return 1;
    }
    if (!strcmp(a, "--fewshot-as-multiturn")) return f->multiturn = 1;
    const char **slot = !strcmp(a, "--system-instruction") ? &f->system_instruction
                        : !strcmp(a, "--chat-date")         ? &f->date
                        : !strcmp(a, "--bos-token")         ? &f->bos
                        : !strcmp(a, "--eos-token")         ? &f->eos
                                                            : NULL;
    if (!slot) return 0;
    if (!next) {
        fprintf(stderr, "chaejeom %s: %s needs a value\n", cmd, a);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

static int load_template(chat_flags *f, const char *model, cj_err *e) {
    if (!f->template_file) {
        if (!model) return cj_fail(e, "--apply-chat-template without FILE takes the template of -m MODEL");
        return chat_source_load(model, &f->src, e);
    }
    if (chat_source_load_file(f->template_file, &f->src, e)) return -1;
    if (model) { /* the tokens still come from the model, when it has them */
        chat_source m;
        if (!chat_source_load(model, &m, e)) {
            f->src.bos = m.bos, f->src.eos = m.eos;
            m.bos = m.eos = NULL;
            chat_source_free(&m);
        }
    }
    return 0;
}

/* sha256 of what chat prompts depend on. */
static void chat_hash(chat_flags *f) {
    json_t *h = json_pack("{sssbss}", "template", f->src.source ? f->src.source : "", "multiturn", f->multiturn,
                          "system_instruction", f->system_instruction ? f->system_instruction : "");
    json_object_set_new(h, "bos_token", json_string(f->chat.bos_token ? f->chat.bos_token : ""));
    json_object_set_new(h, "eos_token", json_string(f->chat.eos_token ? f->chat.eos_token : ""));
    if (f->uses_date) json_object_set_new(h, "date", json_string(f->chat.date));
    if (f->chat.as_messages) json_object_set_new(h, "server_template", json_true());
    char *s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_hex(s, strlen(s), f->hash);
    free(s);
    json_decref(h);
}

int chat_flags_setup(chat_flags *f, const char *model, const task_chat **out, cj_err *e) {
    *out = NULL;
    if (!f->apply && !f->system_instruction && !f->multiturn) return 0;
    if (f->multiturn && !f->apply) return cj_fail(e, "--fewshot-as-multiturn needs --apply-chat-template");
    if (f->date) {
        struct tm tm = {0};
        const char *end = strptime(f->date, "%Y-%m-%d", &tm);
        if (!end || *end) return cj_fail(e, "--chat-date: expected YYYY-MM-DD, got '%s'", f->date);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        strftime(f->today, sizeof f->today, "%Y-%m-%d", gmtime_r(&now, &tm));
        f->date = f->today;
    }
    /* A server without FILE: it renders with its own template (/v1/chat/completions). */
    int server = f->apply && !f->template_file && model && http_args_is_url(model);
    if (f->apply && !server) {
        if (load_template(f, model, e)) return -1;
        if (tpl_compile_chat(f->src.source, &f->t, e)) return cj_wrap(e, "%s", f->src.origin ? f->src.origin : "chat template");
        f->uses_date = strstr(f->src.source, "strftime_now") != NULL;
    }
    f->chat = (task_chat){f->t, f->system_instruction, f->multiturn, f->bos ? f->bos : f->src.bos,
                          f->eos ? f->eos : f->src.eos, f->date, server};
    chat_hash(f);
    *out = &f->chat;
    return 0;
}

void chat_flags_free(chat_flags *f) {
    tpl_free(f->t);
    chat_source_free(&f->src);
}
