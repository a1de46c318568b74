/* gguf_fixtures — what the two GGUF test binaries share: the paths of the
 * real files, a little GGUF writer for synthetic files, temporary files
 * and a reader of every metadata value. test_gguf.c checks well-formed
 * files and the model loader; test_gguf_bad.c malformed and damaged ones.
 * Header-only: static inline functions, so that a binary may leave some
 * unused. */
#ifndef CJ_GGUF_FIXTURES_H
#define CJ_GGUF_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/gguf.h"

#define N_OF(a) ((int)(sizeof a / sizeof *a))

static inline char *golden_path(const char *name) {
    char *g = cj_golden_dir(), *d = cj_path_join(g, "llamacpp"), *p = cj_path_join(d, name);
    free(g), free(d);
    return p;
}

static inline char *vocab_path(const char *name) {
    char *a = cj_assets_dir(), *d = cj_path_join(a, "vocab-gguf"), *p = cj_path_join(d, name);
    free(a), free(d);
    return p;
}

/* ---- a little GGUF writer for synthetic files ---- */

static inline void w_le(sb *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) sb_putc(b, (char)(v >> (8 * i)));
}
static inline void w_str(sb *b, const char *s) {
    w_le(b, strlen(s), 8);
    sb_putn(b, s, strlen(s));
}
static inline void w_key(sb *b, const char *k, uint32_t type) {
    w_str(b, k);
    w_le(b, type, 4);
}
static inline void w_f32(sb *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    w_le(b, u, 4);
}
static inline void w_pad(sb *b, size_t a) {
    while (b->len % a) sb_putc(b, 0);
}
static inline void w_header(sb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    sb_putn(b, "GGUF", 4);
    w_le(b, version, 4);
    w_le(b, n_tensors, 8);
    w_le(b, n_kv, 8);
}
static inline void w_tensor(sb *b, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    w_str(b, name);
    w_le(b, (uint64_t)nd, 4);
    for (int i = 0; i < nd; i++) w_le(b, ne[i], 8);
    w_le(b, type, 4);
    w_le(b, off, 8);
}

/* Overwrites p[0..n) with v, little-endian: patches a field of a built file. */
static inline void put_le(char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (char)(v >> (8 * i));
}

/* Writes buf to a fresh temporary file; returns its malloc'd path. */
static inline char *write_temp(const void *buf, size_t n) {
    char tmpl[] = "/tmp/cj-test-gguf-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return NULL;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
    return cj_xstrdup(tmpl);
}

/* Reads every key of a file with the getter its type calls for; returns the
 * number of values read (array elements included). */
static inline uint64_t read_all_metadata(const gguf_ctx *g, int *failures) {
    uint64_t n_values = 0;
    cj_err e = {{0}};
    for (int64_t i = 0; i < gguf_n_keys(g); i++) {
        const char *k = gguf_key_name(g, i);
        int64_t iv;
        double fv;
        int bv;
        int rc = 0;
        switch (gguf_key_type(g, i)) {
        case GGUF_T_FLOAT32:
        case GGUF_T_FLOAT64: rc = gguf_get_float(g, k, &fv, &e); break;
        case GGUF_T_BOOL: rc = gguf_get_bool(g, k, &bv, &e); break;
        case GGUF_T_STRING: rc = gguf_get_str(g, k, &e) ? 0 : -1; break;
        case GGUF_T_UINT64: rc = gguf_get_float(g, k, &fv, &e); break;
        case GGUF_T_ARRAY: {
            gguf_vtype et;
            uint64_t n;
            const void *d;
            rc = gguf_get_arr(g, k, &et, &n, &d, &e);
            for (uint64_t j = 0; rc == 0 && et == GGUF_T_STRING && j < n; j++) {
                const char *s;
                uint64_t len;
                rc = gguf_get_arr_str(g, k, j, &s, &len, &e);
                if (rc == 0 && len) n_values += (unsigned char)s[len - 1] == 0xff; /* touch the last byte */
            }
            n_values += n;
            break;
        }
        default: rc = gguf_get_int(g, k, &iv, &e); break;
        }
        *failures += rc != 0;
        n_values++;
    }
    return n_values;
}

#endif
