/* chat_source — the chat template of an HF folder or a GGUF file
 * (chat_source.h). Read apart from the model loaders because rendering a
 * template needs no weights: `chaejeom chat-template -m` opens only the
 * metadata. */
#include "chat_source.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/fileio.h"
#include "../../../common/sb.h"
#include "gguf.h"

void chat_source_free(chat_source *s) {
    free(s->source);
    free(s->bos);
    free(s->eos);
    free(s->origin);
    memset(s, 0, sizeof *s);
}

/* A token of tokenizer_config.json: a string or {"content": ...}; "" when absent. */
static char *config_token(const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    const char *s = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
    return cj_xstrdup(s ? s : "");
}

/* A "chat_template" value: a string, or the "default" of a list of named ones. */
static const char *pick_template(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *t = json_array_get(v, i);
        if (json_is_string(json_object_get(t, "name")) && !strcmp(json_string_value(json_object_get(t, "name")), "default"))
            return json_string_value(json_object_get(t, "template"));
    }
    return NULL;
}

static int load_json(const char *path, json_t **out, cj_err *e) {
    json_error_t je;
    *out = json_load_file(path, 0, &je);
    return *out ? 0 : cj_fail(e, "%s: line %d: %s", path, je.line, je.text);
}

/* The template of a folder's chat_template.jinja or chat_template.json, if any. */
static int folder_template(const char *dir, chat_source *out, cj_err *e) {
    char *jinja = cj_path_join(dir, "chat_template.jinja"), *js = cj_path_join(dir, "chat_template.json");
    int rc = 0;
    size_t len;
    if (cj_is_file(jinja)) {
        if (!(rc = cj_read_file(jinja, &out->source, &len, e))) out->origin = cj_xstrdup(jinja);
    } else if (cj_is_file(js)) {
        json_t *o;
        if (!(rc = load_json(js, &o, e))) {
            const char *t = pick_template(json_object_get(o, "chat_template"));
            if (!t) rc = cj_fail(e, "%s: field 'chat_template': not a template", js);
            else out->source = cj_xstrdup(t), out->origin = cj_xstrdup(js);
            json_decref(o);
        }
    }
    free(jinja);
    free(js);
    return rc;
}

static int load_hf(const char *dir, chat_source *out, cj_err *e) {
    char *cfg_path = cj_path_join(dir, "tokenizer_config.json");
    json_t *cfg = NULL;
    int rc = folder_template(dir, out, e);
    if (!rc && cj_is_file(cfg_path)) rc = load_json(cfg_path, &cfg, e);
    if (!rc && !out->source) {
        const json_t *v = json_object_get(cfg, "chat_template");
        const char *t = pick_template(v);
        if (t) out->source = cj_xstrdup(t), out->origin = cj_xstrdup(cfg_path);
        else if (v) rc = cj_fail(e, "%s: field 'chat_template': not a string or a list with a \"default\"", cfg_path);
        else rc = cj_fail(e, "%s: the model carries no chat template (no chat_template.jinja, and no chat_template in "
                             "tokenizer_config.json); give a template file", dir);
    }
    if (!rc) {
        out->bos = config_token(cfg, "bos_token");
        out->eos = config_token(cfg, "eos_token");
    }
    json_decref(cfg);
    free(cfg_path);
    return rc;
}

/* The token text at the id stored under key; "" when absent. */
static char *gguf_token(const gguf_ctx *g, const char *key, cj_err *e) {
    int64_t id;
    const char *s;
    uint64_t len;
    if (gguf_find_key(g, key) < 0 || gguf_get_int(g, key, &id, e) || id < 0 ||
        gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id, &s, &len, e))
        return cj_xstrdup("");
    return cj_xstrndup(s, (size_t)len);
}

static int load_gguf(const char *path, chat_source *out, cj_err *e) {
    gguf_ctx *g;
    if (gguf_open(path, &g, e)) return -1;
    int rc = 0;
    const char *t = gguf_find_key(g, "tokenizer.chat_template") >= 0 ? gguf_get_str(g, "tokenizer.chat_template", e) : NULL;
    if (!t) rc = cj_fail(e, "%s: the model carries no chat template (no tokenizer.chat_template); give a template file", path);
    else {
        out->source = cj_xstrdup(t);
        out->origin = cj_xstrdup(path);
        cj_err ignored;
        out->bos = gguf_token(g, "tokenizer.ggml.bos_token_id", &ignored);
        out->eos = gguf_token(g, "tokenizer.ggml.eos_token_id", &ignored);
    }
    gguf_close(g);
    return rc;
}

int chat_source_load_file(const char *path, chat_source *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    size_t len;
    if (cj_read_file(path, &out->source, &len, e)) return -1;
    if (!out->source) out->source = cj_xstrdup("");
    out->origin = cj_xstrdup(path);
    if (strlen(out->source) == len) return 0;
    chat_source_free(out);
    return cj_fail(e, "%s: the template holds a NUL byte", path);
}

int chat_source_load(const char *model_path, chat_source *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    int rc;
    if (cj_is_dir(model_path)) rc = load_hf(model_path, out, e);
    else {
        char magic[4] = {0};
        FILE *f = fopen(model_path, "rb");
        if (!f) return cj_fail(e, "%s: cannot open", model_path);
        size_t n = fread(magic, 1, 4, f);
        fclose(f);
        if (n == 4 && !memcmp(magic, "GGUF", 4)) rc = load_gguf(model_path, out, e);
        else rc = cj_fail(e, "%s: a llama2.c checkpoint carries no chat template; give a template file", model_path);
    }
    if (rc) chat_source_free(out);
    return rc;
}
