/* Data movement beyond the strided copies of pj_copy.c: gathers with runtime indices,
 * nearest-neighbour and bilinear resizes, runtime fills, copies at a runtime offset and
 * the casts LiteRT adds (int64, float32 -> uint8).  See pj_movement.h.
 *
 * Runs of bytes are copied with pj_mv_run: fixed-size copies for the usual element and
 * pixel sizes (which the compiler turns into single loads and stores), memcpy otherwise,
 * so no kernel makes a function call per element.
 */
#include <stddef.h>
#include <string.h>

#include "pj_common.h"
#include "pj_ops2.h"
#include "pj_movement.h"

/* Copy n bytes (src and dst do not overlap). */
PJ_INLINE void pj_mv_run(uint8_t *dst, const uint8_t *src, size_t n)
{
    switch (n) {
    case 1:
        dst[0] = src[0];
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    default:
        memcpy(dst, src, n);
        break;
    }
}

PJ_INLINE int64_t pj_mv_index(const void *p, int32_t type, int32_t i)
{
    if (type == PJ_INDEX_I64) {
        return ((const int64_t *)p)[i];
    }
    if (type == PJ_INDEX_I16) {
        return ((const int16_t *)p)[i];
    }
    return ((const int32_t *)p)[i];
}

void pj_gather(const pj_gather_params *p, const void *params, const void *indices, void *out)
{
    const uint8_t *src = (const uint8_t *)params;
    uint8_t *dst = (uint8_t *)out;
    const size_t run = (size_t)p->run_bytes;
    const size_t slab = (size_t)p->axis_size * run;
    int32_t b, o, n;
    for (b = 0; b < p->batch; ++b) {
        const int32_t first = b * p->count;
        for (o = 0; o < p->outer; ++o) {
            const uint8_t *base = src + ((size_t)b * (size_t)p->outer + (size_t)o) * slab;
            for (n = 0; n < p->count; ++n) {
                const int64_t k = pj_mv_index(indices, p->index_type, first + n);
                if (k >= 0 && k < p->axis_size) {
                    pj_mv_run(dst, base + (size_t)k * run, run);
                } else {
                    memset(dst, 0, run);
                }
                dst += run;
            }
        }
    }
}

void pj_gather_nd(const pj_gather_nd_params *p, const void *params, const void *indices,
                  void *out)
{
    const uint8_t *src = (const uint8_t *)params;
    uint8_t *dst = (uint8_t *)out;
    const size_t run = (size_t)p->run_bytes;
    int32_t n, k;
    for (n = 0; n < p->count; ++n) {
        size_t row = 0;
        int ok = 1;
        for (k = 0; k < p->depth; ++k) {
            const int64_t i = pj_mv_index(indices, p->index_type, n * p->depth + k);
            if (i < 0 || i >= p->dim[k]) {
                ok = 0;
            } else {
                row += (size_t)i * (size_t)p->stride[k];
            }
        }
        if (ok) {
            pj_mv_run(dst, src + row * run, run);
        } else {
            memset(dst, 0, run);
        }
        dst += run;
    }
}

void pj_resize_nearest(const pj_resize_params *p, const int32_t *ys, const int32_t *xs,
                       const void *in, void *out)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const size_t px = (size_t)p->channels * (size_t)p->elem;
    const size_t in_row = (size_t)p->in_w * px, out_row = (size_t)p->out_w * px;
    int32_t b, oy, ox;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const uint8_t *srow;
            if (oy > 0 && ys[oy] == ys[oy - 1]) {  /* the row above, again */
                memcpy(dst, dst - out_row, out_row);
                dst += out_row;
                continue;
            }
            srow = src + ((size_t)b * (size_t)p->in_h + (size_t)ys[oy]) * in_row;
            for (ox = 0; ox < p->out_w; ++ox) {
                pj_mv_run(dst, srow + (size_t)xs[ox] * px, px);
                dst += px;
            }
        }
    }
}

void pj_resize_bilinear_s8(const pj_resize_params *p, const int32_t *y0, const int32_t *y1,
                           const int32_t *wy, const int32_t *x0, const int32_t *x1,
                           const int32_t *wx, const int8_t *in, int8_t *out)
{
    const int32_t c = p->channels;
    const size_t in_row = (size_t)p->in_w * (size_t)c;
    int32_t b, oy, ox, ch;
    for (b = 0; b < p->batch; ++b) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int8_t *r0 = img + (size_t)y0[oy] * in_row;
            const int8_t *r1 = img + (size_t)y1[oy] * in_row;
            const int32_t dy1 = wy[oy], dy0 = 1024 - dy1;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int8_t *a0 = r0 + (size_t)x0[ox] * (size_t)c;
                const int8_t *a1 = r0 + (size_t)x1[ox] * (size_t)c;
                const int8_t *b0 = r1 + (size_t)x0[ox] * (size_t)c;
                const int8_t *b1 = r1 + (size_t)x1[ox] * (size_t)c;
                const int32_t dx1 = wx[ox], dx0 = 1024 - dx1;
                const int32_t w00 = dy0 * dx0, w10 = dy1 * dx0;
                const int32_t w01 = dy0 * dx1, w11 = dy1 * dx1;
                for (ch = 0; ch < c; ++ch) {
                    int32_t acc = a0[ch] * w00 + b0[ch] * w10 + a1[ch] * w01 + b1[ch] * w11;
                    /* TFLM: round half away from zero, divide truncating toward zero */
                    acc += acc > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int8_t)(uint8_t)(uint32_t)(acc / (1 << 20));
                }
            }
        }
    }
}

void pj_resize_bilinear_f32(const pj_resize_params *p, const int32_t *y0, const int32_t *y1,
                            const float *wy0, const float *wy1, const int32_t *x0,
                            const int32_t *x1, const float *wx0, const float *wx1,
                            const float *in, float *out)
{
    const int32_t c = p->channels;
    const size_t in_row = (size_t)p->in_w * (size_t)c;
    int32_t b, oy, ox, ch;
    for (b = 0; b < p->batch; ++b) {
        const float *img = in + (size_t)b * (size_t)p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const float *r0 = img + (size_t)y0[oy] * in_row;
            const float *r1 = img + (size_t)y1[oy] * in_row;
            const float ly = wy0[oy], hy = wy1[oy];
            for (ox = 0; ox < p->out_w; ++ox) {
                const float *a0 = r0 + (size_t)x0[ox] * (size_t)c;
                const float *a1 = r0 + (size_t)x1[ox] * (size_t)c;
                const float *b0 = r1 + (size_t)x0[ox] * (size_t)c;
                const float *b1 = r1 + (size_t)x1[ox] * (size_t)c;
                const float lx = wx0[ox], hx = wx1[ox];
                for (ch = 0; ch < c; ++ch) {
                    /* The reference's order, (((a*ly)*lx + (b*hy)*lx) + (a'*ly)*hx) +
                     * (b'*hy)*hx, one rounding per operation: separate statements keep a
                     * compiler from fusing a multiply and an add. */
                    float t, acc;
                    acc = a0[ch] * ly;
                    acc = acc * lx;
                    t = b0[ch] * hy;
                    t = t * lx;
                    acc = acc + t;
                    t = a1[ch] * ly;
                    t = t * hx;
                    acc = acc + t;
                    t = b1[ch] * hy;
                    t = t * hx;
                    *out++ = acc + t;
                }
            }
        }
    }
}

void pj_splat(void *out, int32_t n, int32_t elem, const void *value)
{
    uint8_t *dst = (uint8_t *)out;
    const size_t total = (size_t)n * (size_t)elem;
    size_t done;
    if (n <= 0) {
        return;
    }
    if (elem == 1) {
        memset(dst, *(const uint8_t *)value, (size_t)n);
        return;
    }
    pj_mv_run(dst, (const uint8_t *)value, (size_t)elem);
    /* Double the filled prefix: log2(n) copies. */
    for (done = (size_t)elem; done < total; done += done) {
        memcpy(dst + done, dst, done < total - done ? done : total - done);
    }
}

void pj_copy_at(const pj_copy_params *p, const pj_offset_params *o, const void *index,
                const void *in, void *out)
{
    pj_copy_params q = *p;
    int32_t k;
    for (k = 0; k < o->n; ++k) {
        int64_t i = pj_mv_index(index, o->index_type, k);
        i = i < o->lo[k] ? o->lo[k] : (i > o->hi[k] ? o->hi[k] : i);
        q.src_offset += (int32_t)i * o->stride[k];
    }
    pj_copy(&q, in, out);
}

/* float -> integer in [lo, hi]: truncate toward zero, saturate, NaN -> hi. */
PJ_INLINE int64_t pj_mv_f2i(float v, int64_t lo, int64_t hi, float flo, float fhi)
{
    if (v != v) {
        return hi;
    }
    if (v >= fhi) {
        return hi;
    }
    if (v <= flo) {
        return lo;
    }
    return (int64_t)v;
}

void pj_cast_wide(int32_t n, int32_t src_type, int32_t dst_type, const void *in, void *out)
{
    /* saturation bounds per destination type; float bounds compare exactly (2^63 for
     * INT64_MAX, which float cannot hold: t >= 2^63 saturates) */
    static const int64_t lo[8] = {-128, -32768, -2147483647 - 1, 0, 0, 0, 0,
                                  -9223372036854775807LL - 1};
    static const int64_t hi[8] = {127, 32767, 2147483647, 4294967295LL, 0, 255, 1,
                                  9223372036854775807LL};
    static const float flo[8] = {-128.0f, -32768.0f, -2147483648.0f, 0.0f, 0.0f, 0.0f,
                                 0.0f, -9223372036854775808.0f};
    static const float fhi[8] = {127.0f, 32767.0f, 2147483648.0f, 4294967296.0f, 0.0f,
                                 255.0f, 1.0f, 9223372036854775808.0f};
    int32_t i;
    for (i = 0; i < n; ++i) {
        int64_t v = 0;
        float f = 0.0f;
        switch (src_type) {
        case 0:
            v = ((const int8_t *)in)[i];
            break;
        case 1:
            v = ((const int16_t *)in)[i];
            break;
        case 2:
            v = ((const int32_t *)in)[i];
            break;
        case 3:
            v = ((const uint32_t *)in)[i];
            break;
        case 4:
            f = ((const float *)in)[i];
            break;
        case 5:
            v = ((const uint8_t *)in)[i];
            break;
        case 6:
            v = ((const uint8_t *)in)[i] != 0;
            break;
        default:
            v = ((const int64_t *)in)[i];
            break;
        }
        if (src_type == 4) {
            if (dst_type == 6) {
                v = f != 0.0f;
            } else if (dst_type != 4) {
                v = pj_mv_f2i(f, lo[dst_type], hi[dst_type], flo[dst_type], fhi[dst_type]);
            }
        } else {
            f = (float)v;
        }
        switch (dst_type) {
        case 0:
            ((int8_t *)out)[i] = (int8_t)(uint8_t)(uint64_t)v;
            break;
        case 1:
            ((int16_t *)out)[i] = (int16_t)(uint16_t)(uint64_t)v;
            break;
        case 2:
            ((int32_t *)out)[i] = (int32_t)(uint32_t)(uint64_t)v;
            break;
        case 3:
            ((uint32_t *)out)[i] = (uint32_t)(uint64_t)v;
            break;
        case 4:
            ((float *)out)[i] = f;
            break;
        case 5:
            ((uint8_t *)out)[i] = (uint8_t)(uint64_t)v;
            break;
        case 6:
            ((uint8_t *)out)[i] = (uint8_t)(v != 0);
            break;
        default:
            ((int64_t *)out)[i] = v;
            break;
        }
    }
}
