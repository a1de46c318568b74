/* tok_hf — tokenizers from an HF tokenizer.json (model type BPE).
 *
 * Two shapes are recognised:
 *   - SentencePiece-style (Llama 2, Mistral): a "▁" Prepend + Replace
 *     normalizer or a Metaspace pre-tokenizer, usually byte_fallback. Encoded
 *     as llama.cpp encodes SPM text (prefix, escaping, user-defined tokens),
 *     merged by rank as HF's BPE model does.
 *   - byte-level (GPT-2, Llama 3, Qwen2): a ByteLevel pre-tokenizer, with
 *     Split regexes before it. Regex lists llama.cpp knows run as llama.cpp
 *     runs them; others run as written (tok_pretok.c).
 * BOS comes from a TemplateProcessing post-processor, else from a
 * tokenizer_config.json next to the file, else from well-known names.
 * Added tokens marked special are control tokens (never parsed from text);
 * the others are user-defined (split out of text before merging). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/fileio.h"
#include "tok_internal.h"

#define MAX_SPLITS 16

typedef struct {
    const char *path;
    json_t *root, *model, *vocab;
    tok_kind kind;
    int spm_prefix;                   /* SPM-style: "▁" prepended */
    const char *regexes[MAX_SPLITS];  /* byte-level: Split regexes, in order */
    int n_regexes;
} hf_ctx;

static const char *type_of(const json_t *o) { return json_string_value(json_object_get(o, "type")); }

static int is_type(const json_t *o, const char *type) {
    const char *t = type_of(o);
    return t && !strcmp(t, type);
}

/* The members of a Sequence (under key), or the object itself as a list of one. */
static size_t members(const json_t *o, const char *key, json_t **out, size_t max) {
    if (!json_is_object(o)) return 0;
    if (!is_type(o, "Sequence")) {
        out[0] = (json_t *)o;
        return 1;
    }
    const json_t *arr = json_object_get(o, key);
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(arr) && n < max; i++) out[n++] = json_array_get(arr, i);
    return n;
}

static int has_type(const json_t *o, const char *key, const char *type) {
    json_t *m[MAX_SPLITS];
    size_t n = members(o, key, m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++)
        if (is_type(m[i], type)) return 1;
    return 0;
}

#define RE_BYTELEVEL "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Byte-level: the pre-tokenizer's Split regexes and ByteLevel's own regex. */
static int byte_level_pre(hf_ctx *c, cj_err *e) {
    json_t *m[MAX_SPLITS];
    size_t n = members(json_object_get(c->root, "pre_tokenizer"), "pretokenizers", m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++) {
        const char *type = type_of(m[i]);
        if (type && !strcmp(type, "Split")) {
            const char *re = json_string_value(json_object_get(json_object_get(m[i], "pattern"), "Regex"));
            const char *behavior = json_string_value(json_object_get(m[i], "behavior"));
            if (!re) return cj_fail(e, "%s: pre_tokenizer Split without a Regex pattern is not supported", c->path);
            if ((behavior && strcmp(behavior, "Isolated")) || json_is_true(json_object_get(m[i], "invert")))
                return cj_fail(e, "%s: pre_tokenizer Split behavior '%s' is not supported (Isolated)", c->path,
                               behavior ? behavior : "?");
            c->regexes[c->n_regexes++] = re;
        } else if (type && !strcmp(type, "ByteLevel")) {
            if (json_is_true(json_object_get(m[i], "add_prefix_space")))
                return cj_fail(e, "%s: pre_tokenizer ByteLevel.add_prefix_space = true is not supported", c->path);
            const json_t *use = json_object_get(m[i], "use_regex");
            if (!use || json_is_true(use)) c->regexes[c->n_regexes++] = RE_BYTELEVEL;
        } else {
            return cj_fail(e, "%s: pre_tokenizer '%s' is not supported", c->path, type ? type : "?");
        }
    }
    return 0;
}

/* SPM-style: is "▁" prepended (Prepend normalizer, or Metaspace)? */
static int spm_prefix(const hf_ctx *c) {
    json_t *m[MAX_SPLITS];
    size_t n = members(json_object_get(c->root, "normalizer"), "normalizers", m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++)
        if (is_type(m[i], "Prepend")) return 1;
    n = members(json_object_get(c->root, "pre_tokenizer"), "pretokenizers", m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++) {
        if (!is_type(m[i], "Metaspace")) continue;
        const char *scheme = json_string_value(json_object_get(m[i], "prepend_scheme"));
        if (scheme) return strcmp(scheme, "never") != 0;
        const json_t *aps = json_object_get(m[i], "add_prefix_space");
        return !aps || json_is_true(aps);
    }
    return 0;
}

static int classify(hf_ctx *c, cj_err *e) {
    const json_t *pre = json_object_get(c->root, "pre_tokenizer");
    if (has_type(pre, "pretokenizers", "ByteLevel") || is_type(json_object_get(c->root, "decoder"), "ByteLevel")) {
        c->kind = TOK_BPE;
        return byte_level_pre(c, e);
    }
    json_t *m[MAX_SPLITS];
    size_t n = members(pre, "pretokenizers", m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++)
        if (!is_type(m[i], "Metaspace"))
            return cj_fail(e, "%s: pre_tokenizer '%s' is not supported with a SentencePiece-style vocabulary", c->path,
                           type_of(m[i]) ? type_of(m[i]) : "?");
    c->kind = TOK_SPM;
    c->spm_prefix = spm_prefix(c);
    return 0;
}

/* The number of ids: one more than the largest in model.vocab and added_tokens. */
static int count_ids(const hf_ctx *c, int64_t *n, cj_err *e) {
    const char *key;
    json_t *v;
    int64_t max = -1;
    json_object_foreach(c->vocab, key, v) {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id >= (1 << 24))
            return cj_fail(e, "%s: model.vocab[\"%.40s\"] is not an id in [0, 2^24)", c->path, key);
        if (id > max) max = id;
    }
    const json_t *added = json_object_get(c->root, "added_tokens");
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *id = json_object_get(json_array_get(added, i), "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24))
            return cj_fail(e, "%s: added_tokens[%zu].id is not an id in [0, 2^24)", c->path, i);
        if (json_integer_value(id) > max) max = json_integer_value(id);
    }
    if (max < 0) return cj_fail(e, "%s: model.vocab is empty", c->path);
    /* Every id up to the largest gets a table entry: a few sparse ids must
     * not make a small file allocate a huge vocabulary. */
    size_t entries = json_object_size(c->vocab) + json_array_size(added);
    if ((uint64_t)max >= 2 * (uint64_t)entries + 1024)
        return cj_fail(e, "%s: largest id %lld for only %zu tokens: the ids are too sparse for a vocabulary", c->path,
                       (long long)max, entries);
    *n = max + 1;
    return 0;
}

static int is_byte_piece(const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    return n == 6 && !memcmp(s, "<0x", 3) && strchr(hex, s[3]) && strchr(hex, s[4]) && s[3] && s[4] && s[5] == '>';
}

static int set_tokens(tokenizer *t, const hf_ctx *c, cj_err *e) {
    const char *key;
    json_t *v;
    json_object_foreach(c->vocab, key, v) {
        size_t len = strlen(key);
        uint32_t attr = c->kind == TOK_SPM && is_byte_piece(key, len) ? TOK_ATTR_BYTE : TOK_ATTR_NORMAL;
        if (tok_vocab_set(t, (int)json_integer_value(v), key, len, 0.0f, attr, e)) return -1;
    }
    const json_t *added = json_object_get(c->root, "added_tokens");
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!content) return cj_fail(e, "%s: added_tokens[%zu].content is not a string", c->path, i);
        uint32_t attr = json_is_true(json_object_get(a, "special")) ? TOK_ATTR_CONTROL : TOK_ATTR_USER_DEFINED;
        if (json_is_true(json_object_get(a, "lstrip"))) attr |= TOK_ATTR_LSTRIP;
        if (json_is_true(json_object_get(a, "rstrip"))) attr |= TOK_ATTR_RSTRIP;
        int id = (int)json_integer_value(json_object_get(a, "id"));
        if (tok_vocab_set(t, id, content, strlen(content), 0.0f, attr, e)) return -1;
    }
    return 0;
}

static int set_merges(tokenizer *t, const hf_ctx *c, cj_err *e) {
    const json_t *merges = json_object_get(c->model, "merges");
    if (merges && !json_is_array(merges)) return cj_fail(e, "%s: model.merges is not an array", c->path);
    for (size_t i = 0; i < json_array_size(merges); i++) {
        const json_t *m = json_array_get(merges, i);
        const char *l, *r;
        size_t ll, rl;
        if (json_is_string(m)) { /* "left right" */
            const char *s = json_string_value(m);
            size_t n = json_string_length(m);
            const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
            if (!sp) return cj_fail(e, "%s: model.merges[%zu] \"%.40s\" has no space", c->path, i, s);
            l = s, ll = (size_t)(sp - s), r = sp + 1, rl = n - ll - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["left", "right"] */
            l = json_string_value(json_array_get(m, 0)), ll = json_string_length(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1)), rl = json_string_length(json_array_get(m, 1));
        } else {
            return cj_fail(e, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", c->path, i);
        }
        if (tok_vocab_add_merge(t, l, ll, r, rl, e)) return -1;
    }
    return 0;
}

static int vocab_id(const hf_ctx *c, const char *s) {
    if (!s) return -1;
    const json_t *v = json_object_get(c->vocab, s);
    if (json_is_integer(v)) return (int)json_integer_value(v);
    const json_t *added = json_object_get(c->root, "added_tokens");
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        const char *content = json_string_value(json_object_get(a, "content"));
        if (content && !strcmp(content, s)) return (int)json_integer_value(json_object_get(a, "id"));
    }
    return -1;
}

/* BOS from a TemplateProcessing that starts with a special token. */
static int template_bos(const hf_ctx *c) {
    json_t *m[MAX_SPLITS];
    size_t n = members(json_object_get(c->root, "post_processor"), "processors", m, MAX_SPLITS);
    for (size_t i = 0; i < n; i++) {
        if (!is_type(m[i], "TemplateProcessing")) continue;
        const json_t *first = json_object_get(json_array_get(json_object_get(m[i], "single"), 0), "SpecialToken");
        const char *name = json_string_value(json_object_get(first, "id"));
        if (!name) return -1;
        const json_t *ids = json_object_get(json_object_get(json_object_get(m[i], "special_tokens"), name), "ids");
        const json_t *id = json_array_get(ids, 0);
        if (json_is_integer(id)) /* out of range: no BOS (tok_vocab_finish) */
            return json_integer_value(id) >= 0 && json_integer_value(id) < (1 << 24) ? (int)json_integer_value(id) : -1;
        return vocab_id(c, name);
    }
    return -1;
}

/* A token named in tokenizer_config.json: a string or {"content": ...}. */
static const char *config_token(const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    return json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
}

static int first_named(const hf_ctx *c, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int id = vocab_id(c, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* The eos_token_id (an id or a list of ids) of a model folder's
 * generation_config.json and config.json: what transformers' generate()
 * stops on. Unreadable files are absent. */
static void add_config_eog(tokenizer *t, const char *dir) {
    static const char *const files[] = {"generation_config.json", "config.json"};
    for (size_t f = 0; f < 2; f++) {
        char *path = cj_path_join(dir, files[f]);
        json_t *cfg = cj_is_file(path) ? json_load_file(path, 0, NULL) : NULL;
        free(path);
        const json_t *v = json_object_get(cfg, "eos_token_id");
        if (json_is_integer(v)) tok_vocab_add_eog(t, json_integer_value(v));
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
            if (json_is_integer(json_array_get(v, i))) tok_vocab_add_eog(t, json_integer_value(json_array_get(v, i)));
        json_decref(cfg);
    }
}

static void set_specials(tokenizer *t, const hf_ctx *c) {
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>",
                                            "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234>"};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>",
                                            "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>"};
    json_t *cfg = NULL;
    const char *slash = strrchr(c->path, '/');
    char *dir = slash ? cj_xstrndup(c->path, (size_t)(slash - c->path)) : cj_xstrdup(".");
    char *cfg_path = cj_path_join(dir, "tokenizer_config.json");
    if (cj_is_file(cfg_path)) cfg = json_load_file(cfg_path, 0, NULL); /* optional; unreadable = absent */
    free(cfg_path);
    add_config_eog(t, dir);
    free(dir);

    t->unk = vocab_id(c, json_string_value(json_object_get(c->model, "unk_token")));
    if (t->unk >= 0 && t->unk < t->n_vocab) t->tok[t->unk].attr = TOK_ATTR_UNKNOWN;
    int bos = template_bos(c);
    t->add_bos = bos >= 0 || t->pre == TOK_PRE_LLAMA3; /* llama.cpp adds BOS for Llama 3 */
    if (bos < 0) bos = vocab_id(c, config_token(cfg, "bos_token"));
    if (bos < 0) bos = first_named(c, bos_names, sizeof bos_names / sizeof bos_names[0]);
    t->bos = bos;
    const json_t *add = json_object_get(cfg, "add_bos_token");
    if (json_is_boolean(add)) t->add_bos = json_is_true(add);
    t->eos = vocab_id(c, config_token(cfg, "eos_token"));
    if (t->eos < 0) t->eos = first_named(c, eos_names, sizeof eos_names / sizeof eos_names[0]);
    json_decref(cfg);
}

static int build(tokenizer **out, hf_ctx *c, cj_err *e) {
    int64_t n = 0;
    if (count_ids(c, &n, e) || tok_vocab_new(out, c->kind, n, c->path, e)) return -1;
    tokenizer *t = *out;
    if (set_tokens(t, c, e) || set_merges(t, c, e)) return -1;
    const char *pre_name = NULL;
    if (c->kind == TOK_SPM) {
        t->spm_by_rank = 1;
        t->add_space_prefix = c->spm_prefix;
        t->byte_fallback = json_is_true(json_object_get(c->model, "byte_fallback"));
        t->fuse_unk = json_is_true(json_object_get(c->model, "fuse_unk"));
    } else {
        int pre = tok_pre_from_regexes(c->regexes, c->n_regexes);
        if (tok_pretok_init(t, pre >= 0 ? (tok_pre)pre : TOK_PRE_CUSTOM, c->regexes, c->n_regexes, e)) return -1;
        t->ignore_merges = json_is_true(json_object_get(c->model, "ignore_merges"));
        pre_name = pre == TOK_PRE_LLAMA3 ? "llama3" : pre == TOK_PRE_QWEN2 ? "qwen2" : pre == TOK_PRE_GPT2 ? "gpt2" : "regex";
    }
    set_specials(t, c);
    return tok_vocab_finish(t, pre_name, e);
}

int tok_load_hf_json(const char *path, tokenizer **out, cj_err *e) {
    *out = NULL;
    json_error_t je;
    hf_ctx c = {.path = path};
    c.root = json_load_file(path, 0, &je);
    if (!c.root) return cj_fail(e, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    int rc = -1;
    c.model = json_object_get(c.root, "model");
    c.vocab = json_object_get(c.model, "vocab");
    const char *type = type_of(c.model);
    if (!json_is_object(c.model)) cj_fail(e, "%s: \"model\" is missing or not an object", path);
    else if (type && strcmp(type, "BPE")) cj_fail(e, "%s: model.type '%s' is not supported (BPE)", path, type);
    else if (!json_is_object(c.vocab)) cj_fail(e, "%s: model.vocab is missing or not an object", path);
    else if (!classify(&c, e)) rc = build(out, &c, e);
    json_decref(c.root);
    if (rc) {
        tok_free(*out);
        *out = NULL;
    }
    return rc;
}
