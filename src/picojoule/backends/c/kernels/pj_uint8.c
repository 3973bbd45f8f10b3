/* Legacy uint8 kernels (see pj_uint8.h): LiteRT's uint8 RESIZE_BILINEAR on the int8
 * re-encoding of its data (uint8 value = int8 value + 128); pj_avgpool_u8 is in pj_pool.c.
 */
#include "pj_common.h"
#include "pj_uint8.h"

void pj_resize_bilinear_u8(const pj_resize_u8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c = p->channels;
    const size_t in_row = (size_t)p->in_w * (size_t)c;
    int32_t b, oy, ox, ch;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int8_t *r0 = img + (size_t)p->y0[oy] * in_row;
            const int8_t *r1 = img + (size_t)p->y1[oy] * in_row;
            const float hy = p->dy[oy], ly = 1.0f - hy;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int8_t *a0 = r0 + (size_t)p->x0[ox] * (size_t)c;
                const int8_t *a1 = r0 + (size_t)p->x1[ox] * (size_t)c;
                const int8_t *b0 = r1 + (size_t)p->x0[ox] * (size_t)c;
                const int8_t *b1 = r1 + (size_t)p->x1[ox] * (size_t)c;
                const float hx = p->dx[ox], lx = 1.0f - hx;
                for (ch = 0; ch < c; ++ch) {
                    /* LiteRT's order, ((((a*ly)*lx + (b*hy)*lx) + (a'*ly)*hx) + (b'*hy)*hx)
                     * + 0.5, one rounding per operation (separate statements), then the
                     * truncation of a value >= 0.5 and the re-encoding. */
                    float t, acc;
                    acc = (float)(a0[ch] + 128) * ly;
                    acc = acc * lx;
                    t = (float)(b0[ch] + 128) * hy;
                    t = t * lx;
                    acc = acc + t;
                    t = (float)(a1[ch] + 128) * ly;
                    t = t * hx;
                    acc = acc + t;
                    t = (float)(b1[ch] + 128) * hy;
                    t = t * hx;
                    acc = acc + t;
                    acc = acc + 0.5f;
                    *out++ = (int8_t)((int32_t)acc - 128);
                }
            }
        }
    }
}
