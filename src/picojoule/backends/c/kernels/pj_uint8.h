/* Legacy uint8 models (re-encoded as int8 at import, picojoule/passes/uint8.py): the ops
 * whose LiteRT uint8 kernels round unlike TFLM's int8 ones and have no kernel of their own
 * elsewhere.  Data are the int8 re-encodings q - 128 of the uint8 values.
 */
#ifndef PJ_UINT8_H
#define PJ_UINT8_H

#include <stdint.h>

#include "pj_kernels.h"

/* AVERAGE_POOL_2D as LiteRT's uint8 kernel: (sum + n / 2) / n on the uint8 sum (halves up). */

/* RESIZE_BILINEAR as LiteRT's uint8 kernel: float32 interpolation of the uint8 values. */
typedef struct {
    int32_t batch, in_h, in_w, out_h, out_w, channels;
    const int32_t *y0, *y1; /* [out_h] source rows */
    const int32_t *x0, *x1; /* [out_w] source columns */
    const float *dy;        /* [out_h] input_y - y0 (float32) */
    const float *dx;        /* [out_w] input_x - x0 */
} pj_resize_u8_params;

void pj_resize_bilinear_u8(const pj_resize_u8_params *p, const int8_t *in, int8_t *out);

#endif /* PJ_UINT8_H */
