/* safetensors — header parsing and bounds checks; see safetensors.h. */
#include "safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/sb.h"
#include "quant.h"

typedef struct {
    const char *name;
    st_dtype dtype;
    unsigned size;
} dtype_info;

/* Every dtype the format defines, so that a file holding some we do not load
 * still has all its ranges checked. */
static const dtype_info DTYPES[] = {
    {"F32", ST_F32, 4},     {"F16", ST_F16, 2},      {"BF16", ST_BF16, 2},    {"F64", ST_OTHER, 8},
    {"I64", ST_OTHER, 8},   {"U64", ST_OTHER, 8},    {"I32", ST_OTHER, 4},    {"U32", ST_OTHER, 4},
    {"I16", ST_OTHER, 2},   {"U16", ST_OTHER, 2},    {"I8", ST_OTHER, 1},     {"U8", ST_OTHER, 1},
    {"BOOL", ST_OTHER, 1},  {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

static const dtype_info *find_dtype(const char *s) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (!strcmp(DTYPES[i].name, s)) return &DTYPES[i];
    return NULL;
}

static uint64_t rd_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A JSON integer that must be >= 0; -1 on anything else. */
static int json_u64(const json_t *j, uint64_t *out) {
    if (!json_is_integer(j) || json_integer_value(j) < 0) return -1;
    *out = (uint64_t)json_integer_value(j);
    return 0;
}

static int parse_tensor(const char *path, const char *name, const json_t *desc, const unsigned char *buf,
                        uint64_t buf_len, st_tensor *t, cj_err *e) {
    if (!json_is_object(desc)) return cj_fail(e, "%s: tensor '%s': entry is not a JSON object", path, name);
    const json_t *dt = json_object_get(desc, "dtype");
    if (!json_is_string(dt)) return cj_fail(e, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    const dtype_info *info = find_dtype(json_string_value(dt));
    if (!info) return cj_fail(e, "%s: tensor '%s': unknown dtype '%.32s'", path, name, json_string_value(dt));
    const json_t *shape = json_object_get(desc, "shape");
    if (!json_is_array(shape)) return cj_fail(e, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    if (json_array_size(shape) > ST_MAX_DIMS)
        return cj_fail(e, "%s: tensor '%s': %zu dimensions (at most %d)", path, name, json_array_size(shape),
                       ST_MAX_DIMS);
    t->n_dims = (int)json_array_size(shape);
    uint64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t v;
        if (json_u64(json_array_get(shape, (size_t)d), &v) || v > (uint64_t)INT64_MAX)
            return cj_fail(e, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, d);
        if (v && n > UINT64_MAX / v)
            return cj_fail(e, "%s: tensor '%s': element count overflows", path, name);
        n *= v;
        t->shape[d] = (int64_t)v;
    }
    if (n > UINT64_MAX / info->size) return cj_fail(e, "%s: tensor '%s': byte size overflows", path, name);
    const json_t *off = json_object_get(desc, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(off) || json_array_size(off) != 2 || json_u64(json_array_get(off, 0), &begin) ||
        json_u64(json_array_get(off, 1), &end))
        return cj_fail(e, "%s: tensor '%s': \"data_offsets\" is not [begin, end]", path, name);
    if (begin > end || end > buf_len)
        return cj_fail(e, "%s: tensor '%s': data_offsets [%llu, %llu] outside the %llu-byte data buffer", path,
                       name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)buf_len);
    if (end - begin != n * info->size)
        return cj_fail(e, "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", path, name,
                       (unsigned long long)(end - begin), info->name, (unsigned long long)(n * info->size));
    t->name = cj_xstrdup(name);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", info->name);
    t->dtype = info->dtype;
    t->n_elements = n;
    t->data = buf + begin;
    t->nbytes = (size_t)(end - begin);
    return 0;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

int st_parse(const char *path, const unsigned char *data, size_t size, st_file *out, cj_err *e) {
    memset(out, 0, sizeof *out);
    if (size < 8) return cj_fail(e, "%s: file of %zu bytes is too short for a safetensors header", path, size);
    uint64_t hlen = rd_u64(data);
    if (hlen > ST_MAX_HEADER || hlen > size - 8)
        return cj_fail(e, "%s: safetensors header length %llu does not fit in the %zu-byte file (limit %llu)", path,
                       (unsigned long long)hlen, size, (unsigned long long)ST_MAX_HEADER);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return cj_fail(e, "%s: safetensors header is not valid JSON: %s (at byte %d)", path, jerr.text,
                              jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return cj_fail(e, "%s: safetensors header is not a JSON object", path);
    }
    out->path = cj_xstrdup(path);
    out->t = cj_xcalloc(json_object_size(root) + 1, sizeof *out->t);
    const unsigned char *buf = data + 8 + hlen;
    uint64_t buf_len = size - 8 - hlen;
    const char *name;
    json_t *desc;
    json_object_foreach(root, name, desc) {
        if (!strcmp(name, "__metadata__")) continue;
        if (parse_tensor(path, name, desc, buf, buf_len, &out->t[out->n], e)) {
            json_decref(root);
            st_free(out);
            return -1;
        }
        out->n++;
    }
    json_decref(root);
    qsort(out->t, (size_t)out->n, sizeof *out->t, cmp_tensor);
    return 0;
}

void st_free(st_file *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    st_tensor key = {0};
    key.name = (char *)name;
    return f->n ? bsearch(&key, f->t, (size_t)f->n, sizeof *f->t, cmp_tensor) : NULL;
}

int st_to_f32(const st_file *f, const st_tensor *t, float *dst, cj_err *e) {
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, p, t->n_elements * sizeof(float)); return 0;
    case ST_F16: quant_dequantize(GGML_F16, p, dst, t->n_elements); return 0;
    case ST_BF16: quant_dequantize(GGML_BF16, p, dst, t->n_elements); return 0;
    case ST_OTHER: break;
    }
    return cj_fail(e, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 load", f->path, t->name, t->dtype_name);
}
