/* TRANSPOSE_CONV, float32: the scatter order of TFLM's reference kernel, so every output
 * element sums its products in the same order and gives the same float. */
#ifndef PJ_TCONV_H
#define PJ_TCONV_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, pad_t, pad_l;
    float act_min, act_max;
    const float *weights;      /* [out_c][k_h][k_w][in_c] */
    const float *bias;         /* [out_c] or 0 */
} pj_tconv_f32_params;

void pj_tconv_f32(const pj_tconv_f32_params *p, const float *in, float *out);

#endif /* PJ_TCONV_H */
