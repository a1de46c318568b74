/* fetch's unpacking (datasets/fetch_unpack.c) on archives shaped like the
 * releases (MMLU's tar, ARC's and WinoGrande's zips), written by Python's
 * tarfile and zipfile; then corrupt, truncated and hostile ones. The
 * downloads themselves are tested end to end (tests/e2e/test_fetch.sh). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/fileio.h"
#include "../../common/sb.h"
#include "../../datasets/fetch.h"
#include "../check.h"

static char dir[64];

static const char *MAKE =
    "import io, sys, tarfile, zipfile\n"
    "d = sys.argv[1]\n"
    "def add(t, name, data):\n"
    "    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n"
    "with tarfile.open(d + '/t.tar', 'w', format=tarfile.USTAR_FORMAT) as t:\n"
    "    i = tarfile.TarInfo('data/dev'); i.type = tarfile.DIRTYPE; t.addfile(i)\n"
    "    add(t, 'data/dev/a_dev.csv', b'q,1,2,3,4,A\\n' * 50)\n"
    "    add(t, 'data/test/b_test.csv', b'')\n"
    "    add(t, 'data/auxiliary_train/c.csv', b'skip me')\n"
    "with zipfile.ZipFile(d + '/z.zip', 'w') as z:\n"
    "    z.writestr('ARC-V1-Feb2018-2/ARC-Easy/e.jsonl', '{\"q\": 1}\\n' * 1000, zipfile.ZIP_DEFLATED)\n"
    "    z.writestr('ARC-V1-Feb2018-2/ARC-Challenge/c.jsonl', 'stored', zipfile.ZIP_STORED)\n"
    "    z.writestr('ARC-V1-Feb2018-2/ARC_Corpus.txt', 'not wanted')\n"
    "    z.writestr('__MACOSX/._e.jsonl', 'junk')\n"
    "with zipfile.ZipFile(d + '/evil.zip', 'w') as z:\n"
    "    z.writestr('w/../../evil.txt', 'x')\n";

static int setup(void) {
    strcpy(dir, "/tmp/cj-test-fetch-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    sb path, cmd;
    sb_init(&path), sb_init(&cmd);
    sb_printf(&path, "%s/make.py", dir);
    FILE *f = fopen(path.s, "w");
    int rc = !f || fputs(MAKE, f) < 0;
    if (f && fclose(f)) rc = -1;
    sb_printf(&cmd, "python3 %s %s", path.s, dir);
    if (!rc) rc = system(cmd.s);
    sb_free(&path), sb_free(&cmd);
    return rc;
}

static char *at(const char *rel) { return cj_path_join(dir, rel); }

static int file_is(const char *rel, const char *want, size_t want_len) {
    char *p = at(rel), *data = NULL;
    size_t len = 0;
    cj_err e;
    int ok = !cj_read_file(p, &data, &len, &e) && len == want_len && !memcmp(data, want, len);
    free(data);
    free(p);
    return ok;
}

static int exists(const char *rel) {
    char *p = at(rel);
    int r = access(p, F_OK) == 0;
    free(p);
    return r;
}

/* Copies src to dst with byte `off` (from the end when negative) xor'ed, or
 * cut to `off` bytes when cut is set. */
static void damage(const char *src, const char *dst, long off, int cut) {
    char *s = at(src), *d = at(dst), *data = NULL;
    size_t len = 0;
    cj_err e;
    FILE *f = NULL;
    if (!cj_read_file(s, &data, &len, &e) && (f = fopen(d, "wb"))) {
        size_t pos = off < 0 ? len - (size_t)-off : (size_t)off;
        if (cut) len = pos;
        else data[pos] ^= 0x55;
        fwrite(data, 1, len, f);
    }
    if (f) fclose(f);
    free(data);
    free(s);
    free(d);
}

static void test_untar_release_layout(void) {
    static const char *const keep[] = {"dev/", "val/", "test/", NULL};
    char *a = at("t.tar"), *out = at("mmlu");
    cj_err e = {0};
    CHECKF(!fetch_untar(a, out, "data/", keep, &e), "%s", e.msg);
    char want[600];
    for (int i = 0; i < 50; i++) memcpy(want + 12 * i, "q,1,2,3,4,A\n", 12);
    CHECK(file_is("mmlu/dev/a_dev.csv", want, 600));
    CHECK(file_is("mmlu/test/b_test.csv", "", 0));
    CHECK(!exists("mmlu/auxiliary_train"));
    CHECK(!exists("mmlu/dev/a_dev.csv.tmp"));
    free(a);
    free(out);
}

static void test_untar_bad(void) {
    damage("t.tar", "flip.tar", 512 + 100, 0); /* inside the first file header */
    damage("t.tar", "cut.tar", 1024 + 300, 1); /* inside the first file's data */
    char *f = at("flip.tar"), *c = at("cut.tar"), *out = at("bad");
    cj_err e = {0};
    CHECK(fetch_untar(f, out, "data/", NULL, &e) == -1);
    CHECKF(strstr(e.msg, "flip.tar") && strstr(e.msg, "bad tar header at byte 512"), "%s", e.msg);
    CHECK(fetch_untar(c, out, "data/", NULL, &e) == -1);
    CHECKF(strstr(e.msg, "past the end of the archive"), "%s", e.msg);
    free(f);
    free(c);
    free(out);
}

static void test_unzip_release_layout(void) {
    static const char *const keep[] = {"ARC-Easy/", "ARC-Challenge/", NULL};
    char *a = at("z.zip"), *out = at("arc");
    cj_err e = {0};
    CHECKF(!fetch_unzip(a, out, "ARC-V1-Feb2018-2/", keep, &e), "%s", e.msg);
    sb want;
    sb_init(&want);
    for (int i = 0; i < 1000; i++) sb_puts(&want, "{\"q\": 1}\n");
    CHECK(file_is("arc/ARC-Easy/e.jsonl", want.s, want.len));
    CHECK(file_is("arc/ARC-Challenge/c.jsonl", "stored", 6));
    CHECK(!exists("arc/ARC_Corpus.txt") && !exists("arc/__MACOSX") && !exists("__MACOSX"));
    sb_free(&want);
    free(a);
    free(out);
}

static void test_unzip_bad(void) {
    char *out = at("zbad"), *p;
    cj_err e = {0};
    /* the stored member's bytes: its CRC-32 no longer matches */
    char *data = NULL;
    size_t len = 0;
    p = at("z.zip");
    CHECK(!cj_read_file(p, &data, &len, &e));
    char *hit = data ? memmem(data, len, "stored", 6) : NULL;
    free(p);
    CHECK(hit != NULL);
    if (hit) damage("z.zip", "crc.zip", hit - data, 0);
    free(data);
    p = at("crc.zip");
    CHECK(fetch_unzip(p, out, "ARC-V1-Feb2018-2/", NULL, &e) == -1);
    CHECKF(strstr(e.msg, "c.jsonl") && strstr(e.msg, "CRC-32"), "%s", e.msg);
    CHECK(!exists("zbad/ARC-Challenge/c.jsonl") && !exists("zbad/ARC-Challenge/c.jsonl.tmp"));
    free(p);
    damage("z.zip", "cut.zip", 200, 1);
    p = at("cut.zip");
    CHECK(fetch_unzip(p, out, NULL, NULL, &e) == -1);
    CHECKF(strstr(e.msg, "end-of-central-directory"), "%s", e.msg);
    free(p);
    damage("z.zip", "cd.zip", -6, 0); /* the central directory's offset */
    p = at("cd.zip");
    CHECK(fetch_unzip(p, out, NULL, NULL, &e) == -1);
    free(p);
    p = at("evil.zip");
    CHECK(fetch_unzip(p, out, NULL, NULL, &e) == -1);
    CHECKF(strstr(e.msg, "outside"), "%s", e.msg);
    CHECK(!exists("evil.txt"));
    free(p);
    free(out);
}

static void test_gzip_file(void) {
    char *src = at("t.tar"), *dst = at("t.tar.gz"), *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    cj_err e = {0};
    CHECKF(!fetch_gzip_file(src, dst, &e), "%s", e.msg);
    /* cj_read_file inflates gzip by its magic bytes, as the dataset readers do */
    CHECK(!cj_read_file(src, &a, &la, &e) && !cj_read_file(dst, &b, &lb, &e));
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a);
    free(b);
    free(src);
    free(dst);
}

int main(void) {
    if (setup()) {
        printf("SKIP test_fetch: python3 could not write the test archives\n");
        return 0;
    }
    RUN(test_untar_release_layout);
    RUN(test_untar_bad);
    RUN(test_unzip_release_layout);
    RUN(test_unzip_bad);
    RUN(test_gzip_file);
    sb rm;
    sb_init(&rm);
    sb_printf(&rm, "rm -rf %s", dir);
    if (system(rm.s)) printf("  could not remove %s\n", dir);
    sb_free(&rm);
    return check_summary_();
}
