/* chat_flags — the chat options `run` and `prompt` share:
 *   --apply-chat-template [FILE]  render prompts through the model's chat template (or FILE's)
 *   --system-instruction TEXT     a system prompt before the task's description
 *   --fewshot-as-multiturn        shots as user / assistant turns (needs a template)
 *   --chat-date YYYY-MM-DD        what strftime_now() sees (default: today, UTC)
 *   --bos-token S, --eos-token S  the token texts the template sees (default: the model's)
 * With -m http://... and no FILE the server applies its own template: the
 * contexts are then the JSON messages (task_chat.as_messages), sent to
 * /v1/chat/completions.
 * parsed here, then loaded into a task_chat (task.h) and the hash that
 * joins a run's identity. Prints its own usage errors, as cli/ does.
 * Ownership: everything belongs to the chat_flags until chat_flags_free. */
#ifndef CJ_CHAT_FLAGS_H
#define CJ_CHAT_FLAGS_H

#include "../common/err.h"
#include "../runners/transformer/formats/chat_source.h"
#include "../tasks/task.h"
#include "../tasks/template.h"

typedef struct {
    int apply, multiturn;
    const char *template_file, *system_instruction, *date, *bos, *eos;
    chat_source src;
    tpl *t;
    task_chat chat;
    char hash[65];
    char today[16];
    int uses_date; /* the template calls strftime_now: the date matters */
} chat_flags;

#define CHAT_FLAGS_HELP                                                                                             \
    "      --apply-chat-template [FILE]\n"                                                                          \
    "                         prompts through the model's chat template (or FILE's), as lm-eval\n"                  \
    "      --system-instruction TEXT  a system prompt before the task's description\n"                              \
    "      --fewshot-as-multiturn     shots as user / assistant turns (with a template)\n"                          \
    "      --chat-date YYYY-MM-DD     what the template's strftime_now() sees (default: today)\n"        \
    "      --bos-token S, --eos-token S  the token texts the template sees (default: the model's)\n"

/* Takes argv[*i] (and its value) if it is a chat option: 1 taken, 0 not a
 * chat option, -1 bad usage (printed, prefixed with cmd). */
int chat_flags_parse(chat_flags *f, int argc, char **argv, int *i, const char *cmd);

/* *out: the task_chat the options ask for (model: where the template comes
 * from without FILE), or NULL when none was given. -1 on an error. */
int chat_flags_setup(chat_flags *f, const char *model, const task_chat **out, cj_err *e);

void chat_flags_free(chat_flags *f);

#endif
