/* hf_fixtures — what the model-loading test binaries share: small file
 * helpers, loading with the error printed or expected, a temporary
 * directory, and an HF golden folder staged (config and tokenizer copied,
 * weights linked) so that its config can be edited. test_model.c loads
 * every format; test_hf_windows.c the configs of windowed models.
 * Header-only: static inline functions, so that a binary may leave some
 * unused. */
#ifndef CJ_HF_FIXTURES_H
#define CJ_HF_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../runners/transformer/formats/model.h"
#include "../check.h"

static inline int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* path's bytes, or NULL; *n its length. */
static inline unsigned char *slurp(const char *path, size_t *n) {
    cj_map m;
    cj_err e;
    if (cj_map_open(path, &m, &e)) return NULL;
    unsigned char *p = cj_xmalloc(m.size + 1);
    memcpy(p, m.data, m.size);
    *n = m.size;
    cj_map_close(&m);
    return p;
}

static inline model *load(const char *path, const char *tok) {
    model *m = NULL;
    cj_err e;
    if (model_load(path, tok, &m, &e)) printf("  load %s: %s\n", path, e.msg);
    return m;
}

/* Loads path expecting failure; returns 1 if it failed with a message
 * containing want. */
static inline int load_fails(const char *path, const char *tok, const char *want) {
    model *m = NULL;
    cj_err e = {{0}};
    if (model_load(path, tok, &m, &e) == 0) {
        model_free(m);
        printf("  %s loaded, expected an error containing '%s'\n", path, want);
        return 0;
    }
    if (m || !strstr(e.msg, want)) {
        printf("  %s: message '%s' lacks '%s'\n", path, e.msg, want);
        return 0;
    }
    return 1;
}

/* Copies an HF golden folder's config and tokenizer into dst (a new dir). */
static inline int copy_meta(const char *src, const char *dst) {
    if (mkdir(dst, 0755) && !cj_is_dir(dst)) return -1;
    const char *files[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        char *a = cj_path_join(src, files[i]), *b = cj_path_join(dst, files[i]);
        size_t n;
        unsigned char *p = slurp(a, &n);
        int rc = p ? write_file(b, p, n) : -1;
        free(p);
        free(a);
        free(b);
        if (rc) return -1;
    }
    return 0;
}

/* dst: config.json and tokenizer.json copied from the HF folder src, its
 * weights linked; the config's text (NUL-terminated) into *cfg. */
static inline int stage_folder(const char *src, const char *dst, char **cfg, size_t *n) {
    char *cfg_path = cj_path_join(dst, "config.json");
    CHECK(copy_meta(src, dst) == 0);
    char *st_src = cj_path_join(src, "model.safetensors"), *st_dst = cj_path_join(dst, "model.safetensors");
    char *st_abs = realpath(st_src, NULL);
    CHECK(st_abs && (symlink(st_abs, st_dst) == 0 || cj_is_file(st_dst)));
    free(st_abs);
    *cfg = (char *)slurp(cfg_path, n);
    CHECK(*cfg != NULL);
    if (*cfg) (*cfg)[*n] = 0;
    free(st_src);
    free(st_dst);
    free(cfg_path);
    return *cfg ? 0 : -1;
}

static inline void rm_tree(const char *dir) {
    sb cmd;
    sb_init(&cmd);
    sb_printf(&cmd, "rm -rf '%s'", dir);
    if (system(cmd.s) != 0) printf("  could not remove %s\n", dir);
    sb_free(&cmd);
}

/* A new directory $TMPDIR/chaejeom-test-<name>-XXXXXX (the caller frees the
 * string), or NULL after saying FAIL. */
static inline char *fixture_tmpdir(const char *name) {
    const char *td = getenv("TMPDIR");
    sb t;
    sb_init(&t);
    sb_printf(&t, "%s/chaejeom-test-%s-XXXXXX", td && *td ? td : "/tmp", name);
    if (mkdtemp(t.s)) return sb_take(&t);
    printf("FAIL mkdtemp\n");
    sb_free(&t);
    return NULL;
}

#endif
