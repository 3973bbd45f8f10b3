/* Hybrid ("dynamic range") kernels: float32 activations, int8 weights, as LiteRT's
 * reference kernels run them (TFLM refuses such models).  Each batch of the input is
 * quantized to int8 on the fly (pj_hybrid_quantize: symmetric, or asymmetric with a zero
 * point), the dot products are int32, and the sums are scaled back to float in LiteRT's
 * order of float operations, so outputs are bit-exact with LiteRT's reference kernels.
 *
 * The float operations are written one per statement; the generated Makefile's -std=c99
 * keeps GCC from fusing a multiply and an add into one FMA (which would round once).
 */
#ifndef PJ_HYBRID_H
#define PJ_HYBRID_H

#include <stdint.h>

/* CONV_2D and DEPTHWISE_CONV_2D.
 *  CONV_2D, asymmetric = 0 (one weight scale, LiteRT's HybridConv): symmetric input,
 *      out = acc * (input scale * scales[0]) + bias.
 *  CONV_2D, asymmetric = 1 (per-channel scales or groups, HybridConvPerChannel):
 *      out = (acc - zp * wsums[c]) * scales[c] * input scale + bias.
 *  DEPTHWISE_CONV_2D (per-channel, DepthwiseConvHybridPerChannel):
 *      out = sum w * (q - zp) * (scales[c] * input scale) + bias.
 * quad: the DSP bodies.  CONV_2D: weights in the quad layout (one group; rows padded to a
 * multiple of 4 and to out_c rounded up to 4; see dsp_quad_layout), summed with SMLAD.
 * DEPTHWISE_CONV_2D (depth multiplier 1): 4 channels per pass with SMLABB/SMLATT. */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t groups;            /* CONV_2D: in_c / weight depth; DEPTHWISE: depth multiplier */
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int32_t asymmetric, quad;
    float act_min, act_max;
    const int8_t *weights;     /* conv [out_c][k_h][k_w][in_c / groups]; dw [k_h][k_w][out_c] */
    const float *scales;       /* weight scales: [1] or [out_c] */
    const int32_t *wsums;      /* asymmetric CONV_2D: each output channel's weight sum */
} pj_hconv_params;

/* FULLY_CONNECTED (LiteRT's EvalHybridDense): out = bias + (dot - zp * wsums[n]) * scale,
 * scale = input scale * scales[0] (per tensor) or input scale * scales[n] (per channel). */
typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t asymmetric, per_channel, quad;
    float act_min, act_max;
    const int8_t *weights;     /* [out_depth][accum_depth], or the DSP quad layout */
    const float *scales;       /* [1] or [out_depth] */
    const int32_t *wsums;      /* asymmetric: each row's weight sum */
} pj_hfc_params;

/* LiteRT's SymmetricQuantizeFloats (values in [-127, 127], zero point 0) or
 * AsymmetricQuantizeFloats (values in [-128, 127], zero point *zp) of n floats into q;
 * returns the scaling factor. */
float pj_hybrid_quantize(const float *x, int32_t n, int32_t asymmetric, int8_t *q,
                         int32_t *zp);

/* bias: [out_c] floats or 0.  scratch: pj_hybrid_conv 2 * k_pad bytes (quad only) + one
 * batch of the input as int8 + k bytes, k = k_h * k_w * in_c / groups, k_pad = k rounded
 * up to 4; pj_hybrid_dwconv one batch of the input as int8; pj_hybrid_fc
 * 2 * k_pad bytes (quad only) + accum_depth. */
void pj_hybrid_conv(const pj_hconv_params *p, const float *in, const float *bias, float *out,
                    void *scratch);
void pj_hybrid_dwconv(const pj_hconv_params *p, const float *in, const float *bias,
                      float *out, void *scratch);
void pj_hybrid_fc(const pj_hfc_params *p, const float *in, const float *bias, float *out,
                  void *scratch);

#endif /* PJ_HYBRID_H */
