/* Recurrent kernels beyond pj_ops2.h: UNIDIRECTIONAL_SEQUENCE_LSTM with int16 activations
 * (int8 weights, int64 biases, int16 cell: TFLM's 16x8 LSTM) and float32 SVDF.
 */
#ifndef PJ_RECURRENT_H
#define PJ_RECURRENT_H

#include <stdint.h>

typedef struct {
    int32_t time_major, steps, batches, inputs, units;
    int32_t in_offset, h_zp, h_min, h_max;
    /* Gates in the order input, forget, cell, output. */
    const int8_t *w_in[4];     /* [units][inputs] */
    const int8_t *w_rec[4];    /* [units][units] */
    const int64_t *bias[4];    /* [units] */
    /* TFLM's 64-bit requantization: the multiplier reduced to 16 bits, one right shift. */
    int32_t in_mult[4], in_shift[4], rec_mult[4], rec_shift[4];
    int32_t fc_mult, fc_shift, ic_mult, ic_shift, oh_mult, oh_shift;
    int32_t tanh_mult, tanh_shift, cell_clip; /* cell_clip 0: none */
    const int32_t *sigmoid_lut;  /* 256 entries: 65536 * sigmoid(k / 24) */
} pj_lstm16_params;

/* h: [batches][units] int16 and c: [batches][units] int16, updated in place;
 * scratch: 4 * units int32. */
void pj_lstm_s16(const pj_lstm16_params *p, const int16_t *in, int16_t *h, int16_t *c,
                 int16_t *out, int32_t *scratch);

typedef struct {
    int32_t batches, inputs, filters, memory, rank, units;
    int32_t activation;             /* 0 none, 1 relu, 2 relu_n1_to_1, 3 relu6, 4 sign bit */
    const float *weights_feature;   /* [filters][inputs] */
    const float *weights_time;      /* [filters][memory] */
    const float *bias;              /* [units] */
} pj_svdf_f32_params;

/* state: [batches][filters][memory] float, updated in place. */
void pj_svdf_f32(const pj_svdf_f32_params *p, const float *in, float *state, float *out);

#endif /* PJ_RECURRENT_H */
