/* fetch — downloads each dataset from its public home into a local datasets
 * folder (`chaejeom fetch`), the files the task definitions read.
 *
 * A dataset is a list of release files, each pinned by the sha256 of its
 * bytes: plain files land as they are; a tar or zip is unpacked (only the
 * members the tasks read) and then deleted; FETCH_GZIP files are stored
 * gzip-compressed, under the name the task definitions use. A download goes
 * to NAME.part first and is resumed from there (HTTP Range) by the next
 * fetch when interrupted; a file whose sha256 differs is deleted, never
 * unpacked. A dataset whose files were all fetched before is left alone
 * (<dir>/<dataset>/.fetched lists what is done).
 *
 * Errors fill a cj_err naming the dataset, the file and the cause; when no
 * connection could be made the message starts with "offline". Nothing here
 * prints except the progress bar, to opts.progress when it is not NULL. */
#ifndef CJ_FETCH_H
#define CJ_FETCH_H
#include <stdio.h>

#include "../common/err.h"

typedef enum { FETCH_PLAIN, FETCH_GZIP, FETCH_TAR, FETCH_ZIP } fetch_kind;

typedef struct {
    const char *rel;    /* path below the dataset's base URL (and its folder on a mirror) */
    const char *sha256; /* of the bytes served */
} fetch_file;

typedef struct {
    const char *name;    /* its folder under the datasets root, e.g. "mmlu" */
    const char *base;    /* public home: URL = base + rel */
    const char *license; /* one line, for `chaejeom fetch --list` */
    fetch_kind kind;
    const fetch_file *files;
    int n_files;
    const char *strip;             /* archives: leading member path replaced by the dataset folder */
    const char *const *keep;       /* archives: member prefixes (after strip) to unpack; NULL: all */
} fetch_dataset;

int fetch_n_datasets(void);
const fetch_dataset *fetch_dataset_at(int i);
const fetch_dataset *fetch_find(const char *name); /* NULL when unknown */

typedef struct {
    const char *dir;    /* datasets root written to */
    const char *mirror; /* when set, URL = mirror/<dataset>/<rel> instead of the public home */
    FILE *progress;     /* progress bar, or NULL */
    long connect_timeout_s; /* 0: 20 s */
} fetch_opts;

/* Fetches one dataset into opts->dir/<name>. Sets *skipped when it was there
 * already. Requires curl_global_init to have been called. */
int fetch_run(const fetch_dataset *d, const fetch_opts *o, int *skipped, cj_err *e);

/* Unpacking (fetch_unpack.c), for the archive kinds and FETCH_GZIP. Members
 * whose path, after removing `strip`, does not start with one of `keep` are
 * skipped; member paths that would leave dest ("..", absolute) are refused. */
int fetch_untar(const char *archive, const char *dest, const char *strip, const char *const *keep, cj_err *e);
int fetch_unzip(const char *archive, const char *dest, const char *strip, const char *const *keep, cj_err *e);
int fetch_gzip_file(const char *src, const char *dst, cj_err *e);

#endif
