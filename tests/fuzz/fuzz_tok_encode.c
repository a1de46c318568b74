/* libFuzzer target: tok_encode and tok_decode on arbitrary bytes (invalid
 * UTF-8 included) with real vocabularies loaded once at start-up: two SPM
 * ones scored by merge score (stories260K tok512.bin, llama-spm GGUF), one
 * SPM merged by rank (the Mistral-style tokenizer.json), two byte-level BPE
 * ones (gpt-2 GGUF, Llama 3 tokenizer.json). The first byte picks the
 * vocabulary (low 3 bits) and add_bos (bit 3); the rest is the text.
 *
 * Invariants beyond "no crash": every id is in the vocabulary; a leading
 * BOS exactly when asked for and the vocabulary has one; and the round
 * trip decode(encode(text)) == text: for the byte-fallback SPM vocabularies
 * on any bytes once every U+2581 on both sides is read as a space (the
 * escaped space is a piece of its own only in valid UTF-8: a bad lead byte
 * swallows the bytes after it into one character, which falls back to byte
 * tokens, as in llama.cpp); for the byte-level ones on strictly valid UTF-8
 * (invalid sequences become U+FFFD, as in llama.cpp). */
#include "../../runners/transformer/formats/gguf.h"
#include "fuzz_util.h"

enum { N_VOCABS = 5 };
static tokenizer *vocabs[N_VOCABS];
static int round_trip[N_VOCABS]; /* 1: any bytes, U+2581 read as a space; 2: valid UTF-8 only */

static tokenizer *load(const char *rel, int kind) {
    char *p = fz_asset(rel);
    if (!p) {
        fprintf(stderr, "fuzz_tok_encode: %s not found under the assets folder\n", rel);
        abort();
    }
    tokenizer *t = NULL;
    cj_err e;
    int rc;
    if (kind == 0) {
        rc = tok_load_llama2c(p, 512, &t, &e);
    } else if (kind == 1) {
        gguf_ctx *g;
        rc = gguf_open(p, &g, &e);
        if (rc == 0) rc = tok_load_gguf(g, &t, &e);
        if (g) gguf_close(g);
    } else {
        rc = tok_load_hf_json(p, &t, &e);
    }
    if (rc != 0) {
        fprintf(stderr, "fuzz_tok_encode: %s\n", e.msg);
        abort();
    }
    free(p);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    vocabs[0] = load("models/stories260K/tok512.bin", 0), round_trip[0] = 1;
    vocabs[1] = load("vocab-gguf/ggml-vocab-llama-spm.gguf", 1), round_trip[1] = 1;
    vocabs[2] = load("tokenizers/hf/mistral-32k/tokenizer.json", 2), round_trip[2] = 1;
    vocabs[3] = load("vocab-gguf/ggml-vocab-gpt-2.gguf", 1), round_trip[3] = 2;
    vocabs[4] = load("tokenizers/hf/llama3/tokenizer.json", 2), round_trip[4] = 2;
    return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return 0;
        uint32_t cp = k == 1 ? c : c & (0x7f >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k;
    }
    return 1;
}

/* s[0..n) with every U+2581 replaced by a space, into out (cleared first). */
static void unescape(const char *s, size_t n, sb *out) {
    sb_clear(out);
    for (size_t i = 0; i < n; i++) {
        if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            sb_putc(out, ' ');
            i += 2;
        } else {
            sb_putc(out, s[i]);
        }
    }
}

static int same(const char *a, size_t an, const char *b, size_t bn) { return an == bn && !memcmp(a, b, an); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int which = (data[0] & 7) % N_VOCABS, add_bos = data[0] >> 3 & 1;
    const tokenizer *t = vocabs[which];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int *ids = NULL, n = 0;
    cj_err e;
    if (tok_encode(t, text, len, add_bos, &ids, &n, &e) != 0 || !ids) __builtin_trap();
    int nv = tok_n_vocab(t), bos = add_bos && tok_bos(t) >= 0;
    if (bos && (n < 1 || ids[0] != tok_bos(t))) __builtin_trap();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nv) __builtin_trap();
    sb out;
    sb_init(&out);
    int spm = tok_get_kind(t) == TOK_SPM;
    tok_decode(t, ids, n, spm, &out);
    if (round_trip[which] == 1) {
        sb a, b;
        sb_init(&a);
        sb_init(&b);
        unescape(text, len, &a);
        unescape(out.s, out.len, &b);
        if (!same(a.s, a.len, b.s, b.len)) __builtin_trap();
        sb_free(&a);
        sb_free(&b);
    } else if (valid_utf8((const uint8_t *)text, len) && !same(text, len, out.s, out.len)) {
        __builtin_trap();
    }
    sb_free(&out);
    free(ids);
    return 0;
}
