/* DEPTHWISE_CONV_2D int8: for each output pixel the taps inside the image are summed
 * per output channel into an int32 scratch row (channels innermost: contiguous loads),
 * then requantized per channel as TFLM does.  Padded taps are skipped, as in TFLM.
 */
#include "pj_common.h"
#include "pj_kernels.h"

void pj_dwconv_s8(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    const int32_t cin = p->in_c, cout = p->out_c, dm = p->depth_multiplier;
    const int32_t off = p->in_offset;
    int32_t b, oy, ox, ky, kx, c, m;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * cin;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_t;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_l;
                memcpy(acc, p->bias, (size_t)cout * sizeof(int32_t));
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        const int8_t *src;
                        const int8_t *w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        src = in_b + (iy * p->in_w + ix) * cin;
                        w = p->weights + (ky * p->k_w + kx) * cout;
                        if (dm == 1) {
                            for (c = 0; c < cout; ++c) {
                                acc[c] += (src[c] + off) * w[c];
                            }
                        } else {
                            for (c = 0; c < cin; ++c) {
                                const int32_t x = src[c] + off;
                                for (m = 0; m < dm; ++m) {
                                    acc[c * dm + m] += x * w[c * dm + m];
                                }
                            }
                        }
                    }
                }
                {
                    int8_t *o = out + (((b * p->out_h + oy) * p->out_w) + ox) * cout;
                    for (c = 0; c < cout; ++c) {
                        const int32_t v = p->rq != 0
                            ? pj_rq(acc[c], p->rq + 4 * c)
                            : pj_mbqm(acc[c], p->mult[c], p->shift[c]) + p->out_offset;
                        o[c] = (int8_t)pj_clamp32(v, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

/* One tap for 4 channels: (x + offset) * w added to 4 accumulators (16x16 MACs). */
#define PJ_DW_TAP(src, w)                                                  \
    do {                                                                   \
        const uint32_t x_ = pj_read32(src);                                \
        const uint32_t x02_ = pj_sadd16(pj_sxtb16(x_), off2);              \
        const uint32_t x13_ = pj_sadd16(pj_sxtb16_ror8(x_), off2);         \
        const uint32_t w02_ = pj_load32a(w);                               \
        const uint32_t w13_ = pj_load32a((w) + 2);                         \
        a0 = pj_smlabb(x02_, w02_, a0);                                    \
        a1 = pj_smlabb(x13_, w13_, a1);                                    \
        a2 = pj_smlatt(x02_, w02_, a2);                                    \
        a3 = pj_smlatt(x13_, w13_, a3);                                    \
        PJ_RELOAD_BARRIER(); /* keeps the next tap's loads here (no spills) */ \
    } while (0)

/* Requantize, clamp and store 4 channels (one 32-bit store, little-endian byte order). */
PJ_INLINE void pj_dw_store4(const pj_dwconv_params *p, int32_t q, int32_t a0, int32_t a1,
                            int32_t a2, int32_t a3, int8_t *o)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    if (p->rq != 0) {
        const int32_t *rq = p->rq + 4 * q;
        a0 = pj_rq(a0, rq);
        a1 = pj_rq(a1, rq + 4);
        a2 = pj_rq(a2, rq + 8);
        a3 = pj_rq(a3, rq + 12);
    } else {
        a0 = pj_mbqm(a0, p->mult[q], p->shift[q]) + p->out_offset;
        a1 = pj_mbqm(a1, p->mult[q + 1], p->shift[q + 1]) + p->out_offset;
        a2 = pj_mbqm(a2, p->mult[q + 2], p->shift[q + 2]) + p->out_offset;
        a3 = pj_mbqm(a3, p->mult[q + 3], p->shift[q + 3]) + p->out_offset;
    }
    a0 = pj_clamp32(a0, lo, hi);
    a1 = pj_clamp32(a1, lo, hi);
    a2 = pj_clamp32(a2, lo, hi);
    a3 = pj_clamp32(a3, lo, hi);
    pj_store32a(o + q, (uint32_t)(a0 & 0xFF) | ((uint32_t)(a1 & 0xFF) << 8)
                | ((uint32_t)(a2 & 0xFF) << 16) | ((uint32_t)a3 << 24));
}

/* 3x3 window entirely inside the image: 9 taps unrolled, accumulators in registers. */
static void pj_dw3x3_interior(const pj_dwconv_params *p, const int8_t *src0, int8_t *o)
{
    const int32_t c = p->in_c, row = p->in_w * p->in_c;
    const uint32_t off2 = ((uint32_t)(uint16_t)(int16_t)p->in_offset) * 0x10001u;
    const int16_t *weights = (const int16_t *)(const void *)p->weights;
    int32_t q;
    for (q = 0; q < c; q += 4) {
        const int8_t *s = src0 + q;
        const int16_t *w = weights + q;
        int32_t a0 = p->bias[q], a1 = p->bias[q + 1], a2 = p->bias[q + 2], a3 = p->bias[q + 3];
        PJ_DW_TAP(s, w);
        PJ_DW_TAP(s + c, w + c);
        PJ_DW_TAP(s + 2 * c, w + 2 * c);
        s += row;
        w += 3 * c;
        PJ_DW_TAP(s, w);
        PJ_DW_TAP(s + c, w + c);
        PJ_DW_TAP(s + 2 * c, w + 2 * c);
        s += row;
        w += 3 * c;
        PJ_DW_TAP(s, w);
        PJ_DW_TAP(s + c, w + c);
        PJ_DW_TAP(s + 2 * c, w + 2 * c);
        pj_dw_store4(p, q, a0, a1, a2, a3, o);
    }
}

/* DSP variant.  Interior pixels of 3x3 filters use pj_dw3x3_interior.  Other pixels: the
 * int32 accumulators of all channels (scratch) start from the bias; every tap inside the
 * image updates them 4 channels at a time (one 32-bit load of 4 input channels, SXTB16 into
 * (x0, x2) and (x1, x3), SADD16 of the input offset, the prepared int16 weights, 4 16x16
 * MACs); one pass then requantizes, clamps and stores 4 channels per 32-bit store. */
void pj_dwconv_s8_dsp(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    const int32_t c = p->in_c, kw = p->k_w;
    const uint32_t off2 = ((uint32_t)(uint16_t)(int16_t)p->in_offset) * 0x10001u;
    const int16_t *weights = (const int16_t *)(const void *)p->weights;
    const int is3x3 = p->k_h == 3 && kw == 3;
    int32_t b, oy, ox, q, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_t;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_l;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = p->in_w - ix0 < kw ? p->in_w - ix0 : kw;
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * c;
                if (is3x3 && ky0 == 0 && kx0 == 0 && ky1 == 3 && kx1 == 3) {
                    pj_dw3x3_interior(p, in_b + (iy0 * p->in_w + ix0) * c, o);
                    continue;
                }
                memcpy(acc, p->bias, (size_t)c * sizeof(int32_t));
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        const int8_t *src = in_b + ((iy0 + ky) * p->in_w + ix0 + kx) * c;
                        const int16_t *w = weights + (ky * kw + kx) * c;
                        int32_t *a = acc;
                        for (q = 0; q < c; q += 4) {
                            int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                            PJ_DW_TAP(src, w);
                            a[0] = a0;
                            a[1] = a1;
                            a[2] = a2;
                            a[3] = a3;
                            src += 4;
                            w += 4;
                            a += 4;
                        }
                    }
                }
                for (q = 0; q < c; q += 4) {
                    pj_dw_store4(p, q, acc[q], acc[q + 1], acc[q + 2], acc[q + 3], o);
                }
            }
        }
    }
}
