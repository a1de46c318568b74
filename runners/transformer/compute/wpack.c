/* wpack — weight matrices in groups of 8 outputs, k-major (wpack.h). */
#include "wpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../../common/sb.h"
#include "../formats/quant.h"

typedef struct {
    const void *data; /* the stored matrix: the key, with out and in */
    int out, in;
    void *pk; /* the copy, or NULL: not one to copy */
} entry;

struct wpack {
    int all;
    const cj_map *maps;
    int n_maps;
    entry *tab; /* open addressing on data; cap a power of two */
    size_t cap, used;
};

wpack *wpack_new(int all) {
    wpack *p = cj_xcalloc(1, sizeof *p);
    p->all = all;
    return p;
}

void wpack_free(wpack *p) {
    if (!p) return;
    for (size_t i = 0; i < p->cap; i++) free(p->tab[i].pk);
    free(p->tab);
    free(p);
}

void wpack_set_maps(wpack *p, const cj_map *maps, int n) {
    p->maps = maps;
    p->n_maps = n;
}

int wpack_supported(ggml_type t) {
    return t == GGML_F32 || t == GGML_F16 || t == GGML_Q8_0 || t == GGML_Q4_K || t == GGML_Q6_K;
}

/* Values of k per group-block of a block type (0: not a block type). */
static int block_k(ggml_type t) {
    switch (t) {
    case GGML_Q8_0:
    case GGML_Q4_K: return 32;
    case GGML_Q6_K: return 16;
    default: return 0;
    }
}

size_t wpack_group_bytes(ggml_type t, int in) {
    switch (t) {
    case GGML_F32: return (size_t)in * WPACK_G * sizeof(float);
    case GGML_F16: return (size_t)in * WPACK_G * sizeof(uint16_t);
    case GGML_Q8_0: return (size_t)(in / 32) * WPACK_QBLOCK;
    case GGML_Q4_K: return (size_t)(in / 32) * WPACK_Q4K_BLOCK;
    default: return (size_t)(in / 16) * WPACK_Q6K_BLOCK;
    }
}

/* --- building ------------------------------------------------------------------ */

static const uint8_t *row_of(const model_mat *w, int o) { return (const uint8_t *)w->data + (size_t)o * w->row_bytes; }

/* Group g of an F32 or F16 matrix (el: 4 or 2 bytes a value): value k of
 * output 8g + j at [k][j]. */
static void build_plain(const model_mat *w, int out, int in, int g, size_t el, uint8_t *dst) {
    const uint8_t *rows[WPACK_G];
    for (int j = 0; j < WPACK_G; j++) rows[j] = 8 * g + j < out ? row_of(w, 8 * g + j) : NULL;
    for (int k = 0; k < in; k++)
        for (int j = 0; j < WPACK_G; j++, dst += el)
            if (rows[j]) memcpy(dst, rows[j] + (size_t)k * el, el);
            else memset(dst, 0, el);
}

/* Group g of a Q8_0 matrix: per block of 32, the 8 scales as floats (the
 * conversion quant.c makes) and the 32 x 8 quants, k-major. */
static void build_q8_0(const model_mat *w, int out, int in, int g, uint8_t *dst) {
    for (int b = 0; b < in / 32; b++, dst += WPACK_QBLOCK) {
        float d[WPACK_G];
        int8_t *q = (int8_t *)(dst + sizeof d);
        for (int j = 0; j < WPACK_G; j++) {
            int o = 8 * g + j;
            const uint8_t *blk = o < out ? row_of(w, o) + (size_t)b * quant_block_bytes(GGML_Q8_0) : NULL;
            d[j] = blk ? quant_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)) : 0.0f;
            for (int kk = 0; kk < 32; kk++) q[kk * WPACK_G + j] = blk ? (int8_t)blk[2 + kk] : 0;
        }
        memcpy(dst, d, sizeof d);
    }
}

/* Group g of a Q4_K or Q6_K matrix, a super-block (256 values of k) of
 * its 8 rows at a time, taken apart by quant.c. */
static void build_k(const model_mat *w, int out, int in, int g, uint8_t *dst) {
    size_t bb = quant_block_bytes(w->type);
    for (int sb = 0; sb < in / 256; sb++) {
        float sc[WPACK_G][16], mn[WPACK_G][8] = {{0}};
        uint8_t q4[WPACK_G][256] = {{0}};
        int8_t q6[WPACK_G][256] = {{0}};
        for (int j = 0; j < WPACK_G; j++) {
            int o = 8 * g + j;
            memset(sc[j], 0, sizeof sc[j]);
            if (o >= out) continue;
            const uint8_t *blk = row_of(w, o) + (size_t)sb * bb;
            if (w->type == GGML_Q4_K) quant_q4_k_parts(blk, sc[j], mn[j], q4[j]);
            else quant_q6_k_parts(blk, sc[j], q6[j]);
        }
        if (w->type == GGML_Q4_K) {
            for (int b = 0; b < 8; b++, dst += WPACK_Q4K_BLOCK) {
                float *a = (float *)(void *)dst, *m = a + WPACK_G;
                for (int j = 0; j < WPACK_G; j++) {
                    a[j] = sc[j][b];
                    m[j] = mn[j][b];
                }
                for (int kk = 0; kk < 32; kk++)
                    for (int i = 0; i < WPACK_G / 2; i++)
                        dst[64 + 4 * kk + i] = (uint8_t)(q4[2 * i][32 * b + kk] | q4[2 * i + 1][32 * b + kk] << 4);
            }
        } else {
            for (int b = 0; b < 16; b++, dst += WPACK_Q6K_BLOCK) {
                float *a = (float *)(void *)dst;
                for (int j = 0; j < WPACK_G; j++) a[j] = sc[j][b];
                for (int kk = 0; kk < 16; kk++)
                    for (int j = 0; j < WPACK_G; j++) dst[32 + WPACK_G * kk + j] = (uint8_t)q6[j][16 * b + kk];
            }
        }
    }
}

static void *build(const model_mat *w, int out, int in) {
    size_t gb = wpack_group_bytes(w->type, in);
    int groups = (out + WPACK_G - 1) / WPACK_G;
    void *pk = NULL;
    if (posix_memalign(&pk, 64, gb * (size_t)groups)) cj_xmalloc(SIZE_MAX); /* aborts like every allocation here */
    for (int g = 0; g < groups; g++) {
        uint8_t *dst = (uint8_t *)pk + gb * (size_t)g;
        if (w->type == GGML_Q8_0) build_q8_0(w, out, in, g, dst);
        else if (w->type == GGML_Q4_K || w->type == GGML_Q6_K) build_k(w, out, in, g, dst);
        else build_plain(w, out, in, g, w->type == GGML_F16 ? 2 : 4, dst);
    }
    return pk;
}

/* The map w's bytes lie in, or NULL. */
static const cj_map *map_of(const wpack *p, const model_mat *w, int out) {
    const uint8_t *lo = w->data, *hi = lo + (size_t)out * w->row_bytes;
    for (int i = 0; i < p->n_maps; i++) {
        const uint8_t *b = p->maps[i].data;
        if (b && lo >= b && hi <= b + p->maps[i].size) return &p->maps[i];
    }
    return NULL;
}

/* Gives the whole pages inside w's bytes back to the kernel: the copy
 * replaces them, and a map reads the file again should anything ask. */
static void release(const model_mat *w, int out) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    uintptr_t lo = (uintptr_t)w->data, hi = lo + (size_t)out * w->row_bytes;
    lo = (lo + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
    hi &= ~((uintptr_t)ps - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: a failure only costs memory */
}

/* --- the cache ------------------------------------------------------------------ */

static size_t slot(const wpack *p, const void *data) {
    uintptr_t h = (uintptr_t)data;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (p->cap - 1);
}

static entry *find(const wpack *p, const model_mat *w, int out, int in) {
    for (size_t i = slot(p, w->data);; i = (i + 1) & (p->cap - 1)) {
        entry *e = &p->tab[i];
        if (!e->data || (e->data == w->data && e->out == out && e->in == in)) return e;
    }
}

static void grow(wpack *p) {
    entry *old = p->tab;
    size_t ocap = p->cap;
    p->cap = ocap ? 2 * ocap : 64;
    p->tab = cj_xcalloc(p->cap, sizeof *p->tab);
    for (size_t i = 0; i < ocap; i++)
        if (old[i].data) {
            model_mat k = {old[i].data, GGML_F32, 0};
            *find(p, &k, old[i].out, old[i].in) = old[i];
        }
    free(old);
}

const void *wpack_get(wpack *p, const model_mat *w, int out, int in) {
    int bk = block_k(w->type), sb = w->type == GGML_Q8_0 ? 32 : 256; /* values per stored block */
    if (!wpack_supported(w->type) || out <= 0 || in <= 0 || (bk && in % sb)) return NULL;
    if (2 * (p->used + 1) > p->cap) grow(p);
    entry *e = find(p, w, out, in);
    if (e->data) return e->pk;
    const cj_map *map = map_of(p, w, out);
    *e = (entry){w->data, out, in, map || p->all ? build(w, out, in) : NULL};
    p->used++;
    if (e->pk && map) release(w, out);
    return e->pk;
}
