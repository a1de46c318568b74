/* chat_source — the chat template a checkpoint carries, and the BOS / EOS
 * token texts it is rendered with (transformers passes them as bos_token
 * and eos_token).
 *
 * Where it is read from, as transformers and llama.cpp read it:
 *   HF folder   chat_template.jinja, else chat_template.json's
 *               "chat_template", else tokenizer_config.json's
 *               "chat_template" (a string, or a list of {name, template}
 *               of which "default" is taken); bos_token / eos_token from
 *               tokenizer_config.json (a string or {"content": ...})
 *   GGUF file   tokenizer.chat_template; the tokens at
 *               tokenizer.ggml.bos_token_id / eos_token_id
 * A llama2.c checkpoint carries none. Missing tokens are "".
 *
 * Ownership: chat_source_load fills *out with malloc'd strings that
 * chat_source_free releases. Errors name the file and the field; a
 * checkpoint without a template is an error that says so. */
#ifndef CJ_CHAT_SOURCE_H
#define CJ_CHAT_SOURCE_H

#include "../../../common/err.h"

typedef struct {
    char *source; /* the template's text */
    char *bos, *eos;
    char *origin; /* where source came from: "<path>" or "<path>: tokenizer.chat_template" */
} chat_source;

int chat_source_load(const char *model_path, chat_source *out, cj_err *e);
/* A template file (no tokens): the whole file, which must hold no NUL byte. */
int chat_source_load_file(const char *path, chat_source *out, cj_err *e);
void chat_source_free(chat_source *s);

#endif
