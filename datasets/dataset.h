/* dataset — readers that turn data files into docs.
 *
 * Every reader returns the file's records as a jansson array of JSON
 * objects, one per doc, in file order; a doc's stable id is its index in
 * that array (plus the split name, which the task layer adds). Formats:
 *   csv       RFC 4180: quoted fields, "" escapes, embedded newlines, CRLF or
 *             LF, optional UTF-8 BOM, optional header row; another
 *             delimiter (TSV) and quoting off are options. Without a header,
 *             the caller names the columns; a row with another column count
 *             is an error naming file and line.
 *   jsonl     one JSON object per line (blank lines skipped).
 *   json      a JSON array of objects.
 *   hellaswag 6 lines per doc: query, gold index, four endings ->
 *             {"query", "label", "endings": [4]}.
 * Any of them may be gzip-compressed (detected by magic bytes).
 *
 * Details (datasets/csv.h, ds_jsonl.h, ds_hellaswag.h say more):
 *   - A leading UTF-8 BOM is dropped in every format. Lines end at "\n",
 *     "\r\n" or a lone "\r"; line numbers in errors start at 1.
 *   - Text must be valid UTF-8 without NUL bytes; an invalid byte is an error
 *     naming its line ("FILE:LINE: invalid UTF-8 (byte 0xFF)").
 *   - CSV values are always strings, keys are in column order; empty lines
 *     are skipped; a NULL ds_csv_opts means "with a header row"; with a
 *     header row, columns is ignored. A record whose field count is wrong
 *     fails with "FILE:LINE: expected N columns, found M" (LINE = where the
 *     record starts); an unclosed quote with "FILE:LINE: unterminated quoted
 *     field" (LINE = where the field opens).
 *   - JSON object keys keep file order (TruthfulQA's gold mc1 target is the
 *     first key). HellaSwag's "label" is an integer 0-3.
 *
 * Ownership: *docs is a new reference the caller releases with json_decref;
 * on failure *docs is NULL and e holds the message. */
#ifndef CJ_DATASET_H
#define CJ_DATASET_H

#include <jansson.h>
#include <stddef.h>

#include "../common/err.h"

typedef enum { DS_CSV = 0, DS_JSONL = 1, DS_JSON = 2, DS_HELLASWAG = 3 } ds_format;

typedef struct {
    int header;                 /* CSV: 1 = first row holds column names */
    const char *const *columns; /* CSV without header: column names */
    int n_columns;
    char delimiter;             /* between fields; 0 means ',' */
    int no_quoting;             /* 1: '"' is an ordinary character (no quoted fields) */
} ds_csv_opts;

/* "csv" | "jsonl" | "json" | "hellaswag" -> format; -1 if unknown. */
int ds_format_parse(const char *name, ds_format *out);

/* Reads path. csv may be NULL for non-CSV formats. sha256 (may be NULL)
 * receives the hash of the file's raw bytes (of the compressed bytes for a
 * gzip file: what `sha256sum FILE` prints). */
int ds_read(const char *path, ds_format fmt, const ds_csv_opts *csv, json_t **docs, char sha256[65], cj_err *e);

/* Parses len bytes of an already decompressed file held in memory (buf need
 * not be NUL-terminated). name labels error messages ("NAME:LINE: ...").
 * ds_read is cj_read_file followed by this. */
int ds_parse(const char *name, const char *buf, size_t len, ds_format fmt, const ds_csv_opts *csv, json_t **docs,
             cj_err *e);

/* Replaces each doc's fields[0..n_fields) (text holding a Python or JSON
 * list literal, e.g. "['a', 'b']") by the list it writes (datasets/listlit.c
 * says which literals). A field that is already a list stays. Errors name
 * name (the file), the doc index, the field and the offset; docs may then
 * be partly converted. */
int ds_list_fields(const char *name, json_t *docs, const char *const *fields, int n_fields, cj_err *e);

/* Content hash of one doc: sha256 (lowercase hex) of its canonical JSON,
 * i.e. the bytes of json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS): no
 * whitespace, keys sorted bytewise at every level, strings as raw UTF-8 (only
 * '"', '\\' and control characters escaped), reals as jansson's "%.17g".
 * Key order in the file therefore does not change the hash. */
void ds_doc_hash(const json_t *doc, char hex[65]);

#endif
