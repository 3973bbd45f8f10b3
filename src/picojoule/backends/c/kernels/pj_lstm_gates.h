/* TFLM's integer LSTM gate activations (lstm_eval.h): its int16 Logistic and Tanh on
 * 257-entry interpolated tables, shared by the int8 (pj_sequence.c) and int16x8
 * (pj_recurrent.c) LSTM kernels. Static functions: include once per kernel file. */
#ifndef PJ_LSTM_GATES_H
#define PJ_LSTM_GATES_H

#include "pj_common.h"

/* (lut[h] << frac) + (a & mask) * (lut[h + 1] - lut[h]), h = min(a >> frac, 254). */
PJ_INLINE int32_t pj_lut_interp(const int32_t *lut, int32_t a, int frac)
{
    const int32_t h = pj_min32(a >> frac, 254);
    const int32_t lo = lut[h];
    return (lo << frac) + (a & ((1 << frac) - 1)) * (lut[h + 1] - lo);
}

/* TFLM int16 Logistic as the LSTM calls it: Q3.12 in, Q0.15 out. */
static int32_t pj_sigmoid16(const int32_t *lut, int32_t x)
{
    const int32_t v = x * 3;
    const int32_t a = v < 0 ? -v : v;
    int32_t r = (a >> 9) >= 255 ? (0x7FFF << 10) : pj_lut_interp(lut, a, 9);
    r = v >= 0 ? r + (1 << 9) : (1 << 25) - r + (1 << 9) - 1;
    return r >> 10;
}

/* TFLM int16 Tanh with an input multiplier and left shift (multiplier 0: power of two). */
static int32_t pj_tanh16(const int32_t *lut, int32_t x, int32_t mult, int32_t left)
{
    int64_t v64;
    int32_t v, a, r;
    if (mult == 0) {
        mult = 3 << left;
        left = 0;
    }
    v64 = ((int64_t)x * mult + (left > 0 ? ((int64_t)1 << (left - 1)) : 0)) >> left;
    v = (int32_t)(v64 > 0x3FFFFFFF ? 0x3FFFFFFF : (v64 < -0x3FFFFFFF ? -0x3FFFFFFF : v64));
    a = v < 0 ? -v : v;
    r = (a >> 8) >= 255 ? (0xFFFF << 8) : pj_lut_interp(lut, a, 8);
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return r >> 8;
}

PJ_INLINE int32_t pj_sat16(int32_t v) { return pj_clamp32(v, -32768, 32767); }

#endif /* PJ_LSTM_GATES_H */
