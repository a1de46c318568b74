/* tok_internal — what the tokenizer's private files share (not a public API).
 *
 * A tokenizer is a vocabulary (pieces, scores, attributes, a piece -> id hash),
 * optional merge rules (a (left, right) piece pair -> rank hash), and a
 * pre-tokenizer. Loaders fill one through the tok_vocab_* builder functions
 * and then call tok_vocab_finish, which builds the lookup tables. Encoding
 * follows llama.cpp (llama-vocab.cpp, unicode.cpp at c392e50) step by step:
 *   1. user-defined tokens are split out of the raw text (never control ones);
 *   2. SPM: "▁" prefix and space escaping, then merges by score (GGUF,
 *      llama2.c) or by merge rank (an HF tokenizer.json), byte fallback;
 *      BPE: pre-tokenizer split, bytes -> GPT-2 unicode, merges by rank. */
#ifndef CJ_TOK_INTERNAL_H
#define CJ_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../../common/err.h"
#include "tokenizer.h"

/* Token attributes: llama.cpp's llama_token_attr bits. */
enum {
    TOK_ATTR_NORMAL = 1 << 0,
    TOK_ATTR_UNKNOWN = 1 << 1,
    TOK_ATTR_CONTROL = 1 << 2,
    TOK_ATTR_USER_DEFINED = 1 << 3,
    TOK_ATTR_BYTE = 1 << 4,
    TOK_ATTR_UNUSED = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 6, /* strip spaces before it when split out of text */
    TOK_ATTR_RSTRIP = 1 << 7  /* strip spaces after it */
};

/* Pre-tokenizers of byte-level BPE vocabularies (llama.cpp's pre types that
 * share a regex list share an entry). */
typedef enum {
    TOK_PRE_DEFAULT = 0,
    TOK_PRE_GPT2,
    TOK_PRE_LLAMA3,
    TOK_PRE_DEEPSEEK_LLM,
    TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_FALCON,
    TOK_PRE_STARCODER,
    TOK_PRE_QWEN2,
    TOK_PRE_PORO,
    TOK_PRE_VIKING,
    TOK_PRE_CUSTOM /* regexes given by an HF tokenizer.json, run as written */
} tok_pre;

typedef struct {
    uint32_t off;  /* piece = t->arena + off, NUL-terminated */
    uint32_t len;  /* piece bytes */
    float score;   /* SPM merge priority (higher first) */
    uint32_t attr; /* TOK_ATTR_* */
} tok_entry;

typedef struct {
    uint32_t l_off, l_len; /* left piece, in merge_arena */
    uint32_t r_off, r_len; /* right piece */
} tok_merge;

/* A compiled split rule (tok_pretok.c). */
typedef struct tok_split tok_split;

struct tokenizer {
    tok_kind kind;
    int n_vocab;
    tok_entry *tok;    /* [n_vocab] */
    char *arena;       /* pieces, NUL-separated */
    size_t arena_len, arena_cap;
    int32_t *hash;     /* [hash_mask + 1] piece -> id, -1 = empty slot */
    uint32_t hash_mask;

    int n_merges;      /* rank = index */
    tok_merge *merges; /* [n_merges] */
    char *merge_arena;
    size_t merge_arena_len, merge_arena_cap;
    int32_t *merge_hash; /* [merge_hash_mask + 1] -> merge index, -1 = empty */
    uint32_t merge_hash_mask;

    int spm_by_rank;      /* SPM text, merged by rank (HF tokenizer.json), not by score */
    int byte_fallback;    /* by-rank SPM: unknown characters become <0xXX> tokens */
    int fuse_unk;         /* by-rank SPM without byte fallback: runs of unknowns -> one unk */
    int add_space_prefix; /* SPM: prepend " " to text that starts a fragment */
    int ignore_merges;    /* BPE: a word that is a whole token is not merged (Llama 3) */
    int bos, eos, unk;    /* ids or -1 */
    int *eog;             /* end-of-generation ids, ascending, no repeats (EOS among them) */
    int n_eog;
    int add_bos;          /* the vocabulary's default (EOS is never appended) */
    int byte_id[256];     /* SPM: <0xXX> (or the raw byte) token per byte; -1 if none */

    int *user_ids;        /* user-defined tokens split out of raw text, longest first */
    int n_user;
    int *special_ids;     /* user-defined and control tokens, longest first (parse_special) */
    int n_special;

    tok_pre pre;
    tok_split *splits; /* [n_splits] pre-tokenizer rules, applied in order (BPE) */
    int n_splits;

    char *desc; /* tok_describe */
    char *name; /* file name for messages */
};

/* ---- builder (tok_vocab.c) ---- */

/* A tokenizer with n_vocab empty tokens of attribute NORMAL; name is copied. */
int tok_vocab_new(tokenizer **out, tok_kind kind, int64_t n_vocab, const char *name, cj_err *e);
/* Sets token id's piece (copied; an empty piece becomes "[EMPTY_<id>]", as
 * llama.cpp does), score and attributes. */
int tok_vocab_set(tokenizer *t, int id, const char *s, size_t len, float score, uint32_t attr, cj_err *e);
/* Appends a merge rule (rank = number of rules so far). */
int tok_vocab_add_merge(tokenizer *t, const char *l, size_t l_len, const char *r, size_t r_len, cj_err *e);
/* Builds the hashes, the byte tables and the user-defined token list and the
 * description (pre_name may be NULL); validates bos/eos/unk (out of range ->
 * -1). On failure t is left for the caller to tok_free. */
int tok_vocab_finish(tokenizer *t, const char *pre_name, cj_err *e);

/* Adds id to the end-of-generation set (out of range: ignored). Loaders add
 * what the file names (GGUF eot/eom ids, HF generation_config eos ids);
 * tok_vocab_finish adds EOS and the special tokens chat models end a turn
 * with. */
void tok_vocab_add_eog(tokenizer *t, int64_t id);

/* Rebuilds the list of user-defined tokens after attributes changed. */
void tok_vocab_refresh_users(tokenizer *t);

/* The id of a piece, or -1. */
int tok_lookup(const tokenizer *t, const char *s, size_t len);
/* The rank of the merge (l, r), or -1. */
int tok_merge_rank(const tokenizer *t, const char *l, size_t l_len, const char *r, size_t r_len);

/* ---- growable id vector ---- */
typedef struct {
    int *v;
    size_t n, cap;
} tok_ids;
void tok_ids_push(tok_ids *o, int id);

/* ---- merge engines (tok_merge.c) ---- */

/* A symbol of a merge: a span of the text being merged, in a linked list. */
typedef struct {
    int prev, next; /* neighbours' indices, -1 at the ends */
    uint32_t off, n; /* span; n == 0 once merged into its left neighbour */
} tok_sym;

/* A candidate merge of a symbol and its right neighbour. key orders the
 * heap: the priority (SPM score, or minus the merge rank) in the high 32 bits,
 * made order-preserving as an unsigned integer, and ~left in the low 32 bits
 * so that the leftmost wins ties. */
typedef struct {
    uint64_t key;
    uint32_t left;
    uint32_t size; /* bytes of the merged span; a mismatch marks a stale entry */
} tok_bigram;

/* Scratch memory of one tok_encode call, reused across its words. */
typedef struct {
    tok_sym *sym;
    size_t n_sym, cap_sym;
    tok_bigram *heap;
    size_t n_heap, cap_heap;
    char *buf; /* escaped SPM text, or one byte-encoded word */
    size_t cap_buf;
    uint32_t *cpts; /* code points of a BPE fragment */
    size_t n_cpts, cap_cpts;
    size_t *offs, *offs2; /* word lengths in code points, before/after one split rule */
    size_t n_offs; /* words written to offs2 by the rule running */
    size_t cap_offs, cap_offs2;
    char *subj; /* the regex subject built from cpts */
    size_t cap_subj;
    uint32_t *subj_cp; /* [subject bytes + 1] byte offset -> code point index */
    size_t cap_subj_cp;
    size_t *cp_byte; /* [n_cpts + 1] code point index -> subject byte offset */
    size_t cap_cp_byte;
    void *match_data; /* pcre2_match_data, created on first use */
} tok_work;

void tok_work_free(tok_work *w);
/* Grows *p (elements of size sz, capacity *cap) to hold n. */
void tok_grow(void **p, size_t *cap, size_t n, size_t sz);

/* SPM: text is already space-escaped. Appends ids to out. */
void tok_spm_encode(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out);
/* Byte-level BPE of one pre-tokenized, byte-encoded word. */
void tok_bpe_encode_word(const tokenizer *t, tok_work *w, const char *word, size_t len, tok_ids *out);

/* ---- pre-tokenizer (tok_pretok.c) ---- */

/* Compiles the split rules of pre (for TOK_PRE_CUSTOM: the n given regexes,
 * run with PCRE2_UTF | PCRE2_UCP). */
int tok_pretok_init(tokenizer *t, tok_pre pre, const char *const *regexes, int n, cj_err *e);
void tok_pretok_free(tokenizer *t);
/* The pre type of a known llama.cpp "tokenizer.ggml.pre" name; -1 if unknown. */
int tok_pre_from_name(const char *name);
/* The pre type whose regex list is exactly these HF Split regexes; -1 if none. */
int tok_pre_from_regexes(const char *const *regexes, int n);

/* Byte-level BPE of a raw text fragment: splits it into words, encodes each
 * word's bytes as GPT-2 unicode characters and merges it. Invalid UTF-8
 * becomes U+FFFD first, as in llama.cpp. Returns -1 (with e) only when the
 * regex engine fails (a resource limit). */
int tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out, cj_err *e);

/* ---- UTF-8 and Unicode (tok_pretok.c, tok_unicode.c) ---- */
enum { TOK_UCAT_OTHER = 0, TOK_UCAT_LETTER = 1, TOK_UCAT_NUMBER = 2, TOK_UCAT_PUNCT = 3 };
int tok_ucat(uint32_t cp);
int tok_uspace(uint32_t cp);
/* llama.cpp's unicode_len_utf8: sequence length announced by a lead byte. */
size_t tok_utf8_len(unsigned char c);
/* Decodes one character at s[0..n) (n >= 1) as llama.cpp does: lenient about
 * overlong forms and surrogates, U+FFFD and one byte for anything invalid. */
uint32_t tok_utf8_decode(const unsigned char *s, size_t n, size_t *adv);
/* Encodes cp (U+FFFD if beyond U+10FFFF); returns the byte count (1-4). */
size_t tok_utf8_encode(uint32_t cp, char *out);
/* The GPT-2 byte-level alphabet: the code point that stands for byte b. */
uint32_t tok_byte_to_cp(unsigned char b);
/* Inverse: the byte a code point stands for, or -1. */
int tok_cp_to_byte(uint32_t cp);

#endif
