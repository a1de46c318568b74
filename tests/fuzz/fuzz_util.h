/* fuzz_util — what the libFuzzer targets share: handing the input to a
 * path-based loader (an in-memory file or a file in a private temporary
 * folder), finding the real assets the targets load once at start-up, and
 * the invariants a loaded model must satisfy whatever its file held.
 *
 * Included by each fuzz_*.c (one translation unit per target), hence the
 * static functions. Setup failures (no memfd, no temporary folder) abort:
 * they are the machine's, not findings. */
#ifndef CJ_FUZZ_UTIL_H
#define CJ_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/model.h"
#include "../../runners/transformer/formats/quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- inputs as files ---- */

typedef struct {
    int fd;
    char path[64]; /* /proc/self/fd/N: any open()-based loader reads it */
} fz_memfile;

static inline void fz_memfile_open(fz_memfile *f, const char *name) {
    f->fd = memfd_create(name, 0);
    if (f->fd < 0) abort();
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Replaces the file's contents by data[0..size). */
static inline void fz_memfile_set(fz_memfile *f, const void *data, size_t size) {
    if (ftruncate(f->fd, 0) != 0) abort();
    if (size && pwrite(f->fd, data, size, 0) != (ssize_t)size) abort();
}

/* A private temporary folder, removed (with the files written into it) at
 * exit. */
static char fz_dir_[256];
static char *fz_files_[16];
static int fz_n_files_;

static inline void fz_cleanup_(void) {
    for (int i = 0; i < fz_n_files_; i++) {
        unlink(fz_files_[i]);
        free(fz_files_[i]);
    }
    if (fz_dir_[0]) rmdir(fz_dir_);
}

static inline const char *fz_tmpdir(void) {
    if (fz_dir_[0]) return fz_dir_;
    const char *base = getenv("TMPDIR");
    snprintf(fz_dir_, sizeof fz_dir_, "%s/cj-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(fz_dir_)) abort();
    atexit(fz_cleanup_);
    return fz_dir_;
}

/* The path of <tmpdir>/name, owned here (removed at exit). */
static inline const char *fz_path(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    for (int i = 0; i < fz_n_files_; i++)
        if (!strcmp(fz_files_[i], path)) return fz_files_[i];
    if (fz_n_files_ == (int)(sizeof fz_files_ / sizeof *fz_files_)) abort();
    fz_files_[fz_n_files_] = cj_xstrdup(path);
    return fz_files_[fz_n_files_++];
}

/* Writes data[0..size) to <tmpdir>/name; returns its path. */
static inline const char *fz_put_file(const char *name, const void *data, size_t size) {
    const char *path = fz_path(name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) abort();
    return path;
}

static inline void fz_rm_file(const char *name) { unlink(fz_path(name)); }

/* ---- assets ---- */

/* <assets>/rel if that file exists, else NULL (malloc'd). */
static inline char *fz_asset(const char *rel) {
    char *root = cj_assets_dir();
    char *p = cj_path_join(root, rel);
    free(root);
    if (cj_is_file(p)) return p;
    free(p);
    return NULL;
}

/* ---- invariants ---- */

/* A failed call must leave a NUL-terminated, non-empty message. */
static inline void fz_check_err(int rc, const cj_err *e) {
    if (rc != 0 && (!memchr(e->msg, 0, sizeof e->msg) || !e->msg[0])) __builtin_trap();
}

/* n bytes at p lie inside one of m's file maps, or in a buffer m owns (then
 * the last byte is read, so that ASan sees a buffer that is too short). */
static inline void fz_check_bytes(const model *m, const void *p, uint64_t n) {
    if (!p) __builtin_trap();
    if (n == 0) return;
    const unsigned char *b = (const unsigned char *)p;
    for (int i = 0; i < m->n_maps; i++) {
        const cj_map *mp = &m->maps[i];
        if (mp->data && b >= mp->data && b <= mp->data + mp->size) {
            if (n > mp->size - (size_t)(b - mp->data)) __builtin_trap();
            return;
        }
    }
    volatile unsigned char last = b[n - 1];
    (void)last;
}

static inline void fz_check_span(const model *m, const float *p, uint64_t n) {
    fz_check_bytes(m, p, n * sizeof(float));
}

/* A matrix of rows x cols: its row size is that of cols elements of its
 * type, and all its rows lie in memory the model owns or maps. */
static inline void fz_check_mat(const model *m, const model_mat *w, uint64_t rows, uint64_t cols) {
    size_t row_bytes;
    if (quant_nbytes(w->type, cols, &row_bytes) != 0 || row_bytes != w->row_bytes) __builtin_trap();
    fz_check_bytes(m, w->data, rows * row_bytes);
}

/* Every weight of a loaded model is as large as its hyper-parameters say
 * and lies in memory the model owns or maps; the tokenizer fits the
 * vocabulary. */
static inline void fz_check_model(const model *m) {
    const model_hparams *hp = &m->hp;
    cj_err e;
    if (model_check_hparams(hp, "fuzz", &e) != 0) __builtin_trap();
    uint64_t d = (uint64_t)hp->dim, f = (uint64_t)hp->ffn_dim, V = (uint64_t)hp->vocab_size;
    uint64_t q = (uint64_t)hp->n_heads * (uint64_t)hp->head_dim, kv = (uint64_t)hp->n_kv_heads * (uint64_t)hp->head_dim;
    fz_check_mat(m, &m->tok_embd, V, d);
    fz_check_mat(m, &m->output, V, d);
    fz_check_span(m, m->output_norm, d);
    if (!m->layers || !m->tok) __builtin_trap();
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        fz_check_span(m, L->attn_norm, d);
        fz_check_mat(m, &L->wq, q, d);
        fz_check_mat(m, &L->wk, kv, d);
        fz_check_mat(m, &L->wv, kv, d);
        fz_check_mat(m, &L->wo, d, q);
        fz_check_span(m, L->ffn_norm, d);
        fz_check_mat(m, &L->w_gate, f, d);
        fz_check_mat(m, &L->w_up, f, d);
        fz_check_mat(m, &L->w_down, d, f);
        if (hp->qkv_bias) {
            fz_check_span(m, L->bq, q);
            fz_check_span(m, L->bk, kv);
            fz_check_span(m, L->bv, kv);
        } else if (L->bq || L->bk || L->bv) {
            __builtin_trap();
        }
    }
    int nv = tok_n_vocab(m->tok);
    if (nv <= 0 || nv > hp->vocab_size) __builtin_trap();
}

/* Encodes a fixed text and every byte value, decodes the ids: every id is
 * in the vocabulary, nothing crashes. */
static inline void fz_exercise_tokenizer(const tokenizer *t) {
    static const char text[] = " Hello, world! 123  \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 <s>\n\t\xff\x80 caf\xc3\xa9";
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    const char *texts[2] = {text, all};
    size_t lens[2] = {sizeof text - 1, sizeof all};
    int nv = tok_n_vocab(t);
    for (int k = 0; k < 2; k++) {
        int *ids = NULL, n = 0;
        cj_err e;
        if (tok_encode(t, texts[k], lens[k], 1, &ids, &n, &e) != 0) __builtin_trap();
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= nv) __builtin_trap();
        sb out;
        sb_init(&out);
        tok_decode(t, ids, n, 1, &out);
        sb_free(&out);
        free(ids);
    }
    int b = tok_bos(t), eo = tok_eos(t);
    if (b < -1 || b >= nv || eo < -1 || eo >= nv) __builtin_trap();
    for (int id = -1; id <= nv && id < 4096; id++) (void)tok_piece(t, id);
}

#endif
