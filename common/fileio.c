#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "sb.h"
#include "sha256.h"

int cj_map_open(const char *path, cj_map *m, cj_err *e) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return cj_fail(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cj_fail(e, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return cj_fail(e, "%s: cannot map: %s", path, strerror(errno));
        }
        m->data = p;
    }
    close(fd);
    m->path = cj_xstrdup(path);
    return 0;
}

void cj_map_close(cj_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int cj_read_file(const char *path, char **data, size_t *len, cj_err *e) {
    *data = NULL;
    *len = 0;
    if (!cj_is_file(path)) return cj_fail(e, "%s: no such file", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return cj_fail(e, "%s: cannot open: %s", path, strerror(errno));
    sb b;
    sb_init(&b);
    char chunk[65536];
    for (;;) {
        int n = gzread(gz, chunk, sizeof chunk);
        if (n < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            cj_fail(e, "%s: read error (truncated or corrupt gzip?): %s", path, msg);
            gzclose(gz);
            sb_free(&b);
            return -1;
        }
        if (n == 0) break;
        if (b.len + (size_t)n > CJ_READ_MAX) {
            gzclose(gz);
            sb_free(&b);
            return cj_fail(e, "%s: larger than %zu bytes once decompressed; refused", path, CJ_READ_MAX);
        }
        sb_putn(&b, chunk, (size_t)n);
    }
    /* gzread reports a truncated gzip stream only through gzclose/gzerror. */
    int zerr = Z_OK;
    gzerror(gz, &zerr);
    int rc = gzclose(gz);
    if (zerr != Z_OK || (rc != Z_OK && rc != Z_BUF_ERROR)) {
        sb_free(&b);
        return cj_fail(e, "%s: truncated or corrupt gzip stream", path);
    }
    if (rc == Z_BUF_ERROR) {
        sb_free(&b);
        return cj_fail(e, "%s: truncated gzip stream", path);
    }
    *len = b.len;
    *data = sb_take(&b);
    return 0;
}

int cj_sha256_file(const char *path, char hex[65], cj_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return cj_fail(e, "%s: cannot open: %s", path, strerror(errno));
    sha256_ctx c;
    sha256_init(&c);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&c, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return cj_fail(e, "%s: read error", path);
    sha256_final_hex(&c, hex);
    return 0;
}

int cj_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cj_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cj_mkdirs(const char *dir, cj_err *e) {
    if (!*dir) return cj_fail(e, "cannot create a folder with an empty name");
    char *p = cj_xstrdup(dir);
    for (char *s = p + 1; ; s++) {
        if (*s && *s != '/') continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) {
            int rc = cj_fail(e, "%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return rc;
        }
        if (!(*s = c)) break;
    }
    free(p);
    return cj_is_dir(dir) ? 0 : cj_fail(e, "%s: exists and is not a folder", dir);
}

char *cj_path_join(const char *a, const char *b) {
    sb s;
    sb_init(&s);
    sb_puts(&s, a);
    if (s.len && s.s[s.len - 1] != '/') sb_putc(&s, '/');
    sb_puts(&s, b);
    return sb_take(&s);
}

char *cj_assets_dir(void) {
    const char *env = getenv("CHAEJEOM_ASSETS");
    if (env && *env) return cj_xstrdup(env);
    if (cj_is_dir("../shared/assets")) return cj_xstrdup("../shared/assets");
    const char *home = getenv("HOME");
    return cj_path_join(home && *home ? home : ".", ".cache/chaejeom");
}

char *cj_golden_dir(void) {
    const char *env = getenv("CHAEJEOM_GOLDEN");
    if (env && *env) return cj_xstrdup(env);
    char *a = cj_assets_dir();
    char *g = cj_path_join(a, "../golden");
    free(a);
    return g;
}

char *cj_asset_path(const char *rel) {
    char *a = cj_assets_dir(), *p = cj_path_join(a, rel);
    free(a);
    return p;
}

char *cj_golden_path(const char *rel) {
    char *g = cj_golden_dir(), *p = cj_path_join(g, rel);
    free(g);
    return p;
}
