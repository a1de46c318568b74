/* wpack — weight matrices laid out again for the own products (gemm.c):
 * outputs in groups of 8, k-major inside a group, so that one vector load
 * gives 8 outputs' weights at one k. Decoding (a product of 1 to 4 rows)
 * then streams the weights with no transposition, and packing the panels of
 * a larger product becomes a sequential read.
 *
 * Layouts (group g holds outputs 8g .. 8g + 7; outputs past `out` are 0):
 *   F32   float    [groups][in][8]
 *   F16   uint16_t [groups][in][8]
 *   Q8_0  per group, per block of 32 values of k (288 bytes):
 *         float d[8] (the 8 outputs' scales), int8 q[32][8]
 *   Q4_K  per group, per sub-block of 32 values of k (192 bytes): float
 *         a[8], m[8] (scale and min, quant_q4_k_parts), then for each k 4
 *         bytes, byte i holding output 2i's q (low nibble) and 2i + 1's
 *   Q6_K  per group, per sub-block of 16 values of k (160 bytes):
 *         float s[8], int8 q[16][8] (quant_q6_k_parts)
 * Read back (F16 converted, Q8_0 as (float)q * d, Q4_K as a * (float)q -
 * m, Q6_K as s * (float)q) every weight is the float
 * quant.c's dequantization gives, so a product over these layouts is the
 * same chain, bit for bit, as over the stored matrix.
 *
 * A copy is made on first use of a matrix and kept until wpack_free. Only
 * matrices that lie in one of the model's file maps are copied (or every
 * matrix, for tests: wpack_new(1)); their pages in the map are then released
 * (MADV_DONTNEED: the map still reads back the file's bytes if anything
 * touches them again), so the copy does not double the model's memory.
 * Matrices in buffers the model allocated keep the stored layout.
 *
 * Ownership: the cache owns the copies; the model (and its maps) must
 * outlive it. One thread uses a cache at a time. */
#ifndef CJ_WPACK_H
#define CJ_WPACK_H

#include <stddef.h>

#include "../../../common/fileio.h"
#include "../formats/model.h"

#define WPACK_G 8       /* outputs per group */
#define WPACK_QBLOCK 288     /* bytes of one Q8_0 group-block: 8 floats, 32 x 8 int8 */
#define WPACK_Q4K_BLOCK 192  /* Q4_K: 16 floats, 32 x 8 nibbles */
#define WPACK_Q6K_BLOCK 160  /* Q6_K: 8 floats, 16 x 8 int8 */

typedef struct wpack wpack;

/* all: copy every matrix asked for (tests), not only those in a map. Never
 * NULL: allocation failure aborts, as cj_xmalloc does. */
wpack *wpack_new(int all);
void wpack_free(wpack *p);

/* The file maps the model's matrices may lie in (kept by pointer). */
void wpack_set_maps(wpack *p, const cj_map *maps, int n);

/* 1 if t has a layout above. */
int wpack_supported(ggml_type t);

/* The copy of w ([out, in]), made now if this is its first use; NULL if its
 * type has no layout, in is not a whole number of blocks, or the matrix is
 * not one to copy (see above). */
const void *wpack_get(wpack *p, const model_mat *w, int out, int in);

/* Bytes of one group of a matrix of type t with `in` values per row. */
size_t wpack_group_bytes(ggml_type t, int in);

#endif
