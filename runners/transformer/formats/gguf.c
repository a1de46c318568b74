/* gguf — GGUF v2/v3 reader. See gguf.h for the contract.
 *
 * Layout (little-endian throughout): "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv; n_kv × (string key, u32 type, value); n_tensors × (string name,
 * u32 n_dims, u64 ne[n_dims], u32 type, u64 offset); padding to the
 * alignment; the data section, which tensor offsets index. A string is a u64
 * byte length and the bytes; an array is a u32 element type, a u64 count and
 * the elements (arrays may nest).
 *
 * Hostile input is the design case: before a count drives a loop or an
 * allocation it is checked against the bytes left, using each item's minimum
 * encoded size, so the work done is bounded by the file size. */
#include "gguf.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/fileio.h"
#include "../../../common/sb.h"
#include "quant.h"

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NEST 8 /* arrays of arrays nested deeper are refused */
#define GGUF_DEFAULT_ALIGNMENT 32
#define MIN_KV_BYTES 13     /* key length 8 + type 4 + a 1-byte value */
#define MIN_TENSOR_BYTES 32 /* name length 8 + n_dims 4 + ne[0] 8 + type 4 + offset 8 */

typedef struct {
    char *key;        /* NUL-terminated copy */
    gguf_vtype type;
    size_t val;       /* offset of the value in the image */
    char *str;        /* GGUF_T_STRING: NUL-terminated copy */
    gguf_vtype etype; /* GGUF_T_ARRAY: element type */
    uint64_t n;       /* GGUF_T_ARRAY: element count */
    size_t arr;       /* GGUF_T_ARRAY: offset of the first element */
    size_t *str_at;   /* string arrays: [n] offset of each element's length field */
} gguf_kv;

struct gguf_ctx {
    char *path;             /* owned, for messages */
    cj_map map;             /* valid when owns_map */
    int owns_map;
    const uint8_t *data;    /* the image: [size] */
    size_t size;
    uint32_t version;
    size_t alignment;
    gguf_kv *kvs;           /* [n_kv], file order */
    int64_t n_kv;
    gguf_kv **kv_sorted;    /* [n_kv], by key */
    gguf_tensor *tensors;   /* [n_tensors], file order; names owned */
    int64_t n_tensors;
    gguf_tensor **t_sorted; /* [n_tensors], by name */
};

/* ---- little-endian cursor over the image ---- */

typedef struct {
    gguf_ctx *g;
    size_t pos;       /* invariant: pos <= g->size */
    char what[160];   /* the item being parsed, for messages */
    cj_err *e;
} parser;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static size_t left(const parser *p) { return p->g->size - p->pos; }

static int truncated(parser *p, const char *field) {
    return cj_fail(p->e, "%s: %s: %s truncated at offset %zu (file has %zu bytes)", p->g->path, p->what, field,
                   p->pos, p->g->size);
}

static int rd_uint(parser *p, int n, uint64_t *v, const char *field) {
    *v = 0;
    if (left(p) < (size_t)n) return truncated(p, field);
    *v = le(p->g->data + p->pos, n);
    p->pos += (size_t)n;
    return 0;
}

static int rd_u32(parser *p, uint32_t *v, const char *field) {
    uint64_t x;
    if (rd_uint(p, 4, &x, field) != 0) return -1;
    *v = (uint32_t)x;
    return 0;
}

/* Reads a string; *off is where its bytes start, *len their count. */
static int rd_str(parser *p, size_t *off, uint64_t *len, const char *field) {
    if (rd_uint(p, 8, len, field) != 0) return -1;
    if (*len > left(p))
        return cj_fail(p->e, "%s: %s: %s length %" PRIu64 " runs past the end of the file (%zu bytes left)",
                       p->g->path, p->what, field, *len, left(p));
    *off = p->pos;
    p->pos += (size_t)*len;
    return 0;
}

/* Reads a key or tensor name: a NUL inside it would make two different
 * names compare equal once copied as C strings, so it is refused. */
static int rd_name(parser *p, char **out, size_t *len, const char *field) {
    size_t off;
    uint64_t n;
    if (rd_str(p, &off, &n, field) != 0) return -1;
    const uint8_t *nul = memchr(p->g->data + off, 0, (size_t)n);
    if (nul)
        return cj_fail(p->e, "%s: %s: %s holds a NUL byte (at offset %zu)", p->g->path, p->what, field,
                       (size_t)(nul - p->g->data));
    *out = cj_xstrndup((const char *)p->g->data + off, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* A printable excerpt of a name read from the file, for messages. */
static const char *show(const char *s, size_t n, char buf[80]) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c; /* control bytes would garble a terminal */
    }
    if (n > 64) memcpy(buf + k, "...", 3), k += 3;
    buf[k] = 0;
    return buf;
}

/* ---- metadata ---- */

static const char *vtype_name(uint32_t t) {
    static const char *names[] = {"uint8", "int8",   "uint16", "int16", "uint32", "int32",  "float32",
                                  "bool",  "string", "array",  "uint64", "int64", "float64"};
    return t < sizeof names / sizeof *names ? names[t] : "unknown";
}

/* Encoded size of a fixed-size value type; 0 for string/array/unknown. */
size_t gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_T_UINT8: case GGUF_T_INT8: case GGUF_T_BOOL: return 1;
    case GGUF_T_UINT16: case GGUF_T_INT16: return 2;
    case GGUF_T_UINT32: case GGUF_T_INT32: case GGUF_T_FLOAT32: return 4;
    case GGUF_T_UINT64: case GGUF_T_INT64: case GGUF_T_FLOAT64: return 8;
    default: return 0;
    }
}

static int rd_vtype(parser *p, uint32_t *t, const char *field) {
    if (rd_u32(p, t, field) != 0) return -1;
    if (*t > GGUF_T_FLOAT64) return cj_fail(p->e, "%s: %s: unknown %s %" PRIu32, p->g->path, p->what, field, *t);
    return 0;
}

static int skip_value(parser *p, uint32_t t, int depth);

/* Reads an array header and walks its elements. When k is given (a top-level
 * value), records where the elements are and indexes string elements. */
static int rd_array(parser *p, gguf_kv *k, int depth) {
    if (depth > GGUF_MAX_NEST)
        return cj_fail(p->e, "%s: %s: arrays nested deeper than %d", p->g->path, p->what, GGUF_MAX_NEST);
    uint32_t et;
    uint64_t n;
    if (rd_vtype(p, &et, "array element type") != 0 || rd_uint(p, 8, &n, "array length") != 0) return -1;
    size_t fixed = gguf_vtype_size(et);
    size_t least = fixed ? fixed : et == GGUF_T_STRING ? 8 : 12; /* an array element: type 4 + count 8 */
    if (n > left(p) / least)
        return cj_fail(p->e, "%s: %s: array of %" PRIu64 " %s elements cannot fit in the %zu bytes left", p->g->path,
                       p->what, n, vtype_name(et), left(p));
    if (k) {
        k->etype = (gguf_vtype)et;
        k->n = n;
        k->arr = p->pos;
    }
    if (fixed) {
        p->pos += (size_t)n * fixed;
        return 0;
    }
    if (k && et == GGUF_T_STRING) k->str_at = cj_xmalloc((size_t)n * sizeof *k->str_at + 1);
    for (uint64_t i = 0; i < n; i++) {
        if (k && k->str_at) k->str_at[i] = p->pos;
        if (skip_value(p, et, depth + 1) != 0) return -1;
    }
    return 0;
}

static int skip_value(parser *p, uint32_t t, int depth) {
    size_t off;
    uint64_t len;
    if (t == GGUF_T_STRING) return rd_str(p, &off, &len, "string");
    if (t == GGUF_T_ARRAY) return rd_array(p, NULL, depth);
    size_t n = gguf_vtype_size(t);
    if (left(p) < n) return truncated(p, vtype_name(t));
    p->pos += n;
    return 0;
}

static int rd_kv(parser *p, int64_t i, gguf_kv *k) {
    snprintf(p->what, sizeof p->what, "metadata key #%" PRId64, i);
    size_t off, klen;
    uint64_t len;
    char buf[80];
    if (rd_name(p, &k->key, &klen, "key") != 0) return -1;
    snprintf(p->what, sizeof p->what, "metadata key '%s'", show(k->key, klen, buf));
    uint32_t t;
    if (rd_vtype(p, &t, "value type") != 0) return -1;
    k->type = (gguf_vtype)t;
    k->val = p->pos;
    if (t == GGUF_T_ARRAY) return rd_array(p, k, 1);
    if (t == GGUF_T_STRING) {
        if (rd_str(p, &off, &len, "string value") != 0) return -1;
        k->str = cj_xstrndup((const char *)p->g->data + off, (size_t)len);
        return 0;
    }
    return skip_value(p, t, 1);
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(gguf_kv *const *)a)->key, (*(gguf_kv *const *)b)->key);
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp((*(gguf_tensor *const *)a)->name, (*(gguf_tensor *const *)b)->name);
}

/* ---- typed access to one value ---- */

static const gguf_kv *find_kv(const gguf_ctx *g, const char *key) {
    size_t lo = 0, hi = (size_t)g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv_sorted[mid]->key, key);
        if (c == 0) return g->kv_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static const gguf_kv *need_kv(const gguf_ctx *g, const char *key, cj_err *e) {
    const gguf_kv *k = find_kv(g, key);
    if (!k) cj_fail(e, "%s: metadata key '%s' is missing", g->path, key);
    return k;
}

static int wrong_type(const gguf_ctx *g, const gguf_kv *k, const char *want, cj_err *e) {
    return cj_fail(e, "%s: metadata key '%s' has type %s, expected %s", g->path, k->key, vtype_name(k->type), want);
}

static int is_int_type(gguf_vtype t) {
    return t == GGUF_T_UINT8 || t == GGUF_T_INT8 || t == GGUF_T_UINT16 || t == GGUF_T_INT16 || t == GGUF_T_UINT32 ||
           t == GGUF_T_INT32 || t == GGUF_T_UINT64 || t == GGUF_T_INT64 || t == GGUF_T_BOOL;
}

/* Integer value of a scalar of integer type; 0 if it does not fit int64. */
static int int_value(const gguf_ctx *g, const gguf_kv *k, int64_t *out) {
    const uint8_t *p = g->data + k->val;
    uint64_t u = le(p, (int)gguf_vtype_size(k->type));
    switch (k->type) {
    case GGUF_T_INT8: *out = (int8_t)u; return 1;
    case GGUF_T_INT16: *out = (int16_t)u; return 1;
    case GGUF_T_INT32: *out = (int32_t)u; return 1;
    case GGUF_T_INT64: *out = (int64_t)u; return 1;
    case GGUF_T_BOOL: *out = u != 0; return 1;
    default:
        if (u > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)u;
        return 1;
    }
}

/* ---- the parse ---- */

static int parse_header(parser *p, uint64_t *n_tensors, uint64_t *n_kv) {
    gguf_ctx *g = p->g;
    snprintf(p->what, sizeof p->what, "header");
    if (g->size < 4 || memcmp(g->data, "GGUF", 4) != 0)
        return cj_fail(p->e, "%s: not a GGUF file (no \"GGUF\" magic at offset 0)", g->path);
    p->pos = 4;
    if (rd_u32(p, &g->version, "version") != 0) return -1;
    uint32_t v = g->version;
    if (v == 1) return cj_fail(p->e, "%s: GGUF version 1 is not supported (only v2 and v3)", g->path);
    if ((v & 0xffff) == 0 && v != 0) {
        uint32_t sw = (v >> 24) | ((v >> 8) & 0xff00);
        return cj_fail(p->e, "%s: big-endian GGUF (version field reads 0x%08" PRIx32 ", i.e. v%" PRIu32
                             " byte-swapped) is not supported",
                       g->path, v, sw);
    }
    if (v != 2 && v != 3)
        return cj_fail(p->e, "%s: GGUF version %" PRIu32 " is not supported (only v2 and v3)", g->path, v);
    if (rd_uint(p, 8, n_tensors, "tensor count") != 0 || rd_uint(p, 8, n_kv, "metadata count") != 0) return -1;
    /* Each item takes a minimum number of bytes: refuse counts the rest of the
     * file cannot hold before allocating anything for them. */
    if (*n_kv > left(p) / MIN_KV_BYTES)
        return cj_fail(p->e, "%s: metadata count %" PRIu64 " is more than the %zu bytes left can hold", g->path, *n_kv,
                       left(p));
    if (*n_tensors > (left(p) - *n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return cj_fail(p->e, "%s: tensor count %" PRIu64 " is more than the %zu bytes left can hold", g->path,
                       *n_tensors, left(p));
    return 0;
}

static int parse_alignment(parser *p) {
    gguf_ctx *g = p->g;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *k = find_kv(g, "general.alignment");
    if (!k) return 0;
    int64_t a;
    if (!is_int_type(k->type) || k->type == GGUF_T_BOOL || !int_value(g, k, &a))
        return cj_fail(p->e, "%s: metadata key 'general.alignment' has type %s, expected uint32", g->path,
                       vtype_name(k->type));
    if (a <= 0 || a > (int64_t)1 << 30 || (a & (a - 1)) != 0)
        return cj_fail(p->e, "%s: general.alignment %" PRId64 " is not a power of two in [1, 2^30]", g->path, a);
    g->alignment = (size_t)a;
    return 0;
}

static int supported_type(uint32_t t) { return t <= GGML_BF16 && quant_block_elems((ggml_type)t) != 0; }

static const char *ggml_type_label(uint32_t t) {
    static const char *names[] = {"F32",     "F16",    "Q4_0",    "Q4_1",   "Q4_2",  "Q4_3",  "Q5_0",
                                  "Q5_1",    "Q8_0",   "Q8_1",    "Q2_K",   "Q3_K",  "Q4_K",  "Q5_K",
                                  "Q6_K",    "Q8_K",   "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
                                  "IQ3_S",   "IQ2_S",  "IQ4_XS",  "I8",     "I16",   "I32",   "I64",
                                  "F64",     "IQ1_M",  "BF16",    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
                                  "TQ2_0"};
    return t < sizeof names / sizeof *names ? names[t] : "unknown";
}

/* Reads one tensor info: name, shape, type and offset (checked later). */
static int rd_tensor_info(parser *p, int64_t i, gguf_tensor *t, uint64_t *offset) {
    snprintf(p->what, sizeof p->what, "tensor #%" PRId64, i);
    size_t len;
    char buf[80];
    char *name;
    if (rd_name(p, &name, &len, "name") != 0) return -1;
    t->name = name;
    snprintf(p->what, sizeof p->what, "tensor '%s'", show(t->name, len, buf));
    uint32_t nd;
    if (rd_u32(p, &nd, "n_dims") != 0) return -1;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return cj_fail(p->e, "%s: %s: n_dims %" PRIu32 " is not in 1..%d", p->g->path, p->what, nd, GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && rd_uint(p, 8, &ne, "shape") != 0) return -1;
        if (ne > (uint64_t)INT64_MAX || (ne && n > (uint64_t)INT64_MAX / ne))
            return cj_fail(p->e, "%s: %s: ne[%d] = %" PRIu64 " makes the element count overflow", p->g->path, p->what,
                           d, ne);
        t->ne[d] = (int64_t)ne;
        n *= ne;
    }
    t->n_elements = n;
    uint32_t type;
    if (rd_u32(p, &type, "type") != 0) return -1;
    if (!supported_type(type))
        return cj_fail(p->e, "%s: %s: tensor type %" PRIu32 " (%s) is not supported (F32, F16, BF16, Q4_0, Q4_1, "
                             "Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS are)",
                       p->g->path, p->what, type, ggml_type_label(type));
    t->type = (ggml_type)type;
    int be = quant_block_elems(t->type);
    if (t->ne[0] % be != 0)
        return cj_fail(p->e, "%s: %s: row length ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                       p->g->path, p->what, t->ne[0], quant_type_name(t->type), be);
    if (quant_nbytes(t->type, n, &t->nbytes) != 0)
        return cj_fail(p->e, "%s: %s: %" PRIu64 " elements of %s overflow a size", p->g->path, p->what, n,
                       quant_type_name(t->type));
    return rd_uint(p, 8, offset, "data offset");
}

/* The data section starts at the first aligned offset after the tensor
 * infos; each tensor must lie inside it, at an aligned offset. */
static int place_tensors(parser *p, const uint64_t *offsets) {
    gguf_ctx *g = p->g;
    if (g->n_tensors == 0) return 0;
    size_t a = g->alignment, start = p->pos;
    if (start % a) {
        if (a - start % a > left(p))
            return cj_fail(p->e, "%s: file ends (%zu bytes) before the aligned data section", g->path, g->size);
        start += a - start % a;
    }
    size_t room = g->size - start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        char buf[80];
        const char *nm = show(t->name, strlen(t->name), buf);
        if (offsets[i] % a != 0)
            return cj_fail(p->e, "%s: tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %zu",
                           g->path, nm, offsets[i], a);
        if (offsets[i] > room || t->nbytes > room - offsets[i])
            return cj_fail(p->e, "%s: tensor '%s': data [%" PRIu64 ", +%zu bytes) lies outside the %zu-byte data section",
                           g->path, nm, offsets[i], t->nbytes, room);
        t->data = g->data + start + offsets[i];
    }
    return 0;
}

/* Sorted views for O(log n) lookups; they also expose duplicate names. */
static int index_kvs(parser *p) {
    gguf_ctx *g = p->g;
    char buf[80];
    g->kv_sorted = cj_xmalloc((size_t)g->n_kv * sizeof *g->kv_sorted + 1);
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kvs[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0)
            return cj_fail(p->e, "%s: metadata key '%s' appears twice", g->path,
                           show(g->kv_sorted[i]->key, strlen(g->kv_sorted[i]->key), buf));
    return 0;
}

static int index_tensors(parser *p) {
    gguf_ctx *g = p->g;
    char buf[80];
    g->t_sorted = cj_xmalloc((size_t)g->n_tensors * sizeof *g->t_sorted + 1);
    for (int64_t i = 0; i < g->n_tensors; i++) g->t_sorted[i] = &g->tensors[i];
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_tensor);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name) == 0)
            return cj_fail(p->e, "%s: tensor '%s' appears twice", g->path,
                           show(g->t_sorted[i]->name, strlen(g->t_sorted[i]->name), buf));
    return 0;
}

static int parse(gguf_ctx *g, cj_err *e) {
    parser p = {.g = g, .pos = 0, .e = e};
    uint64_t n_tensors = 0, n_kv = 0;
    if (parse_header(&p, &n_tensors, &n_kv) != 0) return -1;
    g->kvs = cj_xcalloc((size_t)n_kv + 1, sizeof *g->kvs);
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1; /* so that gguf_close frees what was read */
        if (rd_kv(&p, (int64_t)i, &g->kvs[i]) != 0) return -1;
    }
    g->n_kv = (int64_t)n_kv;
    if (index_kvs(&p) != 0 || parse_alignment(&p) != 0) return -1;
    if (n_tensors > left(&p) / MIN_TENSOR_BYTES)
        return cj_fail(e, "%s: tensor count %" PRIu64 " is more than the %zu bytes after the metadata can hold", g->path,
                       n_tensors, left(&p));
    g->tensors = cj_xcalloc((size_t)n_tensors + 1, sizeof *g->tensors);
    uint64_t *offsets = cj_xcalloc((size_t)n_tensors + 1, sizeof *offsets);
    int rc = 0;
    for (uint64_t i = 0; i < n_tensors && rc == 0; i++) {
        g->n_tensors = (int64_t)i + 1;
        rc = rd_tensor_info(&p, (int64_t)i, &g->tensors[i], &offsets[i]);
    }
    if (rc == 0) rc = place_tensors(&p, offsets);
    free(offsets);
    if (rc == 0) rc = index_tensors(&p);
    return rc;
}

/* ---- public API ---- */

static int open_common(gguf_ctx *g, gguf_ctx **out, cj_err *e) {
    if (parse(g, e) != 0) {
        gguf_close(g);
        return -1;
    }
    *out = g;
    return 0;
}

int gguf_open_mem(const void *data, size_t size, const char *name, gguf_ctx **out, cj_err *e) {
    *out = NULL;
    gguf_ctx *g = cj_xcalloc(1, sizeof *g);
    g->path = cj_xstrdup(name);
    g->data = data;
    g->size = data ? size : 0;
    return open_common(g, out, e);
}

int gguf_open(const char *path, gguf_ctx **out, cj_err *e) {
    *out = NULL;
    gguf_ctx *g = cj_xcalloc(1, sizeof *g);
    if (cj_map_open(path, &g->map, e) != 0) {
        free(g);
        return -1;
    }
    g->owns_map = 1;
    g->path = cj_xstrdup(path);
    g->data = g->map.data;
    g->size = g->map.size;
    return open_common(g, out, e);
}

void gguf_close(gguf_ctx *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].str);
        free(g->kvs[i].str_at);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    if (g->owns_map) cj_map_close(&g->map);
    free(g->path);
    free(g);
}

uint32_t gguf_version(const gguf_ctx *g) { return g->version; }
size_t gguf_alignment(const gguf_ctx *g) { return g->alignment; }
const char *gguf_path(const gguf_ctx *g) { return g->path; }

const unsigned char *gguf_file_data(const gguf_ctx *g, size_t *size) {
    *size = g->size;
    return g->data;
}

int64_t gguf_find_key(const gguf_ctx *g, const char *key) {
    const gguf_kv *k = find_kv(g, key);
    return k ? k - g->kvs : -1;
}

int64_t gguf_n_keys(const gguf_ctx *g) { return g->n_kv; }

const char *gguf_key_name(const gguf_ctx *g, int64_t i) {
    assert(i >= 0 && i < g->n_kv);
    return g->kvs[i].key;
}

gguf_vtype gguf_key_type(const gguf_ctx *g, int64_t i) {
    assert(i >= 0 && i < g->n_kv);
    return g->kvs[i].type;
}

int gguf_get_int(const gguf_ctx *g, const char *key, int64_t *out, cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return -1;
    if (!is_int_type(k->type)) return wrong_type(g, k, "an integer", e);
    if (!int_value(g, k, out))
        return cj_fail(e, "%s: metadata key '%s': value %" PRIu64 " is too large", g->path, key,
                       le(g->data + k->val, 8));
    return 0;
}

int gguf_get_float(const gguf_ctx *g, const char *key, double *out, cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return -1;
    const uint8_t *p = g->data + k->val;
    if (k->type == GGUF_T_FLOAT32) {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 0;
    }
    if (k->type == GGUF_T_FLOAT64) {
        uint64_t u = le(p, 8);
        memcpy(out, &u, 8);
        return 0;
    }
    if (k->type == GGUF_T_UINT64) {
        *out = (double)le(p, 8);
        return 0;
    }
    int64_t v;
    if (!is_int_type(k->type) || k->type == GGUF_T_BOOL || !int_value(g, k, &v)) return wrong_type(g, k, "a number", e);
    *out = (double)v;
    return 0;
}

int gguf_get_bool(const gguf_ctx *g, const char *key, int *out, cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return -1;
    if (k->type != GGUF_T_BOOL) return wrong_type(g, k, "bool", e);
    *out = g->data[k->val] != 0;
    return 0;
}

const char *gguf_get_str(const gguf_ctx *g, const char *key, cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return NULL;
    if (k->type != GGUF_T_STRING) {
        wrong_type(g, k, "string", e);
        return NULL;
    }
    return k->str;
}

int gguf_get_arr(const gguf_ctx *g, const char *key, gguf_vtype *elem_type, uint64_t *n, const void **data,
                 cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return -1;
    if (k->type != GGUF_T_ARRAY) return wrong_type(g, k, "array", e);
    *elem_type = k->etype;
    *n = k->n;
    *data = g->data + k->arr;
    return 0;
}

int gguf_get_arr_str(const gguf_ctx *g, const char *key, uint64_t i, const char **s, uint64_t *len, cj_err *e) {
    const gguf_kv *k = need_kv(g, key, e);
    if (!k) return -1;
    if (k->type != GGUF_T_ARRAY || k->etype != GGUF_T_STRING) {
        if (k->type != GGUF_T_ARRAY) return wrong_type(g, k, "array of string", e);
        return cj_fail(e, "%s: metadata key '%s' is an array of %s, expected an array of string", g->path, key,
                       vtype_name(k->etype));
    }
    if (i >= k->n)
        return cj_fail(e, "%s: metadata key '%s': index %" PRIu64 " is out of range (%" PRIu64 " strings)", g->path,
                       key, i, k->n);
    size_t at = k->str_at[i];
    *len = le(g->data + at, 8);
    *s = (const char *)g->data + at + 8;
    return 0;
}

int64_t gguf_n_tensors(const gguf_ctx *g) { return g->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_ctx *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_ctx *g, const char *name) {
    size_t lo = 0, hi = (size_t)g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t_sorted[mid]->name, name);
        if (c == 0) return g->t_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
