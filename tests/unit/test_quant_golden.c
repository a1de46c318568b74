/* Unit tests for quant against ggml itself: for Q4_1, Q5_0, Q5_1, IQ4_NL,
 * Q2_K, Q3_K, Q5_K and IQ4_XS, blocks (half quantized by ggml from random
 * floats, half random bytes) and the floats ggml's dequantize_row_* gave for
 * them, in tests/golden/quant/ (made by tests/golden/make_quant_goldens.py).
 * Every float must match bit for bit, whether the blocks are dequantized all
 * at once or one at a time. */
#include "../../runners/transformer/formats/quant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fileio.h"
#include "../check.h"

#define GOLDEN_DIR "tests/golden/quant/"
#define N_VALUES 2048 /* per type, as the script writes them */

typedef struct {
    ggml_type type;
    const char *file; /* stem under GOLDEN_DIR */
    int elems;
    size_t bytes;
} golden_type;

static const golden_type TYPES[] = {
    {GGML_Q4_1, "q4_1", 32, 20},    {GGML_Q5_0, "q5_0", 32, 22},   {GGML_Q5_1, "q5_1", 32, 24},
    {GGML_IQ4_NL, "iq4_nl", 32, 18}, {GGML_Q2_K, "q2_k", 256, 84},  {GGML_Q3_K, "q3_k", 256, 110},
    {GGML_Q5_K, "q5_k", 256, 176},  {GGML_IQ4_XS, "iq4_xs", 256, 136},
};

static char *read_golden(const char *stem, const char *ext, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.%s", stem, ext);
    char *data = NULL;
    cj_err e = {{0}};
    if (cj_read_file(path, &data, len, &e) != 0) printf("  %s\n", e.msg);
    return data;
}

static void test_sizes_and_names(void) {
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        const golden_type *t = &TYPES[i];
        CHECKF(quant_block_elems(t->type) == t->elems && quant_block_bytes(t->type) == t->bytes, "%s: %d / %zu",
               t->file, quant_block_elems(t->type), quant_block_bytes(t->type));
        char upper[16];
        size_t n = strlen(t->file);
        for (size_t c = 0; c <= n; c++) upper[c] = (char)(t->file[c] >= 'a' && t->file[c] <= 'z' ? t->file[c] - 32 : t->file[c]);
        CHECK_STR(quant_type_name(t->type), upper);
    }
}

static int count_diffs(const float *got, const char *want, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(got + i, want + 4 * i, 4) != 0;
    return bad;
}

static void test_bit_exact_against_ggml(void) {
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        const golden_type *t = &TYPES[i];
        size_t nb = 0, nf = 0, want_bytes = 0;
        char *blocks = read_golden(t->file, "blocks", &nb), *want = read_golden(t->file, "f32", &nf);
        CHECKF(blocks && want && nf == 4 * N_VALUES && quant_nbytes(t->type, N_VALUES, &want_bytes) == 0 &&
                   nb == want_bytes,
               "%s: %zu bytes of blocks, %zu of floats", t->file, nb, nf);
        if (blocks && want && nf == 4 * N_VALUES && nb == want_bytes) {
            float *y = malloc(N_VALUES * sizeof *y);
            quant_dequantize(t->type, blocks, y, N_VALUES);
            int whole = count_diffs(y, want, N_VALUES);
            memset(y, 0, N_VALUES * sizeof *y);
            for (size_t b = 0; b < N_VALUES / (size_t)t->elems; b++)
                quant_dequantize(t->type, blocks + b * t->bytes, y + b * t->elems, (uint64_t)t->elems);
            int one_by_one = count_diffs(y, want, N_VALUES);
            CHECKF(whole == 0 && one_by_one == 0, "%s: %d / %d of %d floats differ from ggml's", t->file, whole,
                   one_by_one, N_VALUES);
            free(y);
        }
        free(blocks);
        free(want);
    }
}

int main(void) {
    RUN(test_sizes_and_names);
    RUN(test_bit_exact_against_ggml);
    return check_summary_();
}
