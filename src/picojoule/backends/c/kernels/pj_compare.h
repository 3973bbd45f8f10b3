/* picojoule kernels: broadcasting elementwise ops beyond pj_ops2.h -- comparisons,
 * LOGICAL_AND/OR/NOT, SELECT_V2, MAXIMUM/MINIMUM (int8, int16, int64 and any rank),
 * SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD, int8 DIV and ADD_N.
 *
 * bool tensors are one byte holding 0 or 1.  Every multiplier, shift and offset comes from
 * the reference kernels (computed by the generator); the C only loops.
 */
#ifndef PJ_COMPARE_H
#define PJ_COMPARE_H

#include <stdint.h>

#define PJ_BC_MAXRANK 8

/* Broadcast plan over the output (dimensions merged, size-1 dimensions dropped): operand
 * j's element offset moves by stride[j][d] along dimension d (0: broadcast).  The output
 * is contiguous; runs = output elements / count[rank - 1]. */
typedef struct {
    int32_t rank;
    int32_t runs;
    int32_t count[PJ_BC_MAXRANK];
    int32_t stride[3][PJ_BC_MAXRANK];
} pj_bcast;

/* Comparison codes (op): 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=. */
void pj_cmp_f32(const pj_bcast *p, int32_t op, const float *a, const float *b, uint8_t *y);
void pj_cmp_s32(const pj_bcast *p, int32_t op, const int32_t *a, const int32_t *b,
                uint8_t *y);
void pj_cmp_s64(const pj_bcast *p, int32_t op, const int64_t *a, const int64_t *b,
                uint8_t *y);
void pj_cmp_u8(const pj_bcast *p, int32_t op, const uint8_t *a, const uint8_t *b, uint8_t *y);

/* int8 comparisons (TFLM): each side becomes MBQM((x - zp) << 8, mult, shift) first. */
typedef struct {
    int32_t zp1, mult1, shift1, zp2, mult2, shift2;
} pj_cmp_q;

void pj_cmp_s8(const pj_bcast *p, int32_t op, const pj_cmp_q *q, const int8_t *a,
               const int8_t *b, uint8_t *y);

/* LOGICAL_AND (op 0) / LOGICAL_OR (op 1) of bytes 0/1; LOGICAL_NOT. */
void pj_logical(const pj_bcast *p, int32_t op, const uint8_t *a, const uint8_t *b, uint8_t *y);
void pj_logical_not(int32_t n, const uint8_t *x, uint8_t *y);

/* SELECT_V2: y = cond ? x : z with three-way broadcasting (operands 0, 1, 2), elements of
 * elem bytes (1, 2, 4 or 8) copied as they are. */
void pj_select(const pj_bcast *p, int32_t elem, const uint8_t *cond, const void *x,
               const void *z, void *y);

/* MAXIMUM (is_max 1) / MINIMUM (0) of raw values; float32 is TFLM's a > b ? a : b (and
 * a < b ? a : b: a NaN in a loses, in b wins). */
void pj_maxmin_s8(const pj_bcast *p, int32_t is_max, const int8_t *a, const int8_t *b,
                  int8_t *y);
void pj_maxmin_s16(const pj_bcast *p, int32_t is_max, const int16_t *a, const int16_t *b,
                   int16_t *y);
void pj_maxmin_s32(const pj_bcast *p, int32_t is_max, const int32_t *a, const int32_t *b,
                   int32_t *y);
void pj_maxmin_s64(const pj_bcast *p, int32_t is_max, const int64_t *a, const int64_t *b,
                   int64_t *y);
void pj_maxmin_f32(const pj_bcast *p, int32_t is_max, const float *a, const float *b,
                   float *y);

/* SQUARED_DIFFERENCE.  Quantized (int8 / int16): each side MBQM((x - zp) << left_shift,
 * mult, shift), the difference squared (wrapping int32), MBQM(out_mult, out_shift) + zp_out,
 * saturated to [lo, hi]. */
typedef struct {
    int32_t zp1, mult1, shift1, zp2, mult2, shift2, left_shift;
    int32_t out_mult, out_shift, zp_out, lo, hi;
} pj_sqdiff_q;

void pj_sqdiff_s8(const pj_bcast *p, const pj_sqdiff_q *q, const int8_t *a, const int8_t *b,
                  int8_t *y);
void pj_sqdiff_s16(const pj_bcast *p, const pj_sqdiff_q *q, const int16_t *a,
                   const int16_t *b, int16_t *y);
void pj_sqdiff_s32(const pj_bcast *p, const int32_t *a, const int32_t *b, int32_t *y);
void pj_sqdiff_f32(const pj_bcast *p, const float *a, const float *b, float *y);

/* FLOOR_DIV: floor((double)a / (double)b) as float32.  FLOOR_MOD: fmodf(a, b) moved to
 * the divisor's sign (exact; no libm). */
void pj_floor_div_f32(const pj_bcast *p, const float *a, const float *b, float *y);
void pj_floor_mod_f32(const pj_bcast *p, const float *a, const float *b, float *y);

/* int8 DIV (TFLM DivElementwise): the divisor's reciprocal by Newton-Raphson, two
 * requantizations; out_shift is the output multiplier's shift. */
typedef struct {
    int32_t zp1, zp2, mult, out_shift, zp_out, lo, hi;
} pj_div_q;

void pj_div_s8(const pj_bcast *p, const pj_div_q *q, const int8_t *a, const int8_t *b,
               int8_t *y);

/* ADD_N over n same-shape inputs of size elements.  float32: 0 + in0 + in1 + ...;
 * int8 (TFLM): acc = start + table[x + 128] per input, MBQM(out_mult, out_shift) + zp_out,
 * saturated to int8. */
void pj_add_n_f32(int32_t n, int32_t size, const float *const *in, float *out);

typedef struct {
    int32_t start, out_mult, out_shift, zp_out;
    const int32_t *table;
} pj_add_n_q;

void pj_add_n_s8(int32_t n, int32_t size, const pj_add_n_q *q, const int8_t *const *in,
                 int8_t *out);

/* ADD (op 0), SUB (1), MUL (2), DIV (3) for outputs of more than 4 dimensions (the
 * pj_ops2.h kernels broadcast in 4-D).  float32: the result clamped to [lo, hi] (the
 * activation; +-FLT_MAX without one).  int32: wrapping, then clamped; DIV truncates, a
 * zero divisor or INT32_MIN / -1 gives INT32_MIN (what the reference computes on x86). */
void pj_arith_f32(const pj_bcast *p, int32_t op, float lo, float hi, const float *a,
                  const float *b, float *y);
void pj_arith_s32(const pj_bcast *p, int32_t op, int32_t lo, int32_t hi, const int32_t *a,
                  const int32_t *b, int32_t *y);

/* int8 / int16 ADD and SUB (TFLM): each side MBQM((x - zp) << left_shift, mult, shift),
 * sum (sign +1) or difference (-1), MBQM(out_mult, out_shift) + zp_out, clamped. */
typedef struct {
    int32_t sign, left_shift, zp1, mult1, shift1, zp2, mult2, shift2;
    int32_t out_mult, out_shift, zp_out, lo, hi;
} pj_addsub_q;

void pj_addsub_nd_s8(const pj_bcast *p, const pj_addsub_q *q, const int8_t *a,
                     const int8_t *b, int8_t *y);
void pj_addsub_nd_s16(const pj_bcast *p, const pj_addsub_q *q, const int16_t *a,
                      const int16_t *b, int16_t *y);

/* int8 / int16 MUL: (a - zp1) (b - zp2), MBQM(mult, shift) + zp_out, clamped. */
typedef struct {
    int32_t zp1, zp2, mult, shift, zp_out, lo, hi;
} pj_mul_q;

void pj_mul_nd_s8(const pj_bcast *p, const pj_mul_q *q, const int8_t *a, const int8_t *b,
                  int8_t *y);
void pj_mul_nd_s16(const pj_bcast *p, const pj_mul_q *q, const int16_t *a, const int16_t *b,
                   int16_t *y);

#endif /* PJ_COMPARE_H */
