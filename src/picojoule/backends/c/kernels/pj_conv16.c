/* CONV_2D and TRANSPOSE_CONV with int16 activations and int8 weights (TFLM's 16x8
 * kernels), and int8 TRANSPOSE_CONV.
 *
 * "Wide" layers (int64 bias) accumulate in int64 and requantize with TFLM's 64-bit
 * MultiplyByQuantizedMultiplier: the 32-bit multiplier is reduced to 16 bits with rounding
 * (done at generation time), then y = (acc * m16 + 2^(t-1)) >> t with t = 15 - shift and
 * the result truncated to int32.  The generator proves |acc * m16| < 2^62.  "Narrow"
 * layers (int32 bias) sum in int32 (wrapping, as TFLM's int32 accumulator) and use the
 * 32-bit double-rounding MultiplyByQuantizedMultiplier.
 */
#include "pj_common.h"
#include "pj_ops2.h"

PJ_INLINE int32_t pj_conv16_rq(const pj_conv16_params *p, int64_t acc, int32_t c)
{
    int32_t v;
    if (p->bias != 0) {
        acc += p->bias[c];
    }
    if (p->wide) {
        const int32_t t = p->shift[c];
        const int64_t y = acc * (int64_t)p->mult[c] + ((int64_t)1 << (t - 1));
        v = pj_wrap32(y >> t);
    } else {
        v = pj_mbqm(pj_wrap32(acc), p->mult[c], p->shift[c]);
    }
    v += p->out_offset;
    return pj_clamp32(v, p->act_min, p->act_max);
}

void pj_conv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out)
{
    int32_t b, oy, ox, c, ky, kx, ic;
    const int32_t kstride = p->k_h * p->k_w * p->in_c;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *img = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                for (c = 0; c < p->out_c; ++c) {
                    const int8_t *wc = p->weights + c * kstride;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int16_t *px;
                            const int8_t *wk;
                            int32_t part = 0;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            px = img + (iy * p->in_w + ix) * p->in_c;
                            wk = wc + (ky * p->k_w + kx) * p->in_c;
                            /* |x * w| <= 2^22: one tap's channels fit int32 below 512. */
                            for (ic = 0; ic < p->in_c; ++ic) {
                                part += (px[ic] + p->in_offset) * wk[ic];
                                if ((ic & 255) == 255) {
                                    acc += part;
                                    part = 0;
                                }
                            }
                            acc += part;
                        }
                    }
                    *out++ = (int16_t)pj_conv16_rq(p, acc, c);
                }
            }
        }
    }
}

void pj_dwconv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t dm = p->out_c / p->in_c;
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *img = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                for (c = 0; c < p->out_c; ++c) {
                    const int32_t ic = c / dm;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            acc += (int32_t)(img[(iy * p->in_w + ix) * p->in_c + ic]
                                             + p->in_offset)
                                   * p->weights[(ky * p->k_w + kx) * p->out_c + c];
                        }
                    }
                    *out++ = (int16_t)pj_conv16_rq(p, acc, c);
                }
            }
        }
    }
}

/* Scatter every input pixel's taps into the int64 scratch (one batch), then requantize. */
#define PJ_TCONV_BODY(IN_T, OUT_T)                                                         \
    int32_t b, iy, ix, ky, kx, c, ic;                                                      \
    const int32_t plane = p->out_h * p->out_w * p->out_c;                                  \
    const int32_t kstride = p->k_h * p->k_w * p->in_c;                                     \
    for (b = 0; b < p->batches; ++b) {                                                     \
        const IN_T *img = in + (int32_t)b * p->in_h * p->in_w * p->in_c;                   \
        OUT_T *dst = out + (int32_t)b * plane;                                             \
        for (c = 0; c < plane; ++c) {                                                      \
            scratch[c] = 0;                                                                \
        }                                                                                  \
        for (iy = 0; iy < p->in_h; ++iy) {                                                 \
            for (ix = 0; ix < p->in_w; ++ix) {                                             \
                const IN_T *px = img + (iy * p->in_w + ix) * p->in_c;                      \
                for (ky = 0; ky < p->k_h; ++ky) {                                          \
                    const int32_t oy = iy * p->stride_h - p->pad_t + ky;                   \
                    if (oy < 0 || oy >= p->out_h) {                                        \
                        continue;                                                          \
                    }                                                                      \
                    for (kx = 0; kx < p->k_w; ++kx) {                                      \
                        const int32_t ox = ix * p->stride_w - p->pad_l + kx;               \
                        int64_t *acc;                                                      \
                        if (ox < 0 || ox >= p->out_w) {                                    \
                            continue;                                                      \
                        }                                                                  \
                        acc = scratch + (oy * p->out_w + ox) * p->out_c;                   \
                        for (c = 0; c < p->out_c; ++c) {                                   \
                            const int8_t *wk = p->weights + c * kstride                    \
                                               + (ky * p->k_w + kx) * p->in_c;             \
                            int32_t part = 0;                                              \
                            for (ic = 0; ic < p->in_c; ++ic) {                             \
                                part += (px[ic] + p->in_offset) * wk[ic];                  \
                                if ((ic & 255) == 255) {                                   \
                                    acc[c] += part;                                        \
                                    part = 0;                                              \
                                }                                                          \
                            }                                                              \
                            acc[c] += part;                                                \
                        }                                                                  \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (c = 0; c < plane; ++c) {                                                      \
            dst[c] = (OUT_T)pj_conv16_rq(p, scratch[c], c % p->out_c);                     \
        }                                                                                  \
    }

void pj_tconv_s16(const pj_conv16_params *p, const int16_t *in, int16_t *out,
                  int64_t *scratch)
{
    PJ_TCONV_BODY(int16_t, int16_t)
}

void pj_tconv_s8(const pj_conv16_params *p, const int8_t *in, int8_t *out, int64_t *scratch)
{
    PJ_TCONV_BODY(int8_t, int8_t)
}
