/* TRANSPOSE_CONV, float32 (see pj_tconv.h). */
#include <string.h>

#include "pj_tconv.h"

void pj_tconv_f32(const pj_tconv_f32_params *p, const float *in, float *out)
{
    const int32_t plane = p->out_h * p->out_w * p->out_c;
    const int32_t tap_stride = p->in_c;
    const int32_t oc_stride = p->k_h * p->k_w * p->in_c;
    int32_t b, y, x, ic, ky, kx, oc, i;
    memset(out, 0, (size_t)plane * (size_t)p->batches * sizeof(float));
    for (b = 0; b < p->batches; ++b) {
        const float *img = in + b * p->in_h * p->in_w * p->in_c;
        float *dst = out + b * plane;
        for (y = 0; y < p->in_h; ++y) {
            for (x = 0; x < p->in_w; ++x) {
                const float *px = img + (y * p->in_w + x) * p->in_c;
                for (ic = 0; ic < p->in_c; ++ic) {
                    const float v = px[ic];
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t oy = y * p->stride_h - p->pad_t + ky;
                        if (oy < 0 || oy >= p->out_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ox = x * p->stride_w - p->pad_l + kx;
                            const float *w;
                            float *acc;
                            if (ox < 0 || ox >= p->out_w) {
                                continue;
                            }
                            w = p->weights + (ky * p->k_w + kx) * tap_stride + ic;
                            acc = dst + (oy * p->out_w + ox) * p->out_c;
                            for (oc = 0; oc < p->out_c; ++oc) {
                                acc[oc] += v * w[oc * oc_stride];
                            }
                        }
                    }
                }
            }
        }
        for (i = 0; i < plane; ++i) {
            float a = dst[i];
            if (p->bias) {
                a += p->bias[i % p->out_c];
            }
            a = a < p->act_min ? p->act_min : a;
            dst[i] = a > p->act_max ? p->act_max : a;
        }
    }
}
