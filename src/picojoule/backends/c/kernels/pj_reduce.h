/* picojoule kernels: reductions (MEAN, SUM, REDUCE_MAX/MIN/PROD), ARG_MAX/ARG_MIN, CUMSUM.
 *
 * The generator merges the input's dimensions into runs of kept and reduced axes and
 * computes every multiplier, shift and offset with the reference kernels' own functions;
 * the C only loops.  Sums visit each output's reduced elements in the input's row-major
 * order (the order TFLM's reference loops add floats in).
 */
#ifndef PJ_REDUCE_H
#define PJ_REDUCE_H

#include <stdint.h>

#define PJ_RED_MAXRANK 8

/* Scatter plan: the input walked in memory order, dimension by dimension (merged; size-1
 * dimensions dropped).  out_stride[d] is the output element stride of dimension d: 0 for a
 * reduced dimension.  runs = input elements / count[rank - 1]. */
typedef struct {
    int32_t rank;
    int32_t runs;
    int32_t out_size;
    int32_t count[PJ_RED_MAXRANK];
    int32_t out_stride[PJ_RED_MAXRANK];
} pj_red_plan;

/* Requantization of int8/int16 MEAN and SUM (TFLM QuantizedMeanOrSum): the wrapping int32
 * sum minus offset (= zp_in * n), MultiplyByQuantizedMultiplier(mult, shift), plus zp_out,
 * saturated to [lo, hi].  empty: the reduced count is 0 (outputs are 0). */
typedef struct {
    int32_t offset, mult, shift, zp_out, lo, hi, empty;
} pj_red_q;

/* int8/int16 MEAN or SUM; acc: out_size int32 of scratch. */
void pj_reduce_sum_s8(const pj_red_plan *p, const pj_red_q *q, const int8_t *in, int8_t *out,
                      int32_t *acc);
void pj_reduce_sum_s16(const pj_red_plan *p, const pj_red_q *q, const int16_t *in,
                       int16_t *out, int32_t *acc);
/* float32 SUM (divisor 0) or MEAN (the float32 sum divided by divisor). */
void pj_reduce_sum_f32(const pj_red_plan *p, int32_t divisor, const float *in, float *out);
/* Wrapping int32 / int64 SUM. */
void pj_reduce_sum_s32(const pj_red_plan *p, const int32_t *in, int32_t *out);
void pj_reduce_sum_s64(const pj_red_plan *p, const int64_t *in, int64_t *out);

/* REDUCE_MAX (is_max 1) / REDUCE_MIN (0) of raw values; float32 ignores NaNs and starts at
 * -FLT_MAX / FLT_MAX as TFLM. */
void pj_reduce_minmax_s8(const pj_red_plan *p, int32_t is_max, const int8_t *in, int8_t *out);
void pj_reduce_minmax_u8(const pj_red_plan *p, int32_t is_max, const uint8_t *in,
                         uint8_t *out);
void pj_reduce_minmax_s16(const pj_red_plan *p, int32_t is_max, const int16_t *in,
                          int16_t *out);
void pj_reduce_minmax_s32(const pj_red_plan *p, int32_t is_max, const int32_t *in,
                          int32_t *out);
void pj_reduce_minmax_s64(const pj_red_plan *p, int32_t is_max, const int64_t *in,
                          int64_t *out);
void pj_reduce_minmax_f32(const pj_red_plan *p, int32_t is_max, const float *in, float *out);

/* Gather plan (REDUCE_PROD): per output (kept dimensions, in memory order) its reduced
 * elements in row-major order; strides are input element strides. */
typedef struct {
    int32_t n_kept, n_red, out_size;
    int32_t kept_count[PJ_RED_MAXRANK], kept_stride[PJ_RED_MAXRANK];
    int32_t red_count[PJ_RED_MAXRANK], red_stride[PJ_RED_MAXRANK];
} pj_red_gather;

/* Quantized REDUCE_PROD (LiteRT reference): acc = x0 - zp_in, then
 * acc = MBQM64(acc * (xk - zp_in)) for each further element, result MBQM64(acc) + zp_out.
 * MBQM64 uses the multiplier reduced to 16 bits (red_mult) and total shift tshift. */
typedef struct {
    int32_t zp_in, red_mult, tshift, zp_out, lo, hi;
} pj_prod_q;

void pj_reduce_prod_s8(const pj_red_gather *g, const pj_prod_q *q, const int8_t *in,
                       int8_t *out);
void pj_reduce_prod_s16(const pj_red_gather *g, const pj_prod_q *q, const int16_t *in,
                        int16_t *out);
void pj_reduce_prod_f32(const pj_red_gather *g, const float *in, float *out);
void pj_reduce_prod_s32(const pj_red_gather *g, const int32_t *in, int32_t *out);
void pj_reduce_prod_s64(const pj_red_gather *g, const int64_t *in, int64_t *out);

/* ARG_MAX / ARG_MIN along one axis: the input is [outer][axis][inner]; the first index of
 * the extreme value (TFLM: an element replaces the best so far only when it compares
 * greater (less), so a NaN is picked only at index 0); out is int32 or int64 (out64). */
typedef struct {
    int32_t outer, axis, inner, is_max, out64;
} pj_arg_params;

void pj_arg_s8(const pj_arg_params *p, const int8_t *in, void *out);
void pj_arg_u8(const pj_arg_params *p, const uint8_t *in, void *out);
void pj_arg_s16(const pj_arg_params *p, const int16_t *in, void *out);
void pj_arg_s32(const pj_arg_params *p, const int32_t *in, void *out);
void pj_arg_s64(const pj_arg_params *p, const int64_t *in, void *out);
void pj_arg_f32(const pj_arg_params *p, const float *in, void *out);

/* CUMSUM along one axis ([outer][axis][inner]), exclusive and/or reverse. */
typedef struct {
    int32_t outer, axis, inner, exclusive, reverse;
} pj_cumsum_params;

/* int8 (TFLM): acc starts at start and adds table[x + 128] (the rescaled input); each
 * output is MBQM(acc, out_mult, out_shift) + zp_out saturated to int8. */
typedef struct {
    int32_t start, out_mult, out_shift, zp_out;
    const int32_t *table;
} pj_cumsum_q;

void pj_cumsum_s8(const pj_cumsum_params *p, const pj_cumsum_q *q, const int8_t *in,
                  int8_t *out);
void pj_cumsum_f32(const pj_cumsum_params *p, const float *in, float *out);
void pj_cumsum_s32(const pj_cumsum_params *p, const int32_t *in, int32_t *out);
void pj_cumsum_s64(const pj_cumsum_params *p, const int64_t *in, int64_t *out);

#endif /* PJ_REDUCE_H */
