/* gguf — a reader for GGUF v2/v3 files (the llama.cpp model format).
 *
 * gguf_open maps the file and parses the header, every metadata key/value
 * (all value types, arrays included) and the tensor table. Every count,
 * length and offset is checked against the file size with overflow-safe
 * arithmetic before use; a malformed file gives -1 and a message naming the
 * file, the field and the bad value, never a crash.
 *
 * Ownership: the gguf_ctx owns the mapping and every string/array it hands
 * out; those pointers are valid until gguf_close. Strings in the file are not
 * NUL-terminated; the getters below return NUL-terminated copies owned by the
 * ctx (gguf_get_str) or (pointer, length) views into the map (arrays). */
#ifndef CJ_GGUF_H
#define CJ_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "../../../common/err.h"

/* Metadata value types, numbered as in the GGUF spec. */
typedef enum {
    GGUF_T_UINT8 = 0, GGUF_T_INT8 = 1, GGUF_T_UINT16 = 2, GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4, GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8, GGUF_T_ARRAY = 9, GGUF_T_UINT64 = 10, GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12
} gguf_vtype;

/* Tensor types, numbered as in ggml (only these load: a file holding any
 * other type is refused by gguf_open, with the type's ggml name). */
typedef enum {
    GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7, GGML_Q8_0 = 8,
    GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14, GGML_IQ4_NL = 20,
    GGML_IQ4_XS = 23, GGML_BF16 = 30
} ggml_type;

typedef struct {
    const char *name;          /* NUL-terminated, owned by the ctx */
    ggml_type type;
    int n_dims;                /* 1..4 */
    int64_t ne[4];             /* ne[0] is the fastest-varying (row length) */
    uint64_t n_elements;
    const void *data;          /* into the map, inside the file, size nbytes */
    size_t nbytes;
} gguf_tensor;

typedef struct gguf_ctx gguf_ctx;

int gguf_open(const char *path, gguf_ctx **out, cj_err *e);
/* Parses a GGUF image already in memory (e.g. a map the caller keeps, or a
 * test buffer). The ctx does not own data, which must stay valid and
 * unchanged until gguf_close; name is used in messages and by gguf_path. */
int gguf_open_mem(const void *data, size_t size, const char *name, gguf_ctx **out, cj_err *e);
void gguf_close(gguf_ctx *g);

uint32_t gguf_version(const gguf_ctx *g);
/* general.alignment (default 32): tensor data offsets are multiples of it. */
size_t gguf_alignment(const gguf_ctx *g);
const char *gguf_path(const gguf_ctx *g);
const unsigned char *gguf_file_data(const gguf_ctx *g, size_t *size);

/* Encoded size of a fixed-size value type; 0 for string, array or unknown. */
size_t gguf_vtype_size(uint32_t t);

/* Metadata. Index of a key, or -1 when absent. */
int64_t gguf_find_key(const gguf_ctx *g, const char *key);
int64_t gguf_n_keys(const gguf_ctx *g);
const char *gguf_key_name(const gguf_ctx *g, int64_t i);
gguf_vtype gguf_key_type(const gguf_ctx *g, int64_t i);

/* Typed scalar getters by key name. They return 0 and set *out, or -1 with a
 * message if the key is absent or has an incompatible type. get_int accepts
 * any integer type (and bool) and range-checks into int64; get_float accepts
 * float32/float64 and integers. */
int gguf_get_int(const gguf_ctx *g, const char *key, int64_t *out, cj_err *e);
int gguf_get_float(const gguf_ctx *g, const char *key, double *out, cj_err *e);
int gguf_get_bool(const gguf_ctx *g, const char *key, int *out, cj_err *e);
/* NUL-terminated copy owned by g; NULL (and a message) if absent or not a string. */
const char *gguf_get_str(const gguf_ctx *g, const char *key, cj_err *e);

/* Arrays. gguf_get_arr gives the element type and count. For numeric element
 * types, *data points at the packed little-endian elements in the map (may be
 * unaligned: memcpy them out). For strings use gguf_get_arr_str. */
int gguf_get_arr(const gguf_ctx *g, const char *key, gguf_vtype *elem_type, uint64_t *n, const void **data,
                 cj_err *e);
/* i-th string of a string array: pointer into the map and its byte length. */
int gguf_get_arr_str(const gguf_ctx *g, const char *key, uint64_t i, const char **s, uint64_t *len, cj_err *e);

/* Tensors. */
int64_t gguf_n_tensors(const gguf_ctx *g);
const gguf_tensor *gguf_tensor_at(const gguf_ctx *g, int64_t i);
/* NULL when absent. */
const gguf_tensor *gguf_find_tensor(const gguf_ctx *g, const char *name);

#endif
