/* tok_vocab — building a tokenizer's tables: pieces, the piece -> id hash,
 * merge rules and the derived lists (byte tokens, user-defined tokens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "tok_internal.h"

/* Vocabularies beyond this are malformed, not large: it bounds every
 * allocation a hostile count could ask for (the largest real ones are ~256K). */
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_MAX_MERGES (1 << 24)

/* A multiply-xorshift hash over 8-byte words: pieces are short and looked up
 * for every candidate merge, so this is the encoder's inner loop. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t n) {
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    h ^= n * k;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * k;
    h ^= h >> 32;
    return h * k;
}

static uint32_t hash_piece(const char *s, size_t n) { return (uint32_t)(hash_bytes(0, s, n) >> 32); }

static uint32_t hash_pair(const char *l, size_t ln, const char *r, size_t rn) {
    return (uint32_t)(hash_bytes(hash_bytes(0x5bd1e995, l, ln), r, rn) >> 32);
}

static uint32_t table_size(size_t n) {
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

/* Appends n bytes and a NUL to an arena; the offset goes to *off. */
static int arena_put(char **arena, size_t *len, size_t *cap, const char *s, size_t n, uint32_t *off,
                     cj_err *e, const char *name) {
    if (n > UINT32_MAX - 1 || *len > UINT32_MAX - 1 - n)
        return cj_fail(e, "%s: tokenizer pieces exceed 4 GiB", name);
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1) c *= 2;
        *arena = cj_xrealloc(*arena, c);
        *cap = c;
    }
    if (n) memcpy(*arena + *len, s, n);
    (*arena)[*len + n] = 0;
    *off = (uint32_t)*len;
    *len += n + 1;
    return 0;
}

int tok_vocab_new(tokenizer **out, tok_kind kind, int64_t n_vocab, const char *name, cj_err *e) {
    *out = NULL;
    if (n_vocab < 1 || n_vocab > TOK_MAX_VOCAB)
        return cj_fail(e, "%s: vocabulary size %lld is out of range [1, %d]", name, (long long)n_vocab,
                       TOK_MAX_VOCAB);
    tokenizer *t = cj_xcalloc(1, sizeof *t);
    t->kind = kind;
    t->n_vocab = (int)n_vocab;
    t->tok = cj_xcalloc((size_t)n_vocab, sizeof *t->tok);
    for (int i = 0; i < t->n_vocab; i++) t->tok[i].attr = TOK_ATTR_NORMAL;
    t->bos = t->eos = t->unk = -1;
    t->name = cj_xstrdup(name);
    *out = t;
    return 0;
}

int tok_vocab_set(tokenizer *t, int id, const char *s, size_t len, float score, uint32_t attr, cj_err *e) {
    if (id < 0 || id >= t->n_vocab) return cj_fail(e, "%s: token id %d is out of range [0, %d)", t->name, id, t->n_vocab);
    char empty[32];
    if (len == 0) { /* llama.cpp renames empty pieces so that they never match text */
        snprintf(empty, sizeof empty, "[EMPTY_%d]", id);
        s = empty;
        len = strlen(empty);
    }
    tok_entry *te = &t->tok[id];
    if (arena_put(&t->arena, &t->arena_len, &t->arena_cap, s, len, &te->off, e, t->name)) return -1;
    te->len = (uint32_t)len;
    te->score = score == score ? score : -1e30f; /* a NaN score would only scramble the merge order */
    te->attr = attr;
    return 0;
}

int tok_vocab_add_merge(tokenizer *t, const char *l, size_t l_len, const char *r, size_t r_len, cj_err *e) {
    if (t->n_merges >= TOK_MAX_MERGES) return cj_fail(e, "%s: more than %d merges", t->name, TOK_MAX_MERGES);
    if ((t->n_merges & (t->n_merges - 1)) == 0) /* grow at powers of two */
        t->merges = cj_xrealloc(t->merges, sizeof *t->merges * (size_t)(t->n_merges ? 2 * t->n_merges : 1));
    tok_merge *m = &t->merges[t->n_merges];
    if (arena_put(&t->merge_arena, &t->merge_arena_len, &t->merge_arena_cap, l, l_len, &m->l_off, e, t->name) ||
        arena_put(&t->merge_arena, &t->merge_arena_len, &t->merge_arena_cap, r, r_len, &m->r_off, e, t->name))
        return -1;
    m->l_len = (uint32_t)l_len;
    m->r_len = (uint32_t)r_len;
    t->n_merges++;
    return 0;
}

int tok_lookup(const tokenizer *t, const char *s, size_t len) {
    uint32_t i = hash_piece(s, len) & t->hash_mask;
    for (;;) {
        int32_t id = t->hash[i];
        if (id < 0) return -1;
        const tok_entry *te = &t->tok[id];
        if (te->len == len && memcmp(t->arena + te->off, s, len) == 0) return id;
        i = (i + 1) & t->hash_mask;
    }
}

int tok_merge_rank(const tokenizer *t, const char *l, size_t l_len, const char *r, size_t r_len) {
    if (!t->merge_hash) return -1;
    uint32_t i = hash_pair(l, l_len, r, r_len) & t->merge_hash_mask;
    for (;;) {
        int32_t k = t->merge_hash[i];
        if (k < 0) return -1;
        const tok_merge *m = &t->merges[k];
        if (m->l_len == l_len && m->r_len == r_len && memcmp(t->merge_arena + m->l_off, l, l_len) == 0 &&
            memcmp(t->merge_arena + m->r_off, r, r_len) == 0)
            return k;
        i = (i + 1) & t->merge_hash_mask;
    }
}

static void build_hash(tokenizer *t) {
    uint32_t cap = table_size((size_t)t->n_vocab);
    t->hash = cj_xmalloc(sizeof *t->hash * cap);
    memset(t->hash, 0xff, sizeof *t->hash * cap);
    t->hash_mask = cap - 1;
    for (int id = 0; id < t->n_vocab; id++) {
        const tok_entry *te = &t->tok[id];
        uint32_t i = hash_piece(t->arena + te->off, te->len) & t->hash_mask;
        for (;;) {
            int32_t o = t->hash[i];
            if (o < 0 || (t->tok[o].len == te->len && !memcmp(t->arena + t->tok[o].off, t->arena + te->off, te->len)))
                break;
            i = (i + 1) & t->hash_mask;
        }
        t->hash[i] = id; /* a duplicate piece maps to its last id, as llama.cpp's map does */
    }
}

static void build_merge_hash(tokenizer *t) {
    if (!t->n_merges) return;
    uint32_t cap = table_size((size_t)t->n_merges);
    t->merge_hash = cj_xmalloc(sizeof *t->merge_hash * cap);
    memset(t->merge_hash, 0xff, sizeof *t->merge_hash * cap);
    t->merge_hash_mask = cap - 1;
    for (int k = 0; k < t->n_merges; k++) {
        const tok_merge *m = &t->merges[k];
        const char *l = t->merge_arena + m->l_off, *r = t->merge_arena + m->r_off;
        if (tok_merge_rank(t, l, m->l_len, r, m->r_len) >= 0) continue; /* the first rank of a pair wins */
        uint32_t i = hash_pair(l, m->l_len, r, m->r_len) & t->merge_hash_mask;
        while (t->merge_hash[i] >= 0) i = (i + 1) & t->merge_hash_mask;
        t->merge_hash[i] = k;
    }
}

/* llama.cpp's byte_to_token for SPM: "<0xXX>", else the raw one-byte piece. */
static void build_byte_ids(tokenizer *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char s[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        char raw = (char)b;
        int id = tok_lookup(t, s, 6);
        t->byte_id[b] = id >= 0 ? id : tok_lookup(t, &raw, 1);
    }
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The ids whose attributes meet mask, longest piece first, then by id. */
static int sorted_by_length(const tokenizer *t, uint32_t mask, int **out) {
    int n = 0;
    for (int id = 0; id < t->n_vocab; id++) n += (t->tok[id].attr & mask) != 0;
    *out = NULL;
    if (!n) return 0;
    uint64_t *keys = cj_xmalloc(sizeof *keys * (size_t)n);
    int k = 0;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->tok[id].attr & mask) keys[k++] = (uint64_t)(UINT32_MAX - t->tok[id].len) << 32 | (uint32_t)id;
    qsort(keys, (size_t)n, sizeof *keys, u64_cmp);
    *out = cj_xmalloc(sizeof **out * (size_t)n);
    for (k = 0; k < n; k++) (*out)[k] = (int)(uint32_t)keys[k];
    free(keys);
    return n;
}

/* User-defined tokens are split out of raw text before anything else, the
 * longest first (llama.cpp's cache_special_tokens, minus the control and
 * unknown ones that parse_special = false skips); with parse_special the
 * control tokens too. */
void tok_vocab_refresh_users(tokenizer *t) {
    free(t->user_ids);
    free(t->special_ids);
    t->n_user = sorted_by_length(t, TOK_ATTR_USER_DEFINED, &t->user_ids);
    t->n_special = sorted_by_length(t, TOK_ATTR_USER_DEFINED | TOK_ATTR_CONTROL, &t->special_ids);
}

void tok_vocab_add_eog(tokenizer *t, int64_t id) {
    if (id < 0 || id >= t->n_vocab) return;
    int k = 0;
    while (k < t->n_eog && t->eog[k] < id) k++;
    if (k < t->n_eog && t->eog[k] == id) return;
    t->eog = cj_xrealloc(t->eog, (size_t)(t->n_eog + 1) * sizeof(int));
    memmove(t->eog + k + 1, t->eog + k, (size_t)(t->n_eog - k) * sizeof(int));
    t->eog[k] = (int)id;
    t->n_eog++;
}

/* The special tokens that end a turn or a text in chat and base models
 * (llama.cpp's list), which stop generation when the vocabulary marks them
 * special, whether or not the file names them. */
static void add_named_eog(tokenizer *t) {
    static const char *const names[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                                        "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int id = tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 0 && (t->tok[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))) tok_vocab_add_eog(t, id);
    }
}

int tok_vocab_finish(tokenizer *t, const char *pre_name, cj_err *e) {
    (void)e;
    for (int id = 0; id < t->n_vocab; id++)
        if (!t->tok[id].len) { /* a token no loader set: an unused placeholder */
            if (tok_vocab_set(t, id, "", 0, 0.0f, TOK_ATTR_UNUSED, e)) return -1;
        }
    build_hash(t);
    build_merge_hash(t);
    if (t->kind == TOK_SPM) build_byte_ids(t);
    else memset(t->byte_id, 0xff, sizeof t->byte_id);
    tok_vocab_refresh_users(t);
    if (t->bos < 0 || t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos < 0 || t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk < 0 || t->unk >= t->n_vocab) t->unk = -1;
    if (t->bos < 0) t->add_bos = 0;
    tok_vocab_add_eog(t, t->eos);
    add_named_eog(t);
    const char *base = strrchr(t->name, '/');
    base = base ? base + 1 : t->name;
    sb d;
    sb_init(&d);
    sb_printf(&d, "%s %d", t->kind == TOK_SPM ? "spm" : "bpe", t->n_vocab);
    if (pre_name && *pre_name) sb_printf(&d, " %s", pre_name);
    sb_printf(&d, " (%s)", base);
    t->desc = sb_take(&d);
    return 0;
}
