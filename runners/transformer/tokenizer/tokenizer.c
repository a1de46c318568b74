/* tokenizer — encoding and decoding; the loaders are in tok_load.c and
 * tok_hf.c, the merge engines in tok_merge.c, the pre-tokenizer in
 * tok_pretok.c (see tok_internal.h for the whole path). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Texts beyond this are refused: it keeps every offset in 32 bits, the
 * number of ids (at most 6 per input byte) in an int, and the scratch
 * memory (about 40 bytes per input byte) bounded. */
#define TOK_MAX_TEXT ((size_t)1 << 26)

void tok_free(tokenizer *t) {
    if (!t) return;
    tok_pretok_free(t);
    free(t->tok);
    free(t->arena);
    free(t->hash);
    free(t->merges);
    free(t->merge_arena);
    free(t->merge_hash);
    free(t->user_ids);
    free(t->special_ids);
    free(t->eog);
    free(t->desc);
    free(t->name);
    free(t);
}

/* ---- user-defined tokens ---- */

typedef struct {
    int id;          /* a token, or -1 for raw text */
    size_t off, len; /* raw text span */
} frag_t;

typedef struct {
    frag_t *v;
    size_t n, cap;
} frags;

static void frag_push(frags *f, int id, size_t off, size_t len) {
    tok_grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v);
    f->v[f->n++] = (frag_t){id, off, len};
}

static int c_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Splits every occurrence of piece p out of the raw fragments of in, into out
 * (llama.cpp's tokenizer_st_partition for one token). */
static void split_out(const char *text, const frags *in, frags *out, int id, const char *p, size_t plen,
                      uint32_t attr) {
    out->n = 0;
    for (size_t k = 0; k < in->n; k++) {
        frag_t f = in->v[k];
        if (f.id >= 0) {
            frag_push(out, f.id, 0, 0);
            continue;
        }
        size_t off = f.off, len = f.len;
        const char *m;
        while (len >= plen && (m = memmem(text + off, len, p, plen))) {
            size_t at = (size_t)(m - text), left = at - off;
            if (attr & TOK_ATTR_LSTRIP)
                while (left > 0 && c_isspace(text[off + left - 1])) left--;
            if (left) frag_push(out, -1, off, left);
            frag_push(out, id, 0, 0);
            size_t roff = at + plen, rlen = off + len - roff;
            if (attr & TOK_ATTR_RSTRIP)
                while (rlen > 0 && c_isspace(text[roff])) roff++, rlen--;
            off = roff;
            len = rlen;
        }
        if (len) frag_push(out, -1, off, len);
    }
}

/* The raw text as fragments: text and the user-defined tokens found in it
 * (with parse_special, the control tokens too), the longest tokens split
 * out first. Tokens whose first two bytes never occur in the text are
 * skipped without a search. */
static void partition(const tokenizer *t, const char *text, size_t len, int parse_special, frags *a, frags *b) {
    const int *ids = parse_special ? t->special_ids : t->user_ids;
    int n_ids = parse_special ? t->n_special : t->n_user;
    a->n = 0;
    frag_push(a, -1, 0, len);
    if (!n_ids) return;
    unsigned char seen1[32] = {0}, seen2[8192] = {0}; /* bytes and byte pairs present */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        seen1[c >> 3] |= (unsigned char)(1u << (c & 7));
        if (i + 1 < len) {
            unsigned pair = (unsigned)c << 8 | (unsigned char)text[i + 1];
            seen2[pair >> 3] |= (unsigned char)(1u << (pair & 7));
        }
    }
    for (int k = 0; k < n_ids; k++) {
        int id = ids[k];
        const tok_entry *te = &t->tok[id];
        const unsigned char *p = (const unsigned char *)t->arena + te->off;
        if (te->len > len || !(seen1[p[0] >> 3] >> (p[0] & 7) & 1)) continue;
        if (te->len >= 2) {
            unsigned pair = (unsigned)p[0] << 8 | p[1];
            if (!(seen2[pair >> 3] >> (pair & 7) & 1)) continue;
        }
        split_out(text, a, b, id, (const char *)p, te->len, te->attr);
        frags tmp = *a;
        *a = *b;
        *b = tmp;
    }
}

/* ---- encode ---- */

/* SPM text of one fragment: " " first when asked, then spaces as "▁". */
static size_t spm_escape(tok_work *w, const char *s, size_t n, int prefix) {
    tok_grow((void **)&w->buf, &w->cap_buf, 3 * (n + 1) + 1, 1);
    size_t o = 0;
    for (size_t i = 0; i < n + (size_t)prefix; i++) {
        char c = i < (size_t)prefix ? ' ' : s[i - (size_t)prefix];
        if (c == ' ') {
            memcpy(w->buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            w->buf[o++] = c;
        }
    }
    return o;
}

int tok_encode(const tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n, cj_err *e) {
    return tok_encode_ex(t, text, len, add_bos, 0, ids, n, e);
}

int tok_encode_ex(const tokenizer *t, const char *text, size_t len, int add_bos, int parse_special, int **ids, int *n,
                  cj_err *e) {
    *ids = NULL;
    *n = 0;
    if (len > TOK_MAX_TEXT) return cj_fail(e, "%s: text of %zu bytes is too long to tokenize", t->name, len);
    if (!text) len = 0;
    tok_ids out = {0};
    tok_work w;
    memset(&w, 0, sizeof w);
    frags a = {0}, b = {0};
    int rc = 0;
    if (add_bos && t->bos >= 0) tok_ids_push(&out, t->bos);
    if (len) partition(t, text, len, parse_special, &a, &b);
    int prev_special = 1; /* SPM: a fragment at the start or after a token gets the " " prefix */
    for (size_t k = 0; k < a.n && !rc; k++) {
        const frag_t *f = &a.v[k];
        if (f->id >= 0) {
            tok_ids_push(&out, f->id);
            prev_special = 1;
        } else if (t->kind == TOK_SPM) {
            size_t el = spm_escape(&w, text + f->off, f->len, t->add_space_prefix && prev_special);
            tok_spm_encode(t, &w, w.buf, el, &out);
            prev_special = 0;
        } else {
            rc = tok_bpe_encode(t, &w, text + f->off, f->len, &out, e);
        }
    }
    tok_work_free(&w);
    free(a.v);
    free(b.v);
    if (rc) {
        free(out.v);
        return -1;
    }
    if (!out.v) out.v = cj_xmalloc(sizeof *out.v); /* a valid pointer even for no ids */
    *ids = out.v;
    *n = (int)out.n;
    return 0;
}

/* ---- decode ---- */

/* The byte of a "<0xXX>" piece (llama.cpp reads the two characters after
 * "<0x"), or -1 if the piece has no hex digit there. */
static int byte_of_piece(const char *p, size_t len) {
    if (len < 4 || memcmp(p, "<0x", 3)) return -1;
    int v = 0, k = 0;
    for (size_t i = 3; i < len && i < 5; i++, k++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + d;
    }
    return k ? v : -1;
}

/* Appends the text of one token the way llama.cpp's token_to_piece does
 * with special = false. */
static void render(const tokenizer *t, int id, sb *out) {
    const tok_entry *te = &t->tok[id];
    const char *p = t->arena + te->off;
    if (te->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) return;
    if (te->attr & TOK_ATTR_USER_DEFINED) {
        sb_putn(out, p, te->len);
        return;
    }
    if (t->kind == TOK_SPM) {
        if (te->attr & TOK_ATTR_BYTE) {
            int b = byte_of_piece(p, te->len);
            if (b >= 0) sb_putc(out, (char)b);
        } else if (te->attr & TOK_ATTR_NORMAL) {
            for (size_t i = 0; i < te->len; i++) {
                if (i + 3 <= te->len && !memcmp(p + i, "\xe2\x96\x81", 3)) {
                    sb_putc(out, ' ');
                    i += 2;
                } else {
                    sb_putc(out, p[i]);
                }
            }
        }
        return;
    }
    if (!(te->attr & TOK_ATTR_NORMAL)) return;
    for (size_t off = 0; off < te->len;) { /* GPT-2 characters back to bytes */
        size_t adv;
        uint32_t cp = tok_utf8_decode((const unsigned char *)p + off, te->len - off, &adv);
        int byte = tok_cp_to_byte(cp);
        if (byte >= 0) sb_putc(out, (char)byte);
        else sb_putn(out, p + off, adv); /* not of the alphabet: kept as written */
        off += adv;
    }
}

void tok_decode(const tokenizer *t, const int *ids, int n, int strip_leading_space, sb *out) {
    int strip = strip_leading_space;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) continue;
        size_t before = out->len;
        render(t, ids[i], out);
        if (!strip || out->len == before) continue;
        if (out->s[before] == ' ') {
            memmove(out->s + before, out->s + before + 1, out->len - before); /* NUL included */
            out->len--;
        }
        strip = 0;
    }
}

/* ---- accessors ---- */

const char *tok_piece(const tokenizer *t, int id) {
    return id >= 0 && id < t->n_vocab ? t->arena + t->tok[id].off : NULL;
}
int tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int tok_bos(const tokenizer *t) { return t->bos; }
int tok_eos(const tokenizer *t) { return t->eos; }

int tok_is_eog(const tokenizer *t, int id) {
    int lo = 0, hi = t->n_eog;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->eog[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->n_eog && t->eog[lo] == id;
}
int tok_add_bos(const tokenizer *t) { return t->add_bos; }
tok_kind tok_get_kind(const tokenizer *t) { return t->kind; }
const char *tok_describe(const tokenizer *t) { return t->desc; }
