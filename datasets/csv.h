/* csv — RFC 4180 records to JSON objects.
 *
 * Grammar accepted: fields separated by opts->delimiter (',' when 0: '\t'
 * for TSV, ';', ...); records end at "\r\n", "\n" or a lone "\r" (or the end
 * of the buffer); a field that starts with '"' is quoted and may hold the
 * delimiter, '"' (written "") and line breaks, which are kept verbatim; after
 * its closing quote only the delimiter, a line break or the end may follow.
 * A '"' inside an unquoted field is an ordinary character, and with
 * opts->no_quoting every '"' is (TSV files whose text holds bare quotes:
 * Python's csv.QUOTE_NONE); a field then never holds a delimiter or a line
 * break. Empty
 * lines between records are skipped. The text must be valid UTF-8 without
 * NUL bytes (the caller strips a BOM).
 *
 * Each record becomes an object {column name: string value} in column order;
 * values are never converted to numbers. With opts->header the first record
 * names the columns (opts->columns is ignored); otherwise opts->columns does,
 * and there must be at least one. Duplicate column names are an error, as is
 * a record whose field count differs from the number of columns: the message
 * names the physical line where the record starts.
 *
 * Ownership: on success *docs is a new array the caller releases with
 * json_decref; on failure *docs is NULL. */
#ifndef CJ_CSV_H
#define CJ_CSV_H

#include <jansson.h>
#include <stddef.h>

#include "../common/err.h"
#include "dataset.h"

int csv_parse(const char *name, const char *buf, size_t len, const ds_csv_opts *opts, json_t **docs, cj_err *e);

#endif
