/* fetch_unpack — the archive formats of dataset releases (fetch.h): ustar
 * tar (MMLU's data.tar), zip with stored or deflated members (ARC,
 * WinoGrande), and gzip compression for files stored compressed.
 *
 * zip is read with zlib's raw inflate rather than a zip library: the
 * releases need only the central directory, local headers and deflate,
 * and zlib is already a dependency. Every offset and size read from an
 * archive is checked against the archive's length; each member is written
 * to NAME.tmp and renamed, so a failed unpack leaves no half file under its
 * real name. Errors name the archive and the member. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../common/fileio.h"
#include "../common/sb.h"
#include "fetch.h"

/* dest/<member without strip>, or NULL (in *out) when the member is not
 * wanted; -1 when its path would leave dest. */
static int member_path(const char *dest, const char *name, const char *strip, const char *const *keep, char **out,
                       cj_err *e) {
    *out = NULL;
    size_t sl = strip ? strlen(strip) : 0;
    if (sl && strncmp(name, strip, sl)) return 0;
    const char *rel = name + sl;
    if (!*rel || rel[strlen(rel) - 1] == '/') return 0;
    int wanted = !keep;
    for (int i = 0; keep && keep[i]; i++) wanted |= !strncmp(rel, keep[i], strlen(keep[i]));
    if (!wanted) return 0;
    if (rel[0] == '/' || !strncmp(rel, "../", 3) || strstr(rel, "/../"))
        return cj_fail(e, "member '%s' would be written outside %s", name, dest);
    *out = cj_path_join(dest, rel);
    return 0;
}

/* Opens path.tmp for writing, its folders created. */
static FILE *open_member(const char *path, sb *tmp, cj_err *e) {
    sb_init(tmp);
    sb_printf(tmp, "%s.tmp", path);
    char *dir = cj_xstrdup(path);
    *strrchr(dir, '/') = 0;
    FILE *f = cj_mkdirs(dir, e) ? NULL : fopen(tmp->s, "wb");
    if (!f && !e->msg[0]) cj_fail(e, "%s: cannot write: %s", tmp->s, strerror(errno));
    free(dir);
    return f;
}

static int close_member(FILE *f, sb *tmp, const char *path, int rc, cj_err *e) {
    if (fclose(f) && !rc) rc = cj_fail(e, "%s: cannot write: %s", tmp->s, strerror(errno));
    if (!rc && rename(tmp->s, path)) rc = cj_fail(e, "%s: cannot move into place: %s", path, strerror(errno));
    if (rc) remove(tmp->s);
    sb_free(tmp);
    return rc;
}

static int octal(const unsigned char *p, int n, uint64_t *v) {
    *v = 0;
    int i = 0, digits = 0;
    while (i < n && p[i] == ' ') i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (*v >> 60) return -1;
        *v = *v * 8 + (uint64_t)(p[i] - '0');
    }
    return digits && (i == n || p[i] == 0 || p[i] == ' ') ? 0 : -1;
}

static int tar_header_ok(const unsigned char *h) {
    uint64_t want, sum = 0;
    if (octal(h + 148, 8, &want)) return 0;
    for (int i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? ' ' : h[i];
    return sum == want;
}

int fetch_untar(const char *archive, const char *dest, const char *strip, const char *const *keep, cj_err *e) {
    cj_map m;
    if (cj_map_open(archive, &m, e)) return -1;
    int rc = 0;
    size_t at = 0;
    while (!rc && at + 512 <= m.size && m.data[at]) {
        const unsigned char *h = m.data + at;
        uint64_t size;
        if (!tar_header_ok(h) || octal(h + 124, 12, &size)) {
            rc = cj_fail(e, "%s: bad tar header at byte %zu", archive, at);
            break;
        }
        at += 512;
        if (size > m.size - at) {
            rc = cj_fail(e, "%s: member at byte %zu claims %llu bytes, past the end of the archive", archive, at - 512,
                         (unsigned long long)size);
            break;
        }
        char name[257] = {0};
        if (!memcmp(h + 257, "ustar", 5) && h[345]) snprintf(name, sizeof name, "%.155s/%.100s", h + 345, h);
        else snprintf(name, sizeof name, "%.100s", h);
        char *path = NULL;
        if ((h[156] == '0' || h[156] == 0) && !(rc = member_path(dest, name, strip, keep, &path, e)) && path) {
            sb tmp;
            FILE *f = open_member(path, &tmp, e);
            if (!f) rc = -1;
            else {
                int w = fwrite(m.data + at, 1, size, f) == size ? 0 : cj_fail(e, "%s: cannot write", tmp.s);
                rc = close_member(f, &tmp, path, w, e);
            }
        }
        free(path);
        at += (size + 511) / 512 * 512;
    }
    if (rc) cj_wrap(e, "%s", archive);
    cj_map_close(&m);
    return rc;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

/* Inflates (method 8) or copies (method 0) one member's bytes into f,
 * checking its size and CRC-32. */
static int zip_extract(const unsigned char *src, size_t csize, uint32_t method, uint32_t usize, uint32_t crc,
                       FILE *f, const char *name, cj_err *e) {
    unsigned char buf[65536];
    uLong got_crc = crc32(0, Z_NULL, 0);
    size_t total = 0;
    if (method == 0) {
        if (csize != usize || fwrite(src, 1, csize, f) != csize) return cj_fail(e, "member '%s': cannot write", name);
        got_crc = crc32(got_crc, src, (uInt)csize);
        total = csize;
    } else {
        z_stream z = {0};
        if (inflateInit2(&z, -15) != Z_OK) return cj_fail(e, "member '%s': cannot start inflate", name);
        z.next_in = (unsigned char *)src;
        z.avail_in = (uInt)csize;
        int zr = Z_OK;
        while (zr == Z_OK) {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            zr = inflate(&z, Z_NO_FLUSH);
            size_t n = sizeof buf - z.avail_out;
            if ((zr == Z_OK || zr == Z_STREAM_END) && (total += n) <= usize && fwrite(buf, 1, n, f) == n)
                got_crc = crc32(got_crc, buf, (uInt)n);
            else if (zr == Z_OK || zr == Z_STREAM_END) zr = Z_DATA_ERROR;
            if (zr == Z_OK && n == 0 && z.avail_in == 0) zr = Z_DATA_ERROR;
        }
        inflateEnd(&z);
        if (zr != Z_STREAM_END) return cj_fail(e, "member '%s': corrupt deflate data", name);
    }
    if (total != usize || got_crc != crc)
        return cj_fail(e, "member '%s': %zu bytes, CRC-32 %08lx; the directory says %u bytes, %08x", name, total,
                       (unsigned long)got_crc, usize, crc);
    return 0;
}

/* The central directory's offset and entry count, from its end record. */
static int zip_directory(const cj_map *m, size_t *cd, uint32_t *count, cj_err *e) {
    if (m->size < 22) return cj_fail(e, "too short for a zip file");
    size_t lo = m->size > 65557 ? m->size - 65557 : 0;
    for (size_t at = m->size - 22 + 1; at-- > lo;) {
        const unsigned char *p = m->data + at;
        if (le32(p) != 0x06054b50) continue;
        *count = le16(p + 10);
        *cd = le32(p + 16);
        if (*count == 0xffff || le32(p + 16) == 0xffffffff) return cj_fail(e, "zip64 archives are not supported");
        if (*cd > at) return cj_fail(e, "central directory offset %zu lies past its end record", *cd);
        return 0;
    }
    return cj_fail(e, "no zip end-of-central-directory record");
}

int fetch_unzip(const char *archive, const char *dest, const char *strip, const char *const *keep, cj_err *e) {
    cj_map m;
    if (cj_map_open(archive, &m, e)) return -1;
    size_t at = 0;
    uint32_t count = 0;
    int rc = zip_directory(&m, &at, &count, e);
    for (uint32_t i = 0; !rc && i < count; i++) {
        if (at + 46 > m.size || le32(m.data + at) != 0x02014b50) {
            rc = cj_fail(e, "central directory entry %u at byte %zu is corrupt", i, at);
            break;
        }
        const unsigned char *c = m.data + at;
        uint32_t method = le16(c + 10), crc = le32(c + 16), csize = le32(c + 20), usize = le32(c + 24);
        size_t nlen = le16(c + 28), skip = nlen + le16(c + 30) + le16(c + 32), local = le32(c + 42);
        if (skip > m.size - at - 46) {
            rc = cj_fail(e, "central directory entry %u runs past the end", i);
            break;
        }
        char *name = cj_xstrndup((const char *)c + 46, nlen), *path = NULL;
        at += 46 + skip;
        if (!(rc = member_path(dest, name, strip, keep, &path, e)) && path) {
            const unsigned char *l = m.data + local;
            size_t data;
            if (local > m.size - 30 || le32(l) != 0x04034b50 ||
                (data = local + 30 + le16(l + 26) + le16(l + 28)) > m.size || csize > m.size - data)
                rc = cj_fail(e, "member '%s': local header or data out of the archive", name);
            else if (method != 0 && method != 8)
                rc = cj_fail(e, "member '%s': compression method %u is not supported", name, method);
            else {
                sb tmp;
                FILE *f = open_member(path, &tmp, e);
                rc = f ? close_member(f, &tmp, path, zip_extract(m.data + data, csize, method, usize, crc, f, name, e), e)
                       : -1;
            }
        }
        free(path);
        free(name);
    }
    if (rc) cj_wrap(e, "%s", archive);
    cj_map_close(&m);
    return rc;
}

int fetch_gzip_file(const char *src, const char *dst, cj_err *e) {
    cj_map m;
    if (cj_map_open(src, &m, e)) return -1;
    sb tmp;
    sb_init(&tmp);
    sb_printf(&tmp, "%s.tmp", dst);
    gzFile g = gzopen(tmp.s, "wb9");
    int rc = 0;
    for (size_t at = 0; g && at < m.size && !rc;) {
        unsigned n = m.size - at > (1u << 30) ? 1u << 30 : (unsigned)(m.size - at);
        if (gzwrite(g, m.data + at, n) != (int)n) rc = -1;
        at += n;
    }
    if (!g || gzclose(g) != Z_OK || rc) rc = cj_fail(e, "%s: cannot write", tmp.s);
    if (!rc && rename(tmp.s, dst)) rc = cj_fail(e, "%s: cannot move into place: %s", dst, strerror(errno));
    if (rc) remove(tmp.s);
    sb_free(&tmp);
    cj_map_close(&m);
    return rc;
}
