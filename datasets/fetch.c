/* fetch — one dataset from its public home into the datasets folder (the
 * contract is in fetch.h): download with resume and a progress bar, check
 * the pinned sha256, then place or unpack. */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/sb.h"

typedef struct {
    FILE *out;
    FILE *progress;
    const char *label;
    curl_off_t offset; /* bytes already on disk when this transfer started */
    int last_permille;
} transfer;

static size_t on_data(char *buf, size_t size, size_t n, void *arg) {
    return fwrite(buf, size, n, ((transfer *)arg)->out) * size;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)ultotal, (void)ulnow;
    transfer *t = arg;
    if (!t->progress || dltotal <= 0) return 0;
    curl_off_t total = dltotal + t->offset, now = dlnow + t->offset;
    int permille = (int)(now * 1000 / total);
    if (permille == t->last_permille) return 0;
    t->last_permille = permille;
    char bar[31];
    int filled = permille * 30 / 1000;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = 0;
    fprintf(t->progress, "\r  %-34.34s [%s] %5.1f%% %8.1f / %.1f MB", t->label, bar, permille / 10.0, now / 1e6,
            total / 1e6);
    fflush(t->progress);
    return 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int offline_code(CURLcode c) {
    return c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_RESOLVE_PROXY || c == CURLE_COULDNT_CONNECT ||
           c == CURLE_OPERATION_TIMEDOUT;
}

/* One transfer of url into part, appending from its current size. Returns
 * the curl code and the HTTP status. */
static CURLcode transfer_once(const char *url, const char *part, const fetch_opts *o, const char *label,
                              long *status, cj_err *e) {
    long have = file_size(part);
    transfer t = {.out = fopen(part, "ab"), .progress = o->progress, .label = label, .last_permille = -1};
    if (!t.out) {
        cj_fail(e, "%s: cannot write: %s", part, strerror(errno));
        return CURLE_WRITE_ERROR;
    }
    t.offset = have > 0 ? have : 0;
    CURL *c = curl_easy_init();
    if (!c) {
        fclose(t.out);
        cj_fail(e, "cannot start libcurl");
        return CURLE_FAILED_INIT;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "chaejeom-fetch");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s > 0 ? o->connect_timeout_s : 20L);
    /* A stalled server ends the transfer instead of hanging it; what came is kept. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, t.offset);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (fclose(t.out) && rc == CURLE_OK) rc = CURLE_WRITE_ERROR;
    if (o->progress && t.last_permille >= 0) fputc('\n', o->progress);
    return rc;
}

/* Downloads url into part, resuming what part holds; restarts from zero
 * when the server cannot resume. */
static int download(const char *url, const char *part, const fetch_opts *o, const char *label, cj_err *e) {
    for (int attempt = 0; attempt < 2; attempt++) {
        long status, had = file_size(part);
        if (o->progress && had > 0) fprintf(o->progress, "  %s: resuming at %ld bytes\n", label, had);
        CURLcode rc = transfer_once(url, part, o, label, &status, e);
        if (rc == CURLE_OK) return 0;
        /* 416: nothing left to send — the part may be whole; the digest decides. */
        if (rc == CURLE_HTTP_RETURNED_ERROR && status == 416 && had > 0) return 0;
        if (rc == CURLE_RANGE_ERROR && attempt == 0) {
            if (truncate(part, 0)) break;
            continue;
        }
        long got = file_size(part);
        if (offline_code(rc))
            return cj_fail(e, "offline or server unreachable: %s: %s (run fetch again when online; what was downloaded is kept and resumed)",
                           url, curl_easy_strerror(rc));
        if (rc == CURLE_HTTP_RETURNED_ERROR) return cj_fail(e, "%s: HTTP %ld", url, status);
        if (rc == CURLE_WRITE_ERROR || rc == CURLE_FAILED_INIT) {
            if (!e->msg[0]) cj_fail(e, "%s: cannot write", part);
            return -1;
        }
        return cj_fail(e, "%s: download interrupted (%s) with %ld bytes kept in %s; run fetch again to resume", url,
                       curl_easy_strerror(rc), got > 0 ? got : 0, part);
    }
    return cj_fail(e, "%s: the server cannot resume and %s could not be restarted", url, part);
}

static int stamped(const char *stamp, const char *sha) {
    char *text = NULL;
    size_t len;
    cj_err ignored;
    if (!cj_is_file(stamp) || cj_read_file(stamp, &text, &len, &ignored)) return 0;
    int found = strstr(text, sha) != NULL;
    free(text);
    return found;
}

static int stamp(const char *stamp, const char *sha, const char *rel, cj_err *e) {
    FILE *f = fopen(stamp, "a");
    if (!f || fprintf(f, "%s  %s\n", sha, rel) < 0 || fclose(f))
        return cj_fail(e, "%s: cannot write: %s", stamp, strerror(errno));
    return 0;
}

static int place(const fetch_dataset *d, const fetch_file *f, const char *part, const char *folder, cj_err *e) {
    char *dst = cj_path_join(folder, f->rel);
    int rc = 0;
    switch (d->kind) {
    case FETCH_PLAIN:
        if (rename(part, dst)) rc = cj_fail(e, "%s: cannot move into place: %s", dst, strerror(errno));
        break;
    case FETCH_GZIP: {
        sb gz;
        sb_init(&gz);
        sb_printf(&gz, "%s.gz", dst);
        rc = fetch_gzip_file(part, gz.s, e);
        sb_free(&gz);
        break;
    }
    case FETCH_TAR: rc = fetch_untar(part, folder, d->strip, d->keep, e); break;
    case FETCH_ZIP: rc = fetch_unzip(part, folder, d->strip, d->keep, e); break;
    }
    if (!rc && d->kind != FETCH_PLAIN) unlink(part);
    free(dst);
    return rc;
}

static int fetch_one(const fetch_dataset *d, const fetch_file *f, const fetch_opts *o, const char *folder,
                     cj_err *e) {
    sb url, part, label;
    sb_init(&url), sb_init(&part), sb_init(&label);
    if (o->mirror) sb_printf(&url, "%s/%s/%s", o->mirror, d->name, f->rel);
    else sb_printf(&url, "%s%s", d->base, f->rel);
    sb_printf(&part, "%s/%s.part", folder, f->rel);
    sb_printf(&label, "%s/%s", d->name, f->rel);
    char *dir = cj_xstrdup(part.s);
    *strrchr(dir, '/') = 0;
    char sha[65];
    int rc = cj_mkdirs(dir, e);
    if (!rc) rc = download(url.s, part.s, o, label.s, e);
    if (!rc) rc = cj_sha256_file(part.s, sha, e);
    if (!rc && strcmp(sha, f->sha256)) {
        unlink(part.s);
        rc = cj_fail(e, "%s: sha256 %s, expected %s: the download was deleted (a changed or corrupt file; check the source)",
                     url.s, sha, f->sha256);
    }
    if (!rc) rc = place(d, f, part.s, folder, e);
    if (rc) cj_wrap(e, "%s", d->name);
    free(dir);
    sb_free(&url), sb_free(&part), sb_free(&label);
    return rc;
}

int fetch_run(const fetch_dataset *d, const fetch_opts *o, int *skipped, cj_err *e) {
    char *folder = cj_path_join(o->dir, d->name), *stampf = cj_path_join(folder, ".fetched");
    int rc = cj_mkdirs(folder, e), done = 0;
    for (int i = 0; !rc && i < d->n_files; i++) {
        if (stamped(stampf, d->files[i].sha256)) {
            done++;
            continue;
        }
        rc = fetch_one(d, &d->files[i], o, folder, e);
        if (!rc) rc = stamp(stampf, d->files[i].sha256, d->files[i].rel, e);
    }
    *skipped = !rc && done == d->n_files;
    free(folder);
    free(stampf);
    return rc;
}
