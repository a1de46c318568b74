/* libFuzzer target: the safetensors reader (st_parse) on the whole input,
 * then st_find and st_to_f32 on every tensor it accepts.
 *
 * Invariants beyond "no crash, no leak": tensors are sorted and findable by
 * name; each lies inside the data buffer (after the header) and takes
 * exactly its element count times its dtype's size; shapes are non-negative
 * and multiply to the element count. */
#include "../../runners/transformer/formats/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}

static unsigned dtype_size(const char *name) {
    static const struct {
        const char *name;
        unsigned size;
    } sizes[] = {{"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4}, {"U32", 4}, {"F16", 2}, {"BF16", 2},
                 {"I16", 2}, {"U16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (!strcmp(sizes[i].name, name)) return sizes[i].size;
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f;
    cj_err e;
    int rc = st_parse("fuzz.safetensors", data, size, &f, &e);
    fz_check_err(rc, &e);
    if (rc != 0) {
        if (f.n || f.t || strncmp(e.msg, "fuzz.safetensors", 16) != 0) __builtin_trap();
        return 0;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    const uint8_t *buf = data + 8 + hlen, *end = data + size;
    for (int i = 0; i < f.n; i++) {
        const st_tensor *t = &f.t[i];
        if (i && strcmp(f.t[i - 1].name, t->name) >= 0) __builtin_trap();
        if (st_find(&f, t->name) != t) __builtin_trap();
        if (t->n_dims < 0 || t->n_dims > ST_MAX_DIMS) __builtin_trap();
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0) __builtin_trap();
            n *= (uint64_t)t->shape[d];
        }
        if (n != t->n_elements || t->nbytes != n * dtype_size(t->dtype_name)) __builtin_trap();
        if (t->data < buf || t->data > end || t->nbytes > (size_t)(end - t->data)) __builtin_trap();
        float *dst = malloc(sizeof *dst * (t->n_elements + 1));
        rc = st_to_f32(&f, t, dst, &e);
        fz_check_err(rc, &e);
        if ((rc == 0) != (t->dtype != ST_OTHER)) __builtin_trap();
        free(dst);
    }
    st_free(&f);
    return 0;
}
