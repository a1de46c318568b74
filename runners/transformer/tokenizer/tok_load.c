/* tok_load — tokenizers from GGUF metadata (tokenizer.ggml.*) and from
 * llama2.c tokenizer.bin files, set up as llama.cpp's llama_vocab::load and
 * convert-llama2c-to-ggml set them up. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/fileio.h"
#include "../formats/gguf.h"
#include "tok_internal.h"

/* ---- GGUF ---- */

/* GGUF token types (llama_token_type) -> attributes. */
static uint32_t attr_of_type(int32_t type) {
    switch (type) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER_DEFINED;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return 0; /* undefined: renders as nothing, never split out of text */
    }
}

/* An optional numeric array of n elements of the given type; *data NULL if absent. */
static int opt_array(const gguf_ctx *g, const char *key, gguf_vtype want, uint64_t n, const void **data, cj_err *e) {
    *data = NULL;
    if (gguf_find_key(g, key) < 0) return 0;
    gguf_vtype et;
    uint64_t cnt;
    if (gguf_get_arr(g, key, &et, &cnt, data, e)) return -1;
    if (et != want && !(want == GGUF_T_INT32 && et == GGUF_T_UINT32)) /* the same bytes for a type */
        return cj_fail(e, "%s: %s has element type %d, expected %d", gguf_path(g), key, (int)et, (int)want);
    if (cnt != n)
        return cj_fail(e, "%s: %s has %llu entries but tokenizer.ggml.tokens has %llu", gguf_path(g), key,
                       (unsigned long long)cnt, (unsigned long long)n);
    return 0;
}

/* A special token id key: absent -> *id unchanged (the default); u32 -1 ->
 * none; out of range -> the default, as llama.cpp ("bad special token"). */
static int special_id(const gguf_ctx *g, const char *key, int n_vocab, int *id, cj_err *e) {
    if (gguf_find_key(g, key) < 0) return 0;
    int64_t v;
    if (gguf_get_int(g, key, &v, e)) return -1;
    if (v == 0xFFFFFFFFLL || v == -1) *id = -1;
    else if (v >= 0 && v < n_vocab) *id = (int)v;
    return 0;
}

static int add_eog_key(tokenizer *t, const gguf_ctx *g, const char *key, cj_err *e) {
    int id = -1;
    if (special_id(g, key, t->n_vocab, &id, e)) return -1;
    tok_vocab_add_eog(t, id);
    return 0;
}

static int opt_bool(const gguf_ctx *g, const char *key, int *out, cj_err *e) {
    if (gguf_find_key(g, key) < 0) return 0;
    return gguf_get_bool(g, key, out, e);
}

static int load_merges(tokenizer *t, const gguf_ctx *g, cj_err *e) {
    const char *key = "tokenizer.ggml.merges";
    gguf_vtype et;
    uint64_t n;
    const void *data;
    if (gguf_find_key(g, key) < 0) return cj_fail(e, "%s: BPE vocabulary without %s", gguf_path(g), key);
    if (gguf_get_arr(g, key, &et, &n, &data, e)) return -1;
    if (et != GGUF_T_STRING) return cj_fail(e, "%s: %s is not a string array", gguf_path(g), key);
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        if (gguf_get_arr_str(g, key, i, &s, &len, e)) return -1;
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL; /* the first space after the first byte */
        if (!sp) {
            /* llama.cpp records an empty pair, which never matches: keep the rank count */
            if (tok_vocab_add_merge(t, "", 0, "", 0, e)) return -1;
            continue;
        }
        if (tok_vocab_add_merge(t, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1, e)) return -1;
    }
    return 0;
}

/* Tokens llama.cpp forces to CONTROL by their text (end-of-generation and
 * fill-in-the-middle markers), whatever type the file gives them. */
static void force_control(tokenizer *t) {
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
        "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", "<|eom_id|>", "<|fim_prefix|>",
        "<fim-prefix>", "<\357\275\234fim\342\226\201begin\357\275\234>", "<PRE>", "<|fim_suffix|>", "<fim-suffix>",
        "<\357\275\234fim\342\226\201hole\357\275\234>", "<SUF>", "<|fim_middle|>", "<fim-middle>",
        "<\357\275\234fim\342\226\201end\357\275\234>", "<MID>", "<|fim_pad|>", "<fim-pad>", "<PAD>",
        "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int id = tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 0) t->tok[id].attr = TOK_ATTR_CONTROL;
    }
}

/* llama.cpp's per-model attribute fix for Phi-3: its special tokens strip
 * the spaces after them. */
static void phi3_rstrip(tokenizer *t, const gguf_ctx *g) {
    if (gguf_find_key(g, "general.name") < 0) return;
    cj_err ignore;
    const char *name = gguf_get_str(g, "general.name", &ignore);
    if (!name) return;
    char low[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    if (!strstr(low, "phi-3") && !strstr(low, "phi3")) return;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->tok[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            t->tok[id].attr |= TOK_ATTR_RSTRIP;
    int id = tok_lookup(t, "</s>", 4);
    if (id >= 0) t->tok[id].attr |= TOK_ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (size_t k = 0; k < 3; k++)
        if ((id = tok_lookup(t, keep[k], strlen(keep[k]))) >= 0) t->tok[id].attr &= ~(uint32_t)TOK_ATTR_RSTRIP;
}

static int gguf_vocab(tokenizer *t, const gguf_ctx *g, uint64_t n, cj_err *e) {
    const void *scores, *types;
    if (opt_array(g, "tokenizer.ggml.scores", GGUF_T_FLOAT32, n, &scores, e) ||
        opt_array(g, "tokenizer.ggml.token_type", GGUF_T_INT32, n, &types, e))
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        if (gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len, e)) return -1;
        float score = 0.0f;
        int32_t type = 1;
        if (scores) memcpy(&score, (const char *)scores + 4 * i, 4);
        if (types) memcpy(&type, (const char *)types + 4 * i, 4);
        if (tok_vocab_set(t, (int)i, s, (size_t)len, score, attr_of_type(type), e)) return -1;
    }
    return 0;
}

static int gguf_build(tokenizer *t, const gguf_ctx *g, const char *pre_name, cj_err *e) {
    int n = t->n_vocab;
    int is_spm = t->kind == TOK_SPM;
    t->bos = is_spm ? 1 : 11; /* llama.cpp's defaults when the keys are absent */
    t->eos = is_spm ? 2 : 11;
    t->unk = is_spm ? 0 : -1;
    t->add_bos = is_spm;
    t->add_space_prefix = is_spm;
    if (!is_spm) {
        int pre = pre_name ? tok_pre_from_name(pre_name) : TOK_PRE_DEFAULT;
        if (pre < 0) return cj_fail(e, "%s: unknown pre-tokenizer tokenizer.ggml.pre = '%s'", gguf_path(g), pre_name);
        if (pre_name && (!strcmp(pre_name, "llama3") || !strcmp(pre_name, "llama-v3") ||
                         !strcmp(pre_name, "llama-bpe") || !strcmp(pre_name, "falcon3"))) {
            t->ignore_merges = 1;
            t->add_bos = 1;
        }
        if (pre_name && !strcmp(pre_name, "chatglm-bpe")) t->bos = -1;
        if (load_merges(t, g, e) || tok_pretok_init(t, (tok_pre)pre, NULL, 0, e)) return -1;
    }
    if (opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, e) ||
        special_id(g, "tokenizer.ggml.bos_token_id", n, &t->bos, e) ||
        special_id(g, "tokenizer.ggml.eos_token_id", n, &t->eos, e) ||
        special_id(g, "tokenizer.ggml.unknown_token_id", n, &t->unk, e) ||
        opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, e) ||
        add_eog_key(t, g, "tokenizer.ggml.eot_token_id", e) || add_eog_key(t, g, "tokenizer.ggml.eom_token_id", e))
        return -1;
    return 0;
}

int tok_load_gguf(const struct gguf_ctx *g, tokenizer **out, cj_err *e) {
    *out = NULL;
    const char *path = gguf_path(g);
    if (gguf_find_key(g, "tokenizer.ggml.model") < 0)
        return cj_fail(e, "%s: no tokenizer (tokenizer.ggml.model is absent)", path);
    const char *model = gguf_get_str(g, "tokenizer.ggml.model", e);
    if (!model) return -1;
    tok_kind kind;
    if (!strcmp(model, "llama")) kind = TOK_SPM;
    else if (!strcmp(model, "gpt2")) kind = TOK_BPE;
    else return cj_fail(e, "%s: tokenizer.ggml.model '%s' is not supported (llama or gpt2)", path, model);
    const char *pre_name = NULL;
    if (gguf_find_key(g, "tokenizer.ggml.pre") >= 0 && !(pre_name = gguf_get_str(g, "tokenizer.ggml.pre", e)))
        return -1;
    gguf_vtype et;
    uint64_t n;
    const void *data;
    if (gguf_find_key(g, "tokenizer.ggml.tokens") < 0) return cj_fail(e, "%s: tokenizer.ggml.tokens is absent", path);
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data, e)) return -1;
    if (et != GGUF_T_STRING) return cj_fail(e, "%s: tokenizer.ggml.tokens is not a string array", path);
    tokenizer *t;
    if (tok_vocab_new(&t, kind, (int64_t)(n > INT32_MAX ? INT32_MAX : n), path, e)) return -1;
    if (gguf_vocab(t, g, n, e) || gguf_build(t, g, kind == TOK_BPE ? pre_name : NULL, e)) {
        tok_free(t);
        return -1;
    }
    /* finish builds the lookup hash the attribute fixes below need */
    if (tok_vocab_finish(t, kind == TOK_BPE ? (pre_name ? pre_name : "default") : NULL, e)) {
        tok_free(t);
        return -1;
    }
    force_control(t);
    phi3_rstrip(t, g);
    tok_vocab_refresh_users(t);
    *out = t;
    return 0;
}

/* ---- llama2.c tokenizer.bin ---- */

static int rd_i32(const cj_map *m, size_t *pos, int32_t *v) {
    if (m->size - *pos < 4) return -1;
    memcpy(v, m->data + *pos, 4);
    *pos += 4;
    return 0;
}

/* "<0x" and a hex digit: llama.cpp's converter's sscanf("<0x%02hhX>") test. */
static int looks_like_byte(const char *s, size_t n) {
    return n >= 4 && !memcmp(s, "<0x", 3) && isxdigit((unsigned char)s[3]);
}

/* Spaces become "▁", as in the GGUF the converter writes. */
static int set_escaped(tokenizer *t, int id, const char *s, size_t n, float score, uint32_t attr, cj_err *e) {
    char *buf = cj_xmalloc(3 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            buf[o++] = s[i];
        }
    }
    int rc = tok_vocab_set(t, id, buf, o, score, attr, e);
    free(buf);
    return rc;
}

static int llama2c_tokens(tokenizer *t, const cj_map *m, cj_err *e) {
    size_t pos = 0;
    int32_t max_len;
    if (rd_i32(m, &pos, &max_len) || max_len < 0)
        return cj_fail(e, "%s: max_token_length is missing or negative", m->path);
    for (int id = 0; id < t->n_vocab; id++) {
        float score;
        int32_t len;
        if (m->size - pos < 8) return cj_fail(e, "%s: token %d: the file ends before its score and length", m->path, id);
        memcpy(&score, m->data + pos, 4);
        memcpy(&len, m->data + pos + 4, 4);
        pos += 8;
        if (len < 0 || (size_t)len > m->size - pos)
            return cj_fail(e, "%s: token %d: length %d exceeds the %zu bytes left", m->path, id, len, m->size - pos);
        const char *s = (const char *)m->data + pos;
        pos += (size_t)len;
        static const char *const special[3] = {"<unk>", "<s>", "</s>"};
        if (id < 3) {
            if (tok_vocab_set(t, id, special[id], strlen(special[id]), score,
                              id == 0 ? TOK_ATTR_UNKNOWN : TOK_ATTR_CONTROL, e))
                return -1;
            continue;
        }
        uint32_t attr = len == 0 ? TOK_ATTR_CONTROL : looks_like_byte(s, (size_t)len) ? TOK_ATTR_BYTE : TOK_ATTR_NORMAL;
        if (set_escaped(t, id, s, (size_t)len, score, attr, e)) return -1;
    }
    return 0;
}

int tok_load_llama2c(const char *path, int vocab_size, tokenizer **out, cj_err *e) {
    *out = NULL;
    cj_map m;
    if (cj_map_open(path, &m, e)) return -1;
    /* max_token_length, then at least a score and a length per token: a
     * vocabulary the file cannot hold is refused before it is allocated */
    if (vocab_size > 0 && (m.size < 4 || (m.size - 4) / 8 < (size_t)vocab_size)) {
        cj_fail(e, "%s: file of %zu bytes is too short for %d tokens (at least 8 bytes each)", path, m.size,
                vocab_size);
        cj_map_close(&m);
        return -1;
    }
    tokenizer *t = NULL;
    int rc = tok_vocab_new(&t, TOK_SPM, vocab_size, path, e);
    if (!rc) rc = llama2c_tokens(t, &m, e);
    cj_map_close(&m);
    if (!rc) {
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_bos = 1;
        t->add_space_prefix = 1;
        rc = tok_vocab_finish(t, NULL, e);
    }
    if (rc) {
        tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}
