/* picojoule generated-library kernels: parameter blocks and entry points.
 *
 * Every parameter block is a const object the generator fills at generation time
 * (weights, per-channel multipliers and shifts, folded offsets), so nothing here
 * allocates or computes floating-point quantization parameters at run time.
 * Tensors are NHWC, int8 unless stated otherwise.
 */
#ifndef PJ_KERNELS_H
#define PJ_KERNELS_H

#include <stdint.h>

/* Weights read with 32-bit loads are declared 4-byte aligned by the generated code. */
#if defined(__GNUC__)
#define PJ_ALIGNED4 __attribute__((aligned(4)))
#else
#define PJ_ALIGNED4
#endif

/* ---- CONV_2D (int8 activations, int8 per-channel weights, int32 bias) ---------------- */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int32_t in_offset, out_offset, act_min, act_max;
    /* pj_conv_s8: [out_c][k_h][k_w][in_c]; pj_conv_s8_dsp: the SMLAD layout described in
     * pj_conv.c (channel quads, groups of 4 taps reordered for SXTB16). */
    const int8_t *weights;
    const int32_t *bias;       /* [out_c] */
    const int32_t *mult;       /* [out_c] */
    const int32_t *shift;      /* [out_c] */
    /* [4 * out_c] fast requantization constants (see pj_rq in pj_common.h), or 0 when a
     * shift is outside [-23, -1] and the general path (mult, shift, out_offset) runs. */
    const int32_t *rq;
} pj_conv_params;

/* scratch: 2 * k_h * k_w * in_c int16 (4-byte aligned). */
void pj_conv_s8(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *scratch);
void pj_conv_s8_dsp(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *scratch);

/* ---- DEPTHWISE_CONV_2D --------------------------------------------------------------- */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, depth_multiplier;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *weights;     /* [k_h][k_w][out_c] */
    const int32_t *bias;       /* [out_c] */
    const int32_t *mult;       /* [out_c] */
    const int32_t *shift;      /* [out_c] */
    const int32_t *rq;         /* as for pj_conv_params */
} pj_dwconv_params;

/* scratch: out_c int32. */
void pj_dwconv_s8(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *scratch);
/* Depth multiplier 1, channels a multiple of 4, no dilation; weights as int16
 * [k_h][k_w][out_c / 4][4] holding (w0, w2, w1, w3) of each channel quad. */
void pj_dwconv_s8_dsp(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                      int32_t *scratch);

/* ---- FULLY_CONNECTED ----------------------------------------------------------------- */
typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t weight_offset, out_offset, act_min, act_max;
    /* [out_depth][accum_depth]; DSP layout as for convolutions. */
    const int8_t *weights;
    /* bias + input_offset * sum(w + weight_offset) over the row, folded at generation. */
    const int32_t *bias;
    const int32_t *mult;       /* [out_depth] */
    const int32_t *shift;      /* [out_depth] */
    const int32_t *rq;         /* as for pj_conv_params */
} pj_fc_params;

void pj_fc_s8(const pj_fc_params *p, const int8_t *in, int8_t *out);
/* scratch: accum_depth int16 (4-byte aligned). */
void pj_fc_s8_dsp(const pj_fc_params *p, const int8_t *in, int8_t *out, int16_t *scratch);

/* ---- AVERAGE_POOL_2D ----------------------------------------------------------------- */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_t, pad_l, act_min, act_max;
} pj_pool_params;

/* scratch: channels int32. */
void pj_avgpool_s8(const pj_pool_params *p, const int8_t *in, int8_t *out, int32_t *scratch);
/* LiteRT uint8 AVERAGE_POOL_2D on int8-re-encoded data (see pj_pool.c). */
void pj_avgpool_u8(const pj_pool_params *p, const int8_t *in, int8_t *out, int32_t *scratch);

/* ---- ADD (int8, with up to 4-D broadcasting) ----------------------------------------- */
typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D at the front with 1s */
    int32_t strides1[4];       /* element strides of input 1 (0 along broadcast axes) */
    int32_t strides2[4];
    int32_t same_shape;        /* nonzero: one flat loop */
    int32_t in1_offset, in2_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t out_offset, act_min, act_max;
    /* Fast path constants (pj_rq format) for input 1, input 2 (zero point 0) and the output,
     * or 0 when a shift is outside pj_rq's range. */
    const int32_t *rq;
} pj_add_params;

void pj_add_s8(const pj_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
/* Same shapes and pj_rq constants, the input requantizations from a generated table
 * lut[512] (see pj_add.c). */
void pj_add_s8_lut(const pj_add_params *p, const int32_t *lut, const int8_t *in1,
                   const int8_t *in2, int8_t *out);

/* ---- SOFTMAX (int8 -> int8) ---------------------------------------------------------- */
typedef struct {
    int32_t rows, depth;
    /* exp(beta * scale * d) in Q0.31 for d = max - x in 0..255, index 255 - d (0 beyond
     * TFLM's diff_min), tabulated at generation time with gemmlowp's fixed-point exp. */
    const int32_t *exp_table;
} pj_softmax_params;

void pj_softmax_s8(const pj_softmax_params *p, const int8_t *in, int8_t *out);

/* ---- QUANTIZE float32 -> int8, DEQUANTIZE int8 -> float32 ---------------------------- */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point, q_min, q_max;
} pj_quantize_params;

void pj_quantize_f32_s8(const pj_quantize_params *p, const float *in, int8_t *out);

typedef struct {
    int32_t size;
    const float *table;        /* 256 entries, indexed by the input byte (uint8 view) */
} pj_dequantize_params;

void pj_dequantize_s8_f32(const pj_dequantize_params *p, const int8_t *in, float *out);

#endif /* PJ_KERNELS_H */
