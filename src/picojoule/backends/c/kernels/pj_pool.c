/* AVERAGE_POOL_2D int8: the mean of each window's taps inside the image, rounded half
 * away from zero with C's truncating division exactly as TFLM, then the activation clamp.
 * pj_avgpool_u8: LiteRT's uint8 kernel on the int8 re-encoding of its data (uint8 value =
 * int8 value + 128): the uint8 sum, never negative, with halves rounded up.
 */
#include "pj_common.h"
#include "pj_kernels.h"

/* u8: 0 in the int8 entry point, where the uint8 path folds away. */
PJ_INLINE void pj_avgpool_body(const pj_pool_params *p, int u8, const int8_t *in, int8_t *out,
                                int32_t *acc)
{
    const int32_t ch = p->channels;
    int32_t b, oy, ox, iy, ix, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            const int32_t ys = pj_max32(0, y0), ye = pj_min32(p->in_h, y0 + p->k_h);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                const int32_t xs = pj_max32(0, x0), xe = pj_min32(p->in_w, x0 + p->k_w);
                const int32_t count = (ye - ys) * (xe - xs);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                for (c = 0; c < ch; ++c) {
                    acc[c] = u8 ? 128 * count : 0;
                }
                for (iy = ys; iy < ye; ++iy) {
                    for (ix = xs; ix < xe; ++ix) {
                        const int8_t *src = in_b + (iy * p->in_w + ix) * ch;
                        for (c = 0; c < ch; ++c) {
                            acc[c] += src[c];
                        }
                    }
                }
                for (c = 0; c < ch; ++c) {
                    const int32_t s = acc[c];
                    const int32_t avg = u8 ? (s + count / 2) / count - 128
                                        : s > 0 ? (s + count / 2) / count
                                                : (s - count / 2) / count;
                    o[c] = (int8_t)pj_clamp32(avg, p->act_min, p->act_max);
                }
            }
        }
    }
}

void pj_avgpool_s8(const pj_pool_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    pj_avgpool_body(p, 0, in, out, acc);
}

void pj_avgpool_u8(const pj_pool_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    pj_avgpool_body(p, 1, in, out, acc);
}
