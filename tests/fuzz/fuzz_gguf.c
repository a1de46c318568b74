/* libFuzzer target: the GGUF reader (gguf_open_mem), every typed getter on
 * every key, dequantization of every tensor, and the two loaders that sit on
 * it: the tokenizer from tokenizer.ggml.* metadata and the model (through an
 * in-memory file, since model_load takes a path).
 *
 * Invariants beyond "no crash, no leak": every tensor lies inside the image
 * and takes exactly the bytes its type and shape need; a string array's
 * strings lie inside the image; a loaded model passes fz_check_model. */
#include "../../runners/transformer/formats/gguf.h"
#include "../../runners/transformer/formats/quant.h"
#include "fuzz_util.h"

static fz_memfile file;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_memfile_open(&file, "fuzz_gguf");
    return 0;
}

static void check_inside(const uint8_t *img, size_t size, const void *p, uint64_t n) {
    const uint8_t *b = p;
    if (b < img || b > img + size || n > (uint64_t)(img + size - b)) __builtin_trap();
}

static void walk_keys(const gguf_ctx *g, const uint8_t *img, size_t size) {
    for (int64_t i = 0; i < gguf_n_keys(g); i++) {
        const char *key = gguf_key_name(g, i);
        if (gguf_find_key(g, key) != i) __builtin_trap(); /* keys are unique */
        cj_err e;
        int64_t iv;
        double dv;
        int bv;
        fz_check_err(gguf_get_int(g, key, &iv, &e), &e);
        fz_check_err(gguf_get_float(g, key, &dv, &e), &e);
        fz_check_err(gguf_get_bool(g, key, &bv, &e), &e);
        const char *s = gguf_get_str(g, key, &e);
        if ((s == NULL) != (gguf_key_type(g, i) != GGUF_T_STRING)) __builtin_trap();
        gguf_vtype et;
        uint64_t n;
        const void *arr;
        if (gguf_get_arr(g, key, &et, &n, &arr, &e) != 0) continue;
        if (et == GGUF_T_STRING) {
            for (uint64_t k = 0; k < n; k++) {
                const char *str;
                uint64_t len;
                if (gguf_get_arr_str(g, key, k, &str, &len, &e) != 0) __builtin_trap();
                check_inside(img, size, str, len);
            }
            const char *str;
            uint64_t len;
            if (gguf_get_arr_str(g, key, n, &str, &len, &e) == 0) __builtin_trap();
        }
    }
}

static void walk_tensors(const gguf_ctx *g, const uint8_t *img, size_t size) {
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_find_tensor(g, t->name) != t) __builtin_trap();
        if (t->n_dims < 1 || t->n_dims > 4) __builtin_trap();
        uint64_t n = 1;
        for (int d = 0; d < 4; d++) {
            if (t->ne[d] < 0) __builtin_trap();
            n *= (uint64_t)t->ne[d];
        }
        size_t nbytes;
        if (n != t->n_elements || quant_nbytes(t->type, n, &nbytes) != 0 || nbytes != t->nbytes) __builtin_trap();
        check_inside(img, size, t->data, t->nbytes);
        if (t->n_elements > ((uint64_t)1 << 22)) continue; /* bounded by the image anyway: keeps -max_len runs cheap */
        float *dst = malloc(sizeof *dst * (t->n_elements + 1));
        quant_dequantize(t->type, t->data, dst, t->n_elements);
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_ctx *g = NULL;
    cj_err e;
    int rc = gguf_open_mem(data, size, "fuzz.gguf", &g, &e);
    fz_check_err(rc, &e);
    if (rc != 0) {
        if (g || strncmp(e.msg, "fuzz.gguf", 9) != 0) __builtin_trap();
        return 0;
    }
    walk_keys(g, data, size);
    walk_tensors(g, data, size);
    tokenizer *t = NULL;
    rc = tok_load_gguf(g, &t, &e);
    fz_check_err(rc, &e);
    if (rc == 0) fz_exercise_tokenizer(t);
    tok_free(t);
    int has_arch = gguf_find_key(g, "general.architecture") >= 0;
    gguf_close(g);
    if (!has_arch) return 0;
    fz_memfile_set(&file, data, size);
    model *m = NULL;
    rc = model_load(file.path, NULL, &m, &e);
    fz_check_err(rc, &e);
    if (rc == 0) fz_check_model(m);
    model_free(m);
    return 0;
}
