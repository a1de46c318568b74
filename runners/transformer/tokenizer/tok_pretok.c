/* tok_pretok — the pre-tokenizer of byte-level BPE: splitting text into
 * words, as llama.cpp's unicode_regex_split does at c392e50.
 *
 * A fragment of text is decoded into code points (invalid UTF-8 -> U+FFFD),
 * then each split rule of the vocabulary's list refines the word boundaries:
 * matches and the gaps between them both become words. Rules run one of
 * three ways, chosen as llama.cpp chooses:
 *   - the GPT-2 and Llama 3 regexes: hand-written splitters, ported from
 *     llama.cpp's "custom" ones (their edge cases are llama.cpp's, not the
 *     regex's);
 *   - regexes using \p{L}, \p{N} or \p{P}: llama.cpp runs them on a
 *     "collapsed" text where each non-ASCII code point becomes one byte naming
 *     its class (letter, number, punctuation, whitespace, other); we do the
 *     same with PCRE2 in byte mode, so that classes and \s agree exactly;
 *   - other regexes (literal non-ASCII ranges, DeepSeek's): PCRE2 in UTF mode
 *     on the text with non-ASCII whitespace turned into U+000B, as llama.cpp
 *     does before std::wregex.
 * Regexes from an HF tokenizer.json that llama.cpp does not know run as
 * written with PCRE2_UTF | PCRE2_UCP. `$` only matches at the very end
 * (PCRE2_DOLLAR_ENDONLY), as in ECMAScript.
 *
 * Words are then byte-encoded (each UTF-8 byte as its GPT-2 unicode
 * character) and merged (tok_merge.c). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "tok_internal.h"

/* ---- UTF-8 ---- */

size_t tok_utf8_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

static int cont(const unsigned char *s, size_t n, size_t i) { return i < n && (s[i] & 0xC0) == 0x80; }

uint32_t tok_utf8_decode(const unsigned char *s, size_t n, size_t *adv) {
    unsigned char c = s[0];
    *adv = 1;
    if (!(c & 0x80)) return c;
    if (!(c & 0x40)) return 0xFFFD;
    if (!(c & 0x20)) {
        if (!cont(s, n, 1)) return 0xFFFD;
        *adv = 2;
        return (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (!cont(s, n, 1) || !cont(s, n, 2)) return 0xFFFD;
        *adv = 3;
        return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (!cont(s, n, 1) || !cont(s, n, 2) || !cont(s, n, 3)) return 0xFFFD;
        *adv = 4;
        return (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
               (s[3] & 0x3F);
    }
    return 0xFFFD;
}

size_t tok_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp <= 0x7F) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2's alphabet: printable Latin-1 bytes stand for themselves; the other
 * 68 (0x00-0x20, 0x7F-0xA0, 0xAD) map in order to U+0100.. U+0143. */
uint32_t tok_byte_to_cp(unsigned char b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33 + (b - 0x7Fu);
    if (b == 0xAD) return 256u + 67;
    return b;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp >= 256 && cp < 256 + 33) return (int)(cp - 256);
    if (cp >= 256 + 33 && cp < 256 + 67) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67) return 0xAD;
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xFF && cp != 0xAD)) return (int)cp;
    return -1;
}

/* ---- split rules ---- */

typedef enum { SPLIT_GPT2, SPLIT_LLAMA3, SPLIT_COLLAPSED, SPLIT_WIDE, SPLIT_UCP } split_kind;

struct tok_split {
    split_kind kind;
    pcre2_code *re; /* NULL for the hand-written ones */
};

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3_HF                                                                                    \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2_HF                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT2_HF "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+" /* [一-龥ࠀ-一가-퟿]+ */

/* llama.cpp's regex lists (llm_tokenizer_bpe), by pre type. */
static const char *const re_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"};
static const char *const re_gpt2[] = {RE_GPT2};
static const char *const re_llama3[] = {RE_LLAMA3};
static const char *const re_deepseek_llm[] = {
    "[\r\n]",
    ("\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93"
    "\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c"
    "\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85"
    "\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-"
    "\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d"
    "\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d"
    "\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84"
    "\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-"
    "\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-"
    "\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9"
    "\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb"
    "\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-"
    "\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf"
    "\xef\xac\x80-\xef\xac\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90"
    "\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90"
    "\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"),
    "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
    "\\s+$",
    RE_CJK,
    "\\p{N}+",
};
static const char *const re_deepseek_coder[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"};
static const char *const re_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"};
static const char *const re_starcoder[] = {"\\p{N}", RE_GPT2};
static const char *const re_qwen2[] = {RE_QWEN2};
#define RE_PORO " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
static const char *const re_poro[] = {RE_PORO};
static const char *const re_viking[] = {RE_PORO, "\\p{N}"};

typedef struct {
    const char *const *re;
    int n;
} re_list;

#define LIST(a) {a, (int)(sizeof a / sizeof a[0])}
static const re_list pre_lists[] = {
    [TOK_PRE_DEFAULT] = LIST(re_default),         [TOK_PRE_GPT2] = LIST(re_gpt2),
    [TOK_PRE_LLAMA3] = LIST(re_llama3),           [TOK_PRE_DEEPSEEK_LLM] = LIST(re_deepseek_llm),
    [TOK_PRE_DEEPSEEK_CODER] = LIST(re_deepseek_coder), [TOK_PRE_FALCON] = LIST(re_falcon),
    [TOK_PRE_STARCODER] = LIST(re_starcoder),     [TOK_PRE_QWEN2] = LIST(re_qwen2),
    [TOK_PRE_PORO] = LIST(re_poro),               [TOK_PRE_VIKING] = LIST(re_viking),
};

/* llama.cpp's "tokenizer.ggml.pre" names (llama_vocab::impl::load). */
static const struct {
    const char *name;
    tok_pre pre;
} pre_names[] = {
    {"default", TOK_PRE_DEFAULT},      {"llama3", TOK_PRE_LLAMA3},          {"llama-v3", TOK_PRE_LLAMA3},
    {"llama-bpe", TOK_PRE_LLAMA3},     {"falcon3", TOK_PRE_LLAMA3},         {"dbrx", TOK_PRE_LLAMA3},
    {"smaug-bpe", TOK_PRE_LLAMA3},     {"chatglm-bpe", TOK_PRE_LLAMA3},     {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER},                             {"falcon", TOK_PRE_FALCON},
    {"mpt", TOK_PRE_GPT2},             {"starcoder", TOK_PRE_STARCODER},    {"gpt-2", TOK_PRE_GPT2},
    {"phi-2", TOK_PRE_GPT2},           {"jina-es", TOK_PRE_GPT2},           {"jina-de", TOK_PRE_GPT2},
    {"gigachat", TOK_PRE_GPT2},        {"jina-v1-en", TOK_PRE_GPT2},        {"jina-v2-es", TOK_PRE_GPT2},
    {"jina-v2-de", TOK_PRE_GPT2},      {"jina-v2-code", TOK_PRE_GPT2},      {"roberta-bpe", TOK_PRE_GPT2},
    {"refact", TOK_PRE_STARCODER},     {"command-r", TOK_PRE_STARCODER},    {"qwen2", TOK_PRE_QWEN2},
    {"stablelm2", TOK_PRE_QWEN2},      {"olmo", TOK_PRE_GPT2},              {"poro-chat", TOK_PRE_PORO},
    {"viking", TOK_PRE_VIKING},        {"jais", TOK_PRE_GPT2},              {"smollm", TOK_PRE_STARCODER},
    {"codeshell", TOK_PRE_STARCODER},  {"bloom", TOK_PRE_PORO},             {"gpt3-finnish", TOK_PRE_PORO},
    {"exaone", TOK_PRE_STARCODER},     {"minerva-7b", TOK_PRE_STARCODER},   {"megrez", TOK_PRE_QWEN2},
};

int tok_pre_from_name(const char *name) {
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (!strcmp(name, pre_names[i].name)) return (int)pre_names[i].pre;
    return -1;
}

/* HF tokenizer.json Split regexes that are, for llama.cpp, one of its lists. */
int tok_pre_from_regexes(const char *const *re, int n) {
    if (n != 1) return -1;
    if (!strcmp(re[0], RE_LLAMA3_HF) || !strcmp(re[0], RE_LLAMA3)) return TOK_PRE_LLAMA3;
    if (!strcmp(re[0], RE_QWEN2_HF) || !strcmp(re[0], RE_QWEN2)) return TOK_PRE_QWEN2;
    if (!strcmp(re[0], RE_GPT2_HF) || !strcmp(re[0], RE_GPT2)) return TOK_PRE_GPT2;
    return -1;
}

/* llama.cpp's collapsed form of a regex: \p{N}, \p{L}, \p{P} become classes
 * holding their marker byte and their ASCII members. */
static char *collapse_regex(const char *re) {
    static const struct {
        char cat;
        const char *cls;
    } ucat[] = {{'N', "\3210-9"}, {'L', "\322A-Za-z"}, {'P', "\323!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"}};
    sb o;
    sb_init(&o);
    size_t n = strlen(re);
    int inside = 0;
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
            sb_putc(&o, '[');
            inside = 1;
            continue;
        }
        if (inside && re[i] == ']' && re[i - 1] != '\\') {
            sb_putc(&o, ']');
            inside = 0;
            continue;
        }
        if (re[i] == '\\' && i + 4 < n && re[i + 1] == 'p' && re[i + 2] == '{' && re[i + 4] == '}') {
            size_t k = 0;
            while (k < 3 && ucat[k].cat != re[i + 3]) k++;
            if (k < 3) {
                if (!inside) sb_putc(&o, '[');
                sb_puts(&o, ucat[k].cls);
                if (!inside) sb_putc(&o, ']');
                i += 4;
                continue;
            }
        }
        sb_putc(&o, re[i]);
    }
    return sb_take(&o);
}

static int uses_categories(const char *re) {
    return strstr(re, "\\p{N}") || strstr(re, "\\p{L}") || strstr(re, "\\p{P}");
}

static int compile_split(tok_split *s, const char *re, int foreign, const char *file, cj_err *e) {
    s->re = NULL;
    if (!foreign && !strcmp(re, RE_GPT2)) {
        s->kind = SPLIT_GPT2;
        return 0;
    }
    if (!foreign && (!strcmp(re, RE_LLAMA3) || !strcmp(re, RE_LLAMA3_HF))) {
        s->kind = SPLIT_LLAMA3;
        return 0;
    }
    char *owned = NULL;
    uint32_t opts = PCRE2_DOLLAR_ENDONLY;
    if (foreign) {
        s->kind = SPLIT_UCP;
        opts |= PCRE2_UTF | PCRE2_UCP;
    } else if (uses_categories(re)) {
        s->kind = SPLIT_COLLAPSED;
        re = owned = collapse_regex(re);
    } else {
        s->kind = SPLIT_WIDE;
        opts |= PCRE2_UTF;
    }
    int err;
    PCRE2_SIZE at;
    s->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts, &err, &at, NULL);
    free(owned);
    if (!s->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return cj_fail(e, "%s: pre-tokenizer regex does not compile at offset %zu: %s", file, (size_t)at,
                       (const char *)msg);
    }
    pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
    return 0;
}

int tok_pretok_init(tokenizer *t, tok_pre pre, const char *const *regexes, int n, cj_err *e) {
    int foreign = pre == TOK_PRE_CUSTOM;
    if (!foreign) {
        regexes = pre_lists[pre].re;
        n = pre_lists[pre].n;
    }
    t->pre = pre;
    t->splits = cj_xcalloc((size_t)(n > 0 ? n : 1), sizeof *t->splits);
    for (int i = 0; i < n; i++) {
        if (compile_split(&t->splits[i], regexes[i], foreign, t->name, e)) return -1;
        t->n_splits = i + 1;
    }
    return 0;
}

void tok_pretok_free(tokenizer *t) {
    for (int i = 0; i < t->n_splits; i++) pcre2_code_free(t->splits[i].re);
    free(t->splits);
    t->splits = NULL;
    t->n_splits = 0;
}

void tok_work_free(tok_work *w) {
    free(w->sym);
    free(w->heap);
    free(w->buf);
    free(w->cpts);
    free(w->offs);
    free(w->offs2);
    free(w->subj);
    free(w->subj_cp);
    free(w->cp_byte);
    pcre2_match_data_free(w->match_data);
}

/* ---- the hand-written splitters (llama.cpp's custom GPT-2 / Llama 3) ---- */

#define OOR 0xFFFFFFFFu /* a position outside the fragment */

typedef struct {
    const uint32_t *cpts;
    size_t ini, end, prev_end; /* fragment [ini, end); end of the last word */
    tok_work *w;
} frag;

/* Class bits of a position: 0 outside the fragment, as llama.cpp's empty flags. */
enum { F_DEF = 1, F_LETTER = 2, F_NUMBER = 4, F_SPACE = 8 };

static uint32_t cpt_at(const frag *f, size_t pos) { return pos >= f->ini && pos < f->end ? f->cpts[pos] : OOR; }

static int flags_at(const frag *f, size_t pos) {
    if (pos < f->ini || pos >= f->end) return 0;
    uint32_t c = f->cpts[pos];
    int cat = tok_ucat(c);
    return F_DEF | (cat == TOK_UCAT_LETTER ? F_LETTER : 0) | (cat == TOK_UCAT_NUMBER ? F_NUMBER : 0) |
           (tok_uspace(c) ? F_SPACE : 0);
}

static void push_off(tok_work *w, size_t len) {
    tok_grow((void **)&w->offs2, &w->cap_offs2, w->n_offs + 1, sizeof *w->offs2);
    w->offs2[w->n_offs++] = len;
}

/* Ends a word at `end`; returns its length. */
static size_t add_word(frag *f, size_t end) {
    size_t len = end - f->prev_end;
    if (len) push_off(f->w, len);
    f->prev_end = end;
    return len;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at pos (case-insensitive for Llama 3): the length, or 0. */
static size_t contraction(const frag *f, size_t pos, int icase) {
    if (cpt_at(f, pos) != '\'' || pos + 1 >= f->end) return 0;
    uint32_t a = cpt_at(f, pos + 1);
    if (icase) a = ascii_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= f->end) return 0;
    uint32_t b = cpt_at(f, pos + 2);
    if (icase) b = ascii_lower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

#define NOT_WLN(fl) (!((fl) & (F_SPACE | F_LETTER | F_NUMBER)))

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(frag *f) {
    for (size_t pos = f->ini; pos < f->end;) {
        uint32_t cpt = cpt_at(f, pos);
        int flags = flags_at(f, pos);
        size_t c = contraction(f, pos, 0);
        if (c) {
            pos += add_word(f, pos + c);
            continue;
        }
        int flags2 = cpt == ' ' ? flags_at(f, pos + 1) : flags;
        if (flags2 & F_LETTER) {
            pos += cpt == ' ';
            while (flags2 & F_LETTER) flags2 = flags_at(f, ++pos);
            add_word(f, pos);
            continue;
        }
        if (flags2 & F_NUMBER) {
            pos += cpt == ' ';
            while (flags2 & F_NUMBER) flags2 = flags_at(f, ++pos);
            add_word(f, pos);
            continue;
        }
        if (NOT_WLN(flags2) && flags2) {
            pos += cpt == ' ';
            while (NOT_WLN(flags2) && flags2) flags2 = flags_at(f, ++pos);
            add_word(f, pos);
            continue;
        }
        size_t nws = 0;
        while (flags_at(f, pos + nws) & F_SPACE) nws++;
        if (nws > 1 && cpt_at(f, pos + nws) != OOR) { /* \s+(?!\S): leave the last one to the next word */
            pos += nws - 1;
            add_word(f, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_word(f, pos);
            continue;
        }
        add_word(f, ++pos);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(frag *f) {
    for (size_t pos = f->ini; pos < f->end;) {
        uint32_t cpt = cpt_at(f, pos);
        int flags = flags_at(f, pos);
        size_t c = contraction(f, pos, 1);
        if (c) {
            pos += add_word(f, pos + c);
            continue;
        }
        if (!(cpt == '\r' || cpt == '\n' || (flags & F_NUMBER))) {
            if ((flags & F_LETTER) || (flags_at(f, pos + 1) & F_LETTER)) {
                pos++;
                while (flags_at(f, pos) & F_LETTER) pos++;
                add_word(f, pos);
                continue;
            }
        }
        if (flags & F_NUMBER) {
            size_t ini = pos;
            while (flags_at(f, pos) & F_NUMBER) {
                if (++pos - ini >= 3) {
                    add_word(f, pos);
                    ini = pos;
                }
            }
            add_word(f, pos);
            continue;
        }
        int flags2 = cpt == ' ' ? flags_at(f, pos + 1) : flags;
        if (NOT_WLN(flags2) && flags) {
            pos += cpt == ' ';
            while (NOT_WLN(flags2) && flags2) flags2 = flags_at(f, ++pos);
            uint32_t c2 = cpt_at(f, pos);
            while (c2 == '\r' || c2 == '\n') c2 = cpt_at(f, ++pos);
            add_word(f, pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (flags_at(f, pos + nws) & F_SPACE) {
            uint32_t c2 = cpt_at(f, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) { /* \s*[\r\n]+ */
            pos = last_rn;
            add_word(f, pos);
            continue;
        }
        if (nws > 1 && cpt_at(f, pos + nws) != OOR) {
            pos += nws - 1;
            add_word(f, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_word(f, pos);
            continue;
        }
        add_word(f, ++pos);
    }
}

/* ---- regex splitting ---- */

/* The subject for a PCRE2 rule, from all code points of the text, with the
 * maps between its byte offsets and code point indices. */
static size_t build_subject(tok_work *w, split_kind kind) {
    size_t n = w->n_cpts, len = 0;
    tok_grow((void **)&w->subj, &w->cap_subj, 4 * n + 1, 1);
    tok_grow((void **)&w->subj_cp, &w->cap_subj_cp, 4 * n + 1, sizeof *w->subj_cp);
    tok_grow((void **)&w->cp_byte, &w->cap_cp_byte, n + 1, sizeof *w->cp_byte);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = w->cpts[i];
        size_t k;
        w->cp_byte[i] = len;
        if (kind == SPLIT_COLLAPSED) {
            static const char cat_byte[4] = {(char)0xD0, (char)0xD2, (char)0xD1, (char)0xD3};
            w->subj[len] = c < 128 ? (char)c : tok_uspace(c) ? 0x0B : cat_byte[tok_ucat(c)];
            k = 1;
        } else {
            if (kind == SPLIT_WIDE && c > 0x7F && tok_uspace(c)) c = 0x0B; /* what llama.cpp feeds std::wregex */
            if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = 0xFFFD; /* not UTF-8; no rule matches them */
            k = tok_utf8_encode(c, w->subj + len);
        }
        for (size_t j = 0; j < k; j++) w->subj_cp[len + j] = (uint32_t)i;
        len += k;
    }
    w->cp_byte[n] = len;
    w->subj_cp[len] = (uint32_t)n;
    w->subj[len] = 0;
    return len;
}

static int match_at(const tok_split *s, tok_work *w, const char *subj, size_t len, size_t start, uint32_t opts,
                    size_t *ms, size_t *me, const char *file, cj_err *e) {
    pcre2_match_data *md = w->match_data;
    int rc = pcre2_match(s->re, (PCRE2_SPTR)subj, len, start, opts | PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(s->re, (PCRE2_SPTR)subj, len, start, opts | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return cj_fail(e, "%s: pre-tokenizer regex failed: %s", file, (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* Splits each word in[0..n_in) by the rule's matches, as std::regex_iterator
 * over each word does in llama.cpp: matches and the gaps between them become
 * words (appended with push_off); empty matches make none. */
static int split_regex(const tok_split *s, tok_work *w, const size_t *in, size_t n_in, const char *file, cj_err *e) {
    build_subject(w, s->kind);
    if (!w->match_data) w->match_data = pcre2_match_data_create(1, NULL);
    if (!w->match_data) return cj_fail(e, "%s: out of memory for regex match data", file);
    size_t cp0 = 0;
    for (size_t k = 0; k < n_in; k++) {
        size_t cp1 = cp0 + in[k], b0 = w->cp_byte[cp0];
        const char *sub = w->subj + b0;
        size_t slen = w->cp_byte[cp1] - b0, pos = 0, last_cp = cp0;
        uint32_t opts = 0;
        while (pos <= slen) {
            size_t ms = 0, me = 0;
            int r = match_at(s, w, sub, slen, pos, opts, &ms, &me, file, e);
            if (r < 0) return -1;
            if (r == 0) break;
            if (me == ms) { /* empty: look for a non-empty match from here, then step on */
                if (opts) {
                    if (pos >= slen) break;
                    pos += s->kind == SPLIT_COLLAPSED ? 1 : tok_utf8_len((unsigned char)sub[pos]);
                    opts = 0;
                } else {
                    opts = PCRE2_NOTEMPTY_ATSTART;
                }
                continue;
            }
            opts = 0;
            size_t cs = w->subj_cp[b0 + ms], ce = w->subj_cp[b0 + me];
            if (cs > last_cp) push_off(w, cs - last_cp);
            push_off(w, ce - cs);
            last_cp = ce;
            pos = me;
        }
        if (last_cp < cp1) push_off(w, cp1 - last_cp);
        cp0 = cp1;
    }
    return 0;
}

/* ---- the whole path: text -> words -> ids ---- */

static void decode_text(tok_work *w, const char *text, size_t len) {
    tok_grow((void **)&w->cpts, &w->cap_cpts, len + 1, sizeof *w->cpts);
    size_t n = 0, off = 0;
    while (off < len) {
        size_t adv;
        w->cpts[n++] = tok_utf8_decode((const unsigned char *)text + off, len - off, &adv);
        off += adv;
    }
    w->n_cpts = n;
}

/* One word's code points as UTF-8, each byte as its GPT-2 character. */
static size_t encode_word(tok_work *w, const uint32_t *cp, size_t n) {
    tok_grow((void **)&w->buf, &w->cap_buf, 8 * n + 1, 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        size_t k = tok_utf8_encode(cp[i], u);
        for (size_t j = 0; j < k; j++) len += tok_utf8_encode(tok_byte_to_cp((unsigned char)u[j]), w->buf + len);
    }
    return len;
}

int tok_bpe_encode(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out, cj_err *e) {
    decode_text(w, text, len);
    tok_grow((void **)&w->offs, &w->cap_offs, 1, sizeof *w->offs);
    w->offs[0] = w->n_cpts;
    size_t n_words = 1;
    for (int i = 0; i < t->n_splits; i++) { /* each rule reads w->offs, writes w->offs2 */
        const tok_split *s = &t->splits[i];
        w->n_offs = 0;
        if (s->kind == SPLIT_GPT2 || s->kind == SPLIT_LLAMA3) {
            size_t start = 0;
            for (size_t k = 0; k < n_words; k++) {
                frag f = {w->cpts, start, start + w->offs[k], start, w};
                if (s->kind == SPLIT_GPT2) split_gpt2(&f);
                else split_llama3(&f);
                start += w->offs[k];
            }
        } else if (split_regex(s, w, w->offs, n_words, t->name, e)) {
            return -1;
        }
        size_t *tmp = w->offs, c = w->cap_offs;
        w->offs = w->offs2;
        w->cap_offs = w->cap_offs2;
        w->offs2 = tmp;
        w->cap_offs2 = c;
        n_words = w->n_offs;
    }
    size_t start = 0;
    for (size_t k = 0; k < n_words; k++) {
        size_t blen = encode_word(w, w->cpts + start, w->offs[k]);
        tok_bpe_encode_word(t, w, w->buf, blen, out);
        start += w->offs[k];
    }
    return 0;
}
