/* fileio — whole-file access: memory maps for models, buffered reads for text.
 *
 * cj_map: a read-only mmap of a whole file. The map owns the mapping;
 * cj_map_close unmaps it. Everything sliced out of `data` is valid only while
 * the map is open. An empty file maps to data == NULL, size == 0.
 *
 * cj_read_file: reads a whole file into a malloc'd, NUL-terminated buffer the
 * caller frees. Gzip input (by magic bytes, not by name) is inflated
 * transparently, with a size cap so that a gzip bomb is refused, not obeyed. */
#ifndef CJ_FILEIO_H
#define CJ_FILEIO_H

#include <stddef.h>

#include "err.h"

typedef struct {
    const unsigned char *data;
    size_t size;
    char *path; /* owned copy, for error messages */
} cj_map;

int cj_map_open(const char *path, cj_map *m, cj_err *e);
void cj_map_close(cj_map *m);

/* Maximum bytes cj_read_file returns (after decompression). */
#define CJ_READ_MAX ((size_t)2 << 30)

int cj_read_file(const char *path, char **data, size_t *len, cj_err *e);

/* sha256 of a file's raw bytes (not decompressed). */
int cj_sha256_file(const char *path, char hex[65], cj_err *e);

/* 1 if path exists and is a directory / regular file. */
int cj_is_dir(const char *path);
int cj_is_file(const char *path);

/* The assets root: $CHAEJEOM_ASSETS, else ../shared/assets if it exists,
 * else ~/.cache/chaejeom. Returns a malloc'd path the caller frees. */
char *cj_assets_dir(void);

/* The golden-output root: $CHAEJEOM_GOLDEN, else <assets>/../golden.
 * Returns a malloc'd path the caller frees. */
char *cj_golden_dir(void);

/* <assets>/rel and <golden>/rel: malloc'd paths the caller frees. */
char *cj_asset_path(const char *rel);
char *cj_golden_path(const char *rel);

/* Creates dir and its missing parents (mkdir -p), mode 0755. */
int cj_mkdirs(const char *dir, cj_err *e);

/* malloc'd "a/b" (caller frees). */
char *cj_path_join(const char *a, const char *b);

#endif
