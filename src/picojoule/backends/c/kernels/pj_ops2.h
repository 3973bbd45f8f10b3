/* picojoule generated-library kernels, second family: int16x8 and int8 elementwise ops,
 * data movement (pad, slice, concatenation), 16x8 convolutions, float32 kernels.
 *
 * As in pj_kernels.h, every parameter block is const data the generator fills (multipliers,
 * shifts, strides, offsets computed at generation time); nothing allocates.
 */
#ifndef PJ_OPS2_H
#define PJ_OPS2_H

#include <stdint.h>

/* ---- copies: N-D strided gather (STRIDED_SLICE, PAD, CONCATENATION, TRANSPOSE) ------- */
#define PJ_COPY_MAX_RANK 6
typedef struct {
    int32_t rank;              /* 1..PJ_COPY_MAX_RANK */
    int32_t elem;              /* element size in bytes: 1, 2, 4 or 8 */
    int32_t count[PJ_COPY_MAX_RANK];
    int32_t src_stride[PJ_COPY_MAX_RANK]; /* elements, may be negative */
    int32_t dst_stride[PJ_COPY_MAX_RANK];
    int32_t src_offset, dst_offset;       /* elements */
} pj_copy_params;

void pj_copy(const pj_copy_params *p, const void *in, void *out);
/* out[0..n) = value (an elem-byte integer, low bytes first). */
void pj_fill(void *out, int32_t n, int32_t elem, int64_t value);

/* ---- ADD / SUB (int8, int16): TFLM's two-stage rescaling, 4-D broadcasting ----------- */
typedef struct {
    int32_t dims[4], strides1[4], strides2[4];
    int32_t sign;              /* +1 ADD, -1 SUB */
    int32_t in1_offset, in2_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t out_offset, act_min, act_max;
} pj_addsub_params;

void pj_addsub_s16(const pj_addsub_params *p, const int16_t *in1, const int16_t *in2,
                   int16_t *out);
void pj_addsub_s8(const pj_addsub_params *p, const int8_t *in1, const int8_t *in2,
                  int8_t *out);

/* ---- MUL (int8, int16): (a - zp1) (b - zp2) requantized, 4-D broadcasting ----------- */
typedef struct {
    int32_t dims[4], strides1[4], strides2[4];
    int32_t in1_offset, in2_offset, mult, shift, out_offset, act_min, act_max;
} pj_mul_params;

void pj_mul_s8(const pj_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void pj_mul_s16(const pj_mul_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

/* ---- LEAKY_RELU (int8, int16) ------------------------------------------------------- */
typedef struct {
    int32_t size, in_zp, out_zp;
    int32_t id_mult, id_shift;
    int32_t alpha_mult, alpha_shift, alpha_negative; /* alpha_mult = |multiplier| */
    int32_t q_min, q_max;
} pj_leaky_params;

void pj_leaky_relu_s16(const pj_leaky_params *p, const int16_t *in, int16_t *out);
void pj_leaky_relu_s8(const pj_leaky_params *p, const int8_t *in, int8_t *out);

/* ---- QUANTIZE between integer types (requantization) --------------------------------- */
typedef struct {
    int32_t size, in_elem, out_elem; /* element sizes: 1 (int8), 2 (int16), 4 (int32) */
    int32_t in_zp, out_zp, mult, shift, q_min, q_max;
} pj_requant_params;

void pj_requantize(const pj_requant_params *p, const void *in, void *out);

/* ---- QUANTIZE float32 -> int16 and DEQUANTIZE int16 -> float32 ----------------------- */
void pj_quantize_f32_s16(int32_t size, float scale, int32_t zero_point, const float *in,
                         int16_t *out);
void pj_dequantize_s16_f32(int32_t size, double scale, int32_t zero_point, const int16_t *in,
                           float *out);

/* ---- 8-bit table lookup (any int8 -> int8 elementwise op, tabulated at generation) --- */
void pj_lut_s8(int32_t size, const int8_t *table, const int8_t *in, int8_t *out);

/* ---- CONV_2D / TRANSPOSE_CONV with int16 activations, int8 weights ------------------- */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int32_t in_offset;         /* 0 for 16x8 (TFLM has no input offset there) */
    int32_t out_offset, act_min, act_max;
    /* wide: int64 accumulator and TFLM's 64-bit MultiplyByQuantizedMultiplier with the
     * multiplier reduced to 16 bits (mult16, total_shift); else int32 wrap + pj_mbqm. */
    int32_t wide;
    const int8_t *weights;     /* [out_c][k_h][k_w][in_c] */
    const int64_t *bias;       /* [out_c] */
    const int32_t *mult;       /* [out_c]: 32-bit multipliers (narrow) or reduced (wide) */
    const int32_t *shift;      /* [out_c]: shifts (narrow) or total right shifts (wide) */
} pj_conv16_params;

void pj_conv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out);
/* Depthwise: weights [k_h][k_w][out_c], depth multiplier out_c / in_c. */
void pj_dwconv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out);
/* scratch: out_h * out_w * out_c int64 (one batch). */
void pj_tconv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out,
                  int64_t *scratch);
void pj_tconv_s8(const pj_conv16_params *p, const int8_t *in, int8_t *out, int64_t *scratch);

/* ---- MAX_POOL_2D (int8, int16) and AVERAGE_POOL_2D (int16) ---------------------------- */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_t, pad_l;
    int32_t elem, is_max, act_min, act_max; /* elem: 1 int8, 2 int16 */
} pj_pooli_params;

void pj_pool_int(const pj_pooli_params *p, const void *in, void *out);

/* ---- float32 --------------------------------------------------------------------------- */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, depth_multiplier;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    float act_min, act_max;
    const float *weights;      /* conv [out_c][k_h][k_w][in_c]; depthwise [k_h][k_w][out_c] */
    const float *bias;         /* [out_c] or 0 */
} pj_convf_params;

void pj_conv_f32(const pj_convf_params *p, const float *in, float *out);
void pj_dwconv_f32(const pj_convf_params *p, const float *in, float *out);

typedef struct {
    int32_t batches, accum_depth, out_depth;
    float act_min, act_max;
    const float *weights;      /* [out_depth][accum_depth] */
    const float *bias;         /* [out_depth] or 0 */
} pj_fcf_params;

void pj_fc_f32(const pj_fcf_params *p, const float *in, float *out);

typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_t, pad_l, is_max;
    float act_min, act_max;
} pj_poolf_params;

void pj_pool_f32(const pj_poolf_params *p, const float *in, float *out);

typedef struct {
    int32_t dims[4], strides1[4], strides2[4];
    int32_t op;                /* 0 add, 1 sub, 2 mul, 3 div, 4 min, 5 max */
    float act_min, act_max;
} pj_binf_params;

void pj_binary_f32(const pj_binf_params *p, const float *in1, const float *in2, float *out);

typedef struct {
    int32_t rows, depth;
    float beta;
} pj_softmaxf_params;

void pj_softmax_f32(const pj_softmaxf_params *p, const float *in, float *out);

/* ---- int32 elementwise (MUL, DIV, MINIMUM, MAXIMUM, ADD, SUB) with broadcasting ------- */
typedef struct {
    int32_t dims[4], strides1[4], strides2[4];
    int32_t op;                /* as pj_binf_params */
    int32_t act_min, act_max;
} pj_bini_params;

void pj_binary_s32(const pj_bini_params *p, const int32_t *in1, const int32_t *in2,
                   int32_t *out);

/* ---- SOFTMAX int8 -> int16 (output scale 1/65536, zero point -32768) ------------------ */
typedef struct {
    int32_t rows, depth;
    const int32_t *exp_table;  /* as pj_softmax_params */
} pj_softmax16_params;

void pj_softmax_s8_s16(const pj_softmax16_params *p, const int8_t *in, int16_t *out);

typedef struct {
    int32_t rows, depth;
    int32_t multiplier, shift;  /* input scale x beta / (10 / 65535) */
    const int16_t *exp_lut;     /* 513 points: exp over [-10, 0] */
    const int16_t *recip_lut;   /* 513 points: 1 / (1 + x) over [0, 1] */
} pj_softmax_s16_params;

void pj_softmax_s16(const pj_softmax_s16_params *p, const int16_t *in, int16_t *out);

/* ---- SVDF (int8 input and weights_feature; int8 or int16 state and weights_time) ------ */
typedef struct {
    int32_t batches, inputs, filters, memory, rank, units;
    int32_t in_offset, state_zp, out_zp, state_is_16;
    int32_t m1, s1, m2, s2, state_min, state_max;
    const int8_t *weights_feature;  /* [filters][inputs] */
    const void *weights_time;       /* [filters][memory], int8 or int16 like the state */
    const int32_t *bias;            /* [units] */
} pj_svdf_params;

/* state: [batches][filters][memory], updated in place (the model's persistent memory). */
void pj_svdf_s8(const pj_svdf_params *p, const int8_t *in, void *state, int8_t *out);

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell) --------- */
typedef struct {
    int32_t time_major, steps, batches, inputs, units;
    int32_t in_offset, h_zp, h_min, h_max;
    /* Gates in the order input, forget, cell, output. */
    const int8_t *w_in[4];     /* [units][inputs] */
    const int8_t *w_rec[4];    /* [units][units] */
    const int32_t *bias[4];    /* [units] */
    int32_t in_mult[4], in_shift[4], rec_mult[4], rec_shift[4];
    int32_t fc_mult, fc_shift, ic_mult, ic_shift, oh_mult, oh_shift;
    int32_t tanh_mult, tanh_shift, cell_clip; /* cell_clip 0: none */
    const int32_t *sigmoid_lut;  /* 256 entries: 65536 * sigmoid(k / 24) */
} pj_lstm_params;

/* h: [batches][units] int8 and c: [batches][units] int16 states, updated in place;
 * scratch: 4 * units int32. */
void pj_lstm_s8(const pj_lstm_params *p, const int8_t *in, int8_t *h, int16_t *c, int8_t *out,
                int32_t *scratch);

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM, float32 ------------------------------------------- */
typedef struct {
    int32_t time_major, steps, batches, inputs, units;
    float cell_clip;           /* 0: none */
    const float *w_in[4];      /* gates input, forget, cell, output: [units][inputs] */
    const float *w_rec[4];     /* [units][units] */
    const float *bias[4];      /* [units] */
} pj_lstmf_params;

/* h, c: [batches][units] float state, updated in place; scratch: 4 * units floats. */
void pj_lstm_f32(const pj_lstmf_params *p, const float *in, float *h, float *c, float *out,
                 float *scratch);

/* ---- CAST between integer / float types ----------------------------------------------- */
/* Type codes: 0 int8, 1 int16, 2 int32, 3 uint32, 4 float32, 5 uint8, 6 bool. */
void pj_cast(int32_t size, int32_t src_type, int32_t dst_type, const void *in, void *out);

/* ---- Signal library (TFLM audio front end) ------------------------------------------- */
void pj_signal_window(int32_t size, int32_t wlen, int32_t shift, const int16_t *w,
                      const int16_t *in, int16_t *out);
void pj_signal_fft_auto_scale(int32_t size, const int16_t *in, int16_t *out, int32_t *bits);

typedef struct {
    int32_t nfft, in_len, nfactors;
    const int32_t *factors;    /* (p, m) pairs, kissfft kf_factor order */
    const int16_t *perm;       /* [nfft / 2]: input index of each leaf (kf_work's order) */
    const int16_t *tw_r, *tw_i;   /* [nfft / 2] complex twiddles */
    const int16_t *st_r, *st_i;   /* [nfft / 4] real-FFT split twiddles */
} pj_rfft_params;

/* out: (nfft / 2 + 1) interleaved (re, im) int16; scratch: nfft int16. */
void pj_signal_rfft_s16(const pj_rfft_params *p, const int16_t *in, int16_t *out,
                        int16_t *scratch);
void pj_signal_energy(int32_t n_out, int32_t start, int32_t end, const int16_t *in,
                      uint32_t *out);

typedef struct {
    int32_t num_channels, n_out;
    const int16_t *weights, *unweights, *fstart, *wstart, *width;
} pj_filterbank_params;

void pj_signal_filter_bank(const pj_filterbank_params *p, const uint32_t *in, uint64_t *out);
void pj_signal_fb_sqrt(int32_t size, const uint64_t *in, const int32_t *shift, uint32_t *out);

typedef struct {
    int32_t num_channels, clamping;
    uint32_t smoothing, one_minus_smoothing, alt_smoothing, alt_one_minus_smoothing;
    uint32_t smoothing_bits, spectral_subtraction_bits, min_signal_remaining;
} pj_specsub_params;

/* noise: num_channels uint32 of persistent state. */
void pj_signal_spectral_subtraction(const pj_specsub_params *p, const uint32_t *in,
                                    uint32_t *out, uint32_t *noise_out, uint32_t *noise);
void pj_signal_pcan(int32_t size, int32_t snr_shift, int32_t lut_size, const int16_t *lut,
                    const uint32_t *in, const uint32_t *noise, uint32_t *out);
void pj_signal_fb_log(int32_t size, int32_t correction_bits, int32_t output_scale,
                      const int32_t *log_lut, const uint32_t *in, int16_t *out);

#endif /* PJ_OPS2_H */
