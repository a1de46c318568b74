/* safetensors — a reader for the HF safetensors tensor format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (an object: tensor name -> {"dtype", "shape", "data_offsets": [begin,
 * end]}, plus an optional "__metadata__" object), then the byte buffer the
 * offsets are relative to. st_parse checks N against the file, every shape
 * (non-negative, overflow-safe element count), and every data range (inside
 * the buffer, exactly elements * dtype size bytes) before it returns, so
 * tensor data pointers can be used without further checks.
 *
 * Ownership: st_parse does not own the bytes it is given (the caller keeps
 * the file mapped while the st_file is used); the st_file owns its tensor
 * table and names, released by st_free. */
#ifndef CJ_SAFETENSORS_H
#define CJ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../../../common/err.h"

/* Largest JSON header accepted (the reference implementation's limit). */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_DIMS 8

typedef enum {
    ST_OTHER = 0, /* a dtype we recognise the size of but do not load */
    ST_F32,
    ST_F16,
    ST_BF16
} st_dtype;

typedef struct {
    char *name;                   /* owned */
    char dtype_name[16];          /* as written, e.g. "BF16" */
    st_dtype dtype;
    int n_dims;                   /* 0..ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS];   /* outermost first (row-major, [out, in] for a matrix) */
    uint64_t n_elements;
    const unsigned char *data;    /* into the caller's buffer */
    size_t nbytes;
} st_tensor;

typedef struct {
    char *path;      /* owned, for messages */
    st_tensor *t;    /* owned, sorted by name */
    int n;
} st_file;

/* Parses the safetensors file of size bytes at data (path names it in
 * messages). Returns 0, or -1 with a message naming path and the field. */
int st_parse(const char *path, const unsigned char *data, size_t size, st_file *out, cj_err *e);
void st_free(st_file *f);

/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);

/* Writes the tensor's n_elements values as F32 into dst (F32, F16, BF16;
 * -1 with a message for any other dtype). */
int st_to_f32(const st_file *f, const st_tensor *t, float *dst, cj_err *e);

#endif
