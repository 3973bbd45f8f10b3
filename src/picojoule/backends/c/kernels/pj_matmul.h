/* picojoule generated-library kernels: BATCH_MATMUL (float32, int8, int16).
 *
 * out[b][i][j] = sum_t lhs[b][i][t] * rhs[b][t][j] over up to three broadcast batch
 * dimensions; adj_x / adj_y become element strides, so no operand is transposed in memory.
 * Quantized: TFLM's reference arithmetic, (lhs + lhs_offset) (rhs + rhs_offset) summed in
 * int32 (int8, wrapping) or int64 (int16), then MultiplyByQuantizedMultiplier (int16: the
 * 64-bit form with a 16-bit multiplier) plus the output zero point, clamped.
 */
#ifndef PJ_MATMUL_H
#define PJ_MATMUL_H

#include <stdint.h>

typedef struct {
    int32_t batch[3];      /* output batch dimensions (leading 1s) */
    int32_t lhs_step[3];   /* operand matrix index per step of each batch dimension (0: */
    int32_t rhs_step[3];   /* broadcast); a matrix is m*k (lhs) or k*n (rhs) elements */
    int32_t m, k, n;
    int32_t lhs_sm, lhs_sk; /* element strides inside one lhs matrix (row i, column t) */
    int32_t rhs_sk, rhs_sn; /* and one rhs matrix (row t, column j) */
    int32_t lhs_offset, rhs_offset, out_offset;
    int32_t mult, shift;   /* int8: multiplier and shift; int16: 16-bit multiplier and the
                              total right shift (15 - shift) */
    int32_t act_min, act_max;
    /* pj_bmm_s8_dsp with a constant rhs: per rhs matrix, its columns in the quad layout
     * (npad x kpad, see emitters/common.py dsp_quad_layout) and per column
     * lhs_offset * sum_t rhs[t][j] + k * lhs_offset * rhs_offset (npad entries); 0: the
     * kernel builds both in scratch from the runtime rhs. */
    const int8_t *rhs_packed;
    const int32_t *col_terms;
    /* int8: pj_rq's folded requantization constants (pj_common.h), or 0 */
    const int32_t *rq;
} pj_bmm_params;

void pj_bmm_f32(const pj_bmm_params *p, const float *lhs, const float *rhs, float *out);
void pj_bmm_s8(const pj_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out);
void pj_bmm_s16(const pj_bmm_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out);
/* SMLAD body (portable C elsewhere, same integers), 2 x 2 output blocks.  scratch (16-byte
 * aligned): 2 kpad int16, plus, without rhs_packed, npad int32 and npad * kpad int8 (kpad,
 * npad: k, n rounded up to multiples of 4). */
void pj_bmm_s8_dsp(const pj_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out,
                   void *scratch);

#endif /* PJ_MATMUL_H */
