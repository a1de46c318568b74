/* quant — block formats of ggml tensors, dequantized exactly as llama.cpp does.
 *
 * Types: F32, F16, BF16; Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL (blocks of 32);
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (blocks of 256); ggml numbering
 * (gguf.h). Rows of n elements must be a multiple of the block size. Any
 * block content is valid input: every bit pattern dequantizes to some float,
 * exactly as ggml's dequantize_row_* would. */
#ifndef CJ_QUANT_H
#define CJ_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

/* Elements per block (1 for F32/F16/BF16); 0 for an unsupported type. */
int quant_block_elems(ggml_type t);
/* Bytes per block; 0 for an unsupported type. */
size_t quant_block_bytes(ggml_type t);
/* Short name: "F32", "Q4_K", ...; "?" if unknown. */
const char *quant_type_name(ggml_type t);

/* Bytes taken by n elements of type t; returns -1 if n is not a multiple of
 * the block size, the type is unsupported, or the result overflows. */
int quant_nbytes(ggml_type t, uint64_t n, size_t *out);

/* Dequantizes n elements (a multiple of the block size) from src into dst. */
void quant_dequantize(ggml_type t, const void *src, float *dst, uint64_t n);

float quant_f16_to_f32(uint16_t h);

/* A Q4_K super-block (256 values) taken apart: value 32j + l dequantizes to
 * scale[j] * (float)q[32j + l] - min[j], exactly as quant_dequantize
 * computes it (q in 0..15). */
void quant_q4_k_parts(const void *blk, float scale[8], float min[8], uint8_t q[256]);

/* A Q6_K super-block: value i dequantizes to scale[i / 16] * (float)q[i]
 * (q in -32..31), exactly as quant_dequantize computes it. */
void quant_q6_k_parts(const void *blk, float scale[16], int8_t q[256]);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);

#endif
