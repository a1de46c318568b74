/* gemm — the weight products of the forward pass: y = x W^T, with W a model
 * matrix [out, in] in its stored type (F32, F16, BF16 or a ggml block type).
 *
 * Own kernels (GEMM_OWN, the default). Every output element is one chain of
 * fused multiply-adds over k = 0, 1, ..., in - 1 in ascending order,
 * starting from +0:
 *
 *     acc = +0;  for k in 0 .. in-1:  acc = fma(x[r][k], W[o][k], acc);  y[r][o] = acc
 *
 * whatever the number of rows in the call, the row's place among them, the
 * thread count, the blocking, and the instruction set that runs it (an
 * AVX2+FMA micro-kernel, or portable C through fmaf: an fma is exactly
 * rounded, so every implementation of this chain gives the same bits). A
 * row's result therefore depends on that row and W alone, and is the same on
 * every x86-64 CPU with FMA (and any other IEEE machine, slower). W is
 * dequantized straight into packed panels (NR output rows, KC values of k,
 * k-major), so no F32 copy of the matrix is ever made.
 *
 * OpenBLAS (GEMM_OPENBLAS, `--kernels openblas`): W dequantized into an F32
 * buffer in pieces, then cblas_sgemm. Kept as the speed ceiling the bench
 * measures against. Its sums run in an order that depends on the kernels
 * OpenBLAS picks for the CPU (OPENBLAS_CORETYPE) and on the shape, so
 * nothing is promised about its last bits.
 *
 * Ownership: gemm_new returns a context that owns per-thread scratch and
 * that the caller frees with gemm_free. One thread calls it at a time; it
 * runs its own threads (pool.h). The caller keeps x, y and W valid and
 * non-overlapping for the call. */
#ifndef CJ_GEMM_H
#define CJ_GEMM_H

#include "../../../common/fileio.h"
#include "../formats/model.h"

typedef enum { GEMM_OWN = 0, GEMM_OPENBLAS = 1 } gemm_kernels;

typedef struct gemm gemm;

/* threads >= 1 (at most POOL_MAX are used). Never NULL: allocation failure
 * aborts, as cj_xmalloc does. */
gemm *gemm_new(int threads, gemm_kernels kernels);
void gemm_free(gemm *g);

/* y[r * ldy + o] = sum over k of x[r * ldx + k] * W[o][k], for r < n,
 * o < out; W is w's [out, in] matrix. n may be 0. */
void gemm_mat(gemm *g, float *y, int ldy, const float *x, int ldx, const model_mat *w, int n, int in, int out);

/* Same, W an F32 row-major [out, in] array with row stride ldw. */
void gemm_f32(gemm *g, float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int n, int in, int out);

gemm_kernels gemm_get_kernels(const gemm *g);

/* "own" or "openblas", and the parse of those names (-1 if neither). */
const char *gemm_kernels_name(gemm_kernels k);
int gemm_parse_kernels(const char *name);

/* The instruction set the own kernels were built for: "avx2+fma" or
 * "portable". */
const char *gemm_isa(void);

/* The file maps W's bytes may lie in (the model's; kept by pointer): the own
 * SIMD kernels then read such matrices from a copy in groups of 8 outputs
 * made on first use, and give the map's pages of them back (wpack.h). */
void gemm_set_maps(gemm *g, const cj_map *maps, int n);

/* Test hook: copy every matrix into groups, in a map or not. */
void gemm_pack_all(gemm *g);

/* Test hook: 1 makes the own kernels take the portable C path even where
 * SIMD is compiled, so a test can compare the two bit for bit. */
void gemm_set_portable(gemm *g, int on);

#endif
