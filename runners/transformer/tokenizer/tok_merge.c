/* tok_merge — the merge engines: SentencePiece-style merges by score
 * (llama.cpp's llm_tokenizer_spm) and BPE merges by rank (llama.cpp's
 * llm_tokenizer_bpe; HF's BPE model for SPM-style tokenizer.json files).
 *
 * Both keep the text as a linked list of symbols (initially one per UTF-8
 * character) and a max-heap of candidate merges of neighbours: the best key
 * first, the leftmost on ties. A merge whose symbols changed since it was
 * queued is stale and skipped: its byte size no longer matches, since a symbol
 * only grows by absorbing its right neighbour. Each merge is O(log n). */
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "tok_internal.h"

void tok_grow(void **p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap) return;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    *p = cj_xrealloc(*p, c * sz);
    *cap = c;
}

void tok_ids_push(tok_ids *o, int id) {
    if (o->n == o->cap) tok_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v);
    o->v[o->n++] = id;
}

/* ---- heap ---- */

static int better(const tok_bigram *a, const tok_bigram *b) { return a->key > b->key; }

/* Score s maps to a 32-bit integer in the same order (-0 and +0 tie, as
 * floats do); the left index is inverted so that smaller is better. */
static uint64_t score_key(float s, int left) {
    uint32_t u;
    if (s == 0.0f) s = 0.0f;
    memcpy(&u, &s, 4);
    u = u >> 31 ? ~u : u | 0x80000000u;
    return (uint64_t)u << 32 | (uint32_t)~(uint32_t)left;
}

static uint64_t rank_key(int rank, int left) { return (uint64_t)(uint32_t)~(uint32_t)rank << 32 | (uint32_t)~(uint32_t)left; }

static void heap_push(tok_work *w, tok_bigram bg) {
    tok_grow((void **)&w->heap, &w->cap_heap, w->n_heap + 1, sizeof *w->heap);
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&bg, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = bg;
}

static tok_bigram heap_pop(tok_work *w) {
    tok_bigram top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&w->heap[c + 1], &w->heap[c])) c++;
        if (!better(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* ---- symbols ---- */

/* One symbol per UTF-8 character; a truncated or stray byte is a character
 * of its own (the lead byte's announced length, capped at the end). */
static void split_chars(tok_work *w, const char *text, size_t len) {
    w->n_sym = 0;
    w->n_heap = 0;
    size_t off = 0;
    while (off < len) {
        size_t n = tok_utf8_len((unsigned char)text[off]);
        if (n > len - off) n = len - off;
        tok_grow((void **)&w->sym, &w->cap_sym, w->n_sym + 1, sizeof *w->sym);
        int idx = (int)w->n_sym;
        w->sym[w->n_sym++] = (tok_sym){idx - 1, off + n == len ? -1 : idx + 1, (uint32_t)off, (uint32_t)n};
        off += n;
    }
}

/* Merges the popped bigram's right symbol into its left one. */
static void merge_pair(tok_work *w, const tok_bigram *bg) {
    tok_sym *l = &w->sym[bg->left], *r = &w->sym[l->next];
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) w->sym[r->next].prev = (int)bg->left;
}

/* A bigram is stale once either symbol changed: the left one was absorbed
 * (n == 0) or either grew (the sizes no longer add up). Its right symbol is
 * always the left one's current neighbour, as only the left one can absorb it. */
static int stale(const tok_work *w, const tok_bigram *bg) {
    const tok_sym *l = &w->sym[bg->left];
    return l->n == 0 || l->next < 0 || (size_t)l->n + w->sym[l->next].n != bg->size;
}

/* ---- SPM by score ---- */

static void spm_try(const tokenizer *t, tok_work *w, const char *text, int left, int right) {
    if (left < 0 || right < 0) return;
    const tok_sym *l = &w->sym[left], *r = &w->sym[right];
    size_t size = (size_t)l->n + r->n; /* r follows l in the text */
    int id = tok_lookup(t, text + l->off, size);
    if (id < 0) return;
    heap_push(w, (tok_bigram){score_key(t->tok[id].score, left), (uint32_t)left, (uint32_t)size});
}

/* A symbol that is no token: its bytes, through byte fallback. */
static void spm_bytes(const tokenizer *t, const char *s, size_t n, tok_ids *out) {
    for (size_t j = 0; j < n; j++) {
        int id = t->byte_id[(unsigned char)s[j]];
        if (id < 0) id = t->unk; /* llama.cpp would throw here; a vocabulary without bytes gets unk */
        if (id >= 0) tok_ids_push(out, id);
    }
}

static void spm_by_score(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out) {
    if (!len) return;
    split_chars(w, text, len);
    for (int i = 1; i < (int)w->n_sym; i++) spm_try(t, w, text, i - 1, i);
    while (w->n_heap) {
        tok_bigram bg = heap_pop(w);
        if (stale(w, &bg)) continue;
        merge_pair(w, &bg);
        int left = (int)bg.left;
        spm_try(t, w, text, w->sym[left].prev, left);
        spm_try(t, w, text, left, w->sym[left].next);
    }
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const tok_sym *s = &w->sym[i];
        int id = tok_lookup(t, text + s->off, s->n);
        if (id >= 0) tok_ids_push(out, id);
        else spm_bytes(t, text + s->off, s->n, out);
    }
}

/* ---- BPE by rank ---- */

static void rank_try(const tokenizer *t, tok_work *w, const char *text, int left, int right) {
    if (left < 0 || right < 0) return;
    const tok_sym *l = &w->sym[left], *r = &w->sym[right];
    int rank = tok_merge_rank(t, text + l->off, l->n, text + r->off, r->n);
    if (rank < 0) return;
    heap_push(w, (tok_bigram){rank_key(rank, left), (uint32_t)left, l->n + r->n});
}

static void merge_by_rank(const tokenizer *t, tok_work *w, const char *text, size_t len) {
    split_chars(w, text, len);
    for (int i = 1; i < (int)w->n_sym; i++) rank_try(t, w, text, i - 1, i);
    while (w->n_heap) {
        tok_bigram bg = heap_pop(w);
        if (stale(w, &bg)) continue;
        merge_pair(w, &bg);
        int left = (int)bg.left;
        rank_try(t, w, text, w->sym[left].prev, left);
        rank_try(t, w, text, left, w->sym[left].next);
    }
}

/* HF's BPE model: a symbol that is no token becomes its <0xXX> byte tokens
 * (when every byte has one), else unk, consecutive unks fused if asked. */
static void spm_by_rank(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out) {
    if (!len) return;
    merge_by_rank(t, w, text, len);
    int prev_unk = 0;
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const tok_sym *s = &w->sym[i];
        int id = tok_lookup(t, text + s->off, s->n);
        if (id >= 0) {
            tok_ids_push(out, id);
            prev_unk = 0;
            continue;
        }
        if (t->byte_fallback) {
            size_t j = 0;
            while (j < s->n && t->byte_id[(unsigned char)text[s->off + j]] >= 0) j++;
            if (j == s->n) {
                for (j = 0; j < s->n; j++) tok_ids_push(out, t->byte_id[(unsigned char)text[s->off + j]]);
                prev_unk = 0;
                continue;
            }
        }
        if (t->unk >= 0 && !(t->fuse_unk && prev_unk)) tok_ids_push(out, t->unk);
        prev_unk = 1;
    }
}

void tok_spm_encode(const tokenizer *t, tok_work *w, const char *text, size_t len, tok_ids *out) {
    if (t->spm_by_rank) spm_by_rank(t, w, text, len, out);
    else spm_by_score(t, w, text, len, out);
}

void tok_bpe_encode_word(const tokenizer *t, tok_work *w, const char *word, size_t len, tok_ids *out) {
    if (!len) return;
    int whole = t->ignore_merges ? tok_lookup(t, word, len) : -1;
    if (whole >= 0) {
        tok_ids_push(out, whole);
        return;
    }
    merge_by_rank(t, w, word, len);
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const tok_sym *s = &w->sym[i];
        int id = tok_lookup(t, word + s->off, s->n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (size_t j = 0; j < s->n; j++) { /* llama.cpp: each byte, if it is a token by itself */
            id = tok_lookup(t, word + s->off + j, 1);
            if (id >= 0) tok_ids_push(out, id);
        }
    }
}
