/* picojoule generated-library kernels: activations, elementwise math and normalisation.
 *
 * float32: LOGISTIC, TANH, EXP, LOG, SQRT, RSQRT, ABS, NEG, FLOOR, CEIL, ROUND, the RELU
 * family, LEAKY_RELU, HARD_SWISH, ELU, GELU, PRELU, L2_NORMALIZATION and LOG_SOFTMAX, with
 * their own float32 exp/log/expm1/tanh/erfc/sqrt (no libm).
 * int16: LOGISTIC and TANH (TFLM's table algorithm), 513-point interpolated tables (EXP,
 * LOG, GELU), requantize-and-clamp (ABS, NEG, RELU, RELU6), PRELU.
 * int8: PRELU, L2_NORMALIZATION, LOG_SOFTMAX.  int32/int64: NEG.
 *
 * Parameter blocks are const data filled at generation time; nothing allocates.
 */
#ifndef PJ_ACTIVATION_H
#define PJ_ACTIVATION_H

#include <stdint.h>

/* ---- float32 elementwise ------------------------------------------------------------- */
void pj_exp_f32(int32_t n, const float *in, float *out);
void pj_log_f32(int32_t n, const float *in, float *out);
void pj_sqrt_f32(int32_t n, const float *in, float *out);
void pj_rsqrt_f32(int32_t n, const float *in, float *out);
void pj_abs_f32(int32_t n, const float *in, float *out);
void pj_neg_f32(int32_t n, const float *in, float *out);
void pj_floor_f32(int32_t n, const float *in, float *out);
void pj_ceil_f32(int32_t n, const float *in, float *out);
void pj_round_f32(int32_t n, const float *in, float *out);
void pj_logistic_f32(int32_t n, const float *in, float *out);
void pj_tanh_f32(int32_t n, const float *in, float *out);
void pj_elu_f32(int32_t n, const float *in, float *out);
void pj_hard_swish_f32(int32_t n, const float *in, float *out);
/* approximate != 0: the tanh form; else 0.5 x erfc(-x / sqrt 2). */
void pj_gelu_f32(int32_t n, int32_t approximate, const float *in, float *out);
/* RELU (has_hi = 0), RELU6, RELU_N1_TO_1: v > hi ? hi : (v < lo ? lo : v). */
void pj_relu_f32(int32_t n, float lo, float hi, int32_t has_hi, const float *in, float *out);
void pj_leaky_relu_f32(int32_t n, float alpha, const float *in, float *out);

/* ---- rows over the last axis --------------------------------------------------------- */
void pj_l2norm_f32(int32_t rows, int32_t depth, const float *in, float *out);
void pj_log_softmax_f32(int32_t rows, int32_t depth, const float *in, float *out);
void pj_l2norm_s8(int32_t rows, int32_t depth, int32_t in_zp, const int8_t *in, int8_t *out);

/* int8 LOG_SOFTMAX (TFLM): tables over the difference to the row maximum d = -255..0
 * (index d + 255): diff_q5 = the difference in Q5.26, exp_q12 = its exponential in Q12.19
 * (0 below diff_min). */
typedef struct {
    int32_t rows, depth, diff_min, reverse_mult, reverse_shift;
    const int32_t *diff_q5;
    const int32_t *exp_q12;
} pj_log_softmax_params;

void pj_log_softmax_s8(const pj_log_softmax_params *p, const int8_t *in, int8_t *out);

/* ---- PRELU: x >= 0 ? x : alpha * x, both operands broadcast to the output ------------- */
#define PJ_PRELU_RANK 6
typedef struct {
    int32_t dims[PJ_PRELU_RANK];      /* output shape (leading dimensions 1) */
    int32_t x_strides[PJ_PRELU_RANK]; /* element strides, 0 where broadcast */
    int32_t a_strides[PJ_PRELU_RANK];
    int32_t in_zp, alpha_zp, out_zp;  /* quantized only */
    int32_t id_mult, id_shift, alpha_mult, alpha_shift, q_min, q_max;
} pj_prelu_params;

void pj_prelu_f32(const pj_prelu_params *p, const float *in, const float *alpha, float *out);
void pj_prelu_s8(const pj_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out);
void pj_prelu_s16(const pj_prelu_params *p, const int16_t *in, const int8_t *alpha,
                  int16_t *out);

/* ---- int16 elementwise ---------------------------------------------------------------- */
/* out = clamp(out_zp + R(op(x - in_zp)), q_min, q_max) cast to int16 (q_max 32768 wraps);
 * op 0: identity, 1: |v|, 2: -v; R: MultiplyByQuantizedMultiplier, or nothing when
 * mult == 0. */
typedef struct {
    int32_t size, op, in_zp, out_zp, mult, shift, q_min, q_max;
} pj_rq16_params;

void pj_requant_s16(const pj_rq16_params *p, const int16_t *in, int16_t *out);

/* TFLM's int16 LOGISTIC / TANH: input rescaled by multiplier / 2^left_shift, then linear
 * interpolation in TFLite's 256-entry sigmoid table. */
typedef struct {
    int32_t size, is_tanh, multiplier, left_shift;
    const uint16_t *table;
} pj_sigmoid16_params;

void pj_sigmoid_s16(const pj_sigmoid16_params *p, const int16_t *in, int16_t *out);

/* TFLite's int16 LUTLookup: 513 points 128 input values apart, linear interpolation. */
void pj_lut513_s16(int32_t n, const int16_t *lut, const int16_t *in, int16_t *out);

/* ---- integer NEG (wrapping) ----------------------------------------------------------- */
void pj_neg_s32(int32_t n, const int32_t *in, int32_t *out);
void pj_neg_s64(int32_t n, const int64_t *in, int64_t *out);

#endif /* PJ_ACTIVATION_H */
