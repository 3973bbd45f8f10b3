/* int4 weights: unpacking into the fast kernels' layouts, and portable kernels that read
 * the packed nibbles directly.  Integers equal TFLM's (it unpacks int4 filters to int8
 * before running its int8 kernels), sums modulo 2^32.
 */
#include "pj_common.h"
#include "pj_kernels.h"
#include "pj_int4.h"

/* The signed value of a nibble. */
PJ_INLINE int32_t pj_s4_lo(uint32_t byte) { return (int32_t)((byte & 15u) ^ 8u) - 8; }
PJ_INLINE int32_t pj_s4_hi(uint32_t byte) { return (int32_t)(((byte >> 4) & 15u) ^ 8u) - 8; }

/* Value i of a packed array. */
PJ_INLINE int32_t pj_s4_at(const uint8_t *w, int32_t i)
{
    return (i & 1) ? pj_s4_hi(w[i >> 1]) : pj_s4_lo(w[i >> 1]);
}

void *pj_s4_unpack_range(const pj_s4_blob *b, int32_t first, int32_t count, void *dst)
{
    const uint8_t *src = b->packed + (first >> 1);
    int32_t i;
    if (b->width == 1) {
        int8_t *d = (int8_t *)dst;
        for (i = 0; i + 2 <= count; i += 2, ++src) {
            d[i] = (int8_t)pj_s4_lo(*src);
            d[i + 1] = (int8_t)pj_s4_hi(*src);
        }
        if (i < count) {
            d[i] = (int8_t)pj_s4_lo(*src);
        }
    } else if (b->width == 2) {
        int16_t *d = (int16_t *)dst;
        for (i = 0; i + 2 <= count; i += 2, ++src) {
            d[i] = (int16_t)pj_s4_lo(*src);
            d[i + 1] = (int16_t)pj_s4_hi(*src);
        }
        if (i < count) {
            d[i] = (int16_t)pj_s4_lo(*src);
        }
    } else {
        int32_t *d = (int32_t *)dst;
        for (i = 0; i + 2 <= count; i += 2, ++src) {
            d[i] = pj_s4_lo(*src);
            d[i + 1] = pj_s4_hi(*src);
        }
        if (i < count) {
            d[i] = pj_s4_lo(*src);
        }
    }
    return dst;
}

void *pj_s4_unpack(const pj_s4_blob *b, void *dst)
{
    pj_s4_unpack_range(b, 0, b->count, dst);
    if (b->tail_bytes > 0) {
        memcpy((uint8_t *)dst + b->count * b->width, b->tail, (size_t)b->tail_bytes);
    }
    return dst;
}

/* sum over i < k of x[i] * (value start + i of the packed array w). */
static int32_t pj_s4_dot(const int16_t *x, const uint8_t *w, int32_t start, int32_t k)
{
    const uint8_t *p = w + (start >> 1);
    uint32_t acc = 0;
    int32_t i = 0;
    if ((start & 1) && k > 0) {
        acc += (uint32_t)(x[0] * pj_s4_hi(*p++));
        i = 1;
    }
    for (; i + 2 <= k; i += 2, ++p) {
        const uint32_t v = *p;
        acc += (uint32_t)(x[i] * pj_s4_lo(v) + x[i + 1] * pj_s4_hi(v));
    }
    if (i < k) {
        acc += (uint32_t)(x[i] * pj_s4_lo(*p));
    }
    return (int32_t)acc;
}

PJ_INLINE int8_t pj_s4_requant(const int32_t *rq, const int32_t *mult, const int32_t *shift,
                               int32_t zp, int32_t lo, int32_t hi, int32_t acc, int32_t c)
{
    const int32_t v = rq != 0 ? pj_rq(acc, rq + 4 * c) : pj_mbqm(acc, mult[c], shift[c]) + zp;
    return (int8_t)pj_clamp32(v, lo, hi);
}

/* CONV_2D: one output pixel at a time, its window (input offset added, taps outside the
 * image 0) in col, then one packed row per output channel. */
void pj_conv_s4(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *col)
{
    const int32_t c = p->in_c, k = p->k_h * p->k_w * c;
    const uint8_t *w = (const uint8_t *)(const void *)p->weights;
    int32_t b, oy, ox, ky, kx, i, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * c;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                int16_t *d = col;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                    for (kx = 0; kx < p->k_w; ++kx, d += c) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            for (i = 0; i < c; ++i) {
                                d[i] = 0;
                            }
                        } else {
                            const int8_t *src = in_b + (iy * p->in_w + ix) * c;
                            for (i = 0; i < c; ++i) {
                                d[i] = (int16_t)(src[i] + p->in_offset);
                            }
                        }
                    }
                }
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t acc = (int32_t)((uint32_t)p->bias[oc]
                                                  + (uint32_t)pj_s4_dot(col, w, oc * k, k));
                    o[oc] = pj_s4_requant(p->rq, p->mult, p->shift, p->out_offset,
                                          p->act_min, p->act_max, acc, oc);
                }
            }
        }
    }
}

/* DEPTHWISE_CONV_2D: as pj_dwconv_s8, each tap's packed weights [out_c] unpacked into an
 * int8 row after the accumulators first. */
void pj_dwconv_s4(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    const int32_t cin = p->in_c, cout = p->out_c, dm = p->depth_multiplier;
    const uint8_t *wp = (const uint8_t *)(const void *)p->weights;
    int8_t *w = (int8_t *)(acc + cout);
    int32_t b, oy, ox, ky, kx, c, m;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * cin;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * cout;
                memcpy(acc, p->bias, (size_t)cout * sizeof(int32_t));
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                        const int32_t t0 = (ky * p->k_w + kx) * cout;
                        const int8_t *src;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        src = in_b + (iy * p->in_w + ix) * cin;
                        for (c = 0; c < cout; ++c) {
                            w[c] = (int8_t)pj_s4_at(wp, t0 + c);
                        }
                        for (c = 0; c < cin; ++c) {
                            const int32_t x = src[c] + p->in_offset;
                            for (m = 0; m < dm; ++m) {
                                acc[c * dm + m] = (int32_t)((uint32_t)acc[c * dm + m]
                                                            + (uint32_t)(x * w[c * dm + m]));
                            }
                        }
                    }
                }
                for (c = 0; c < cout; ++c) {
                    o[c] = pj_s4_requant(p->rq, p->mult, p->shift, p->out_offset, p->act_min,
                                         p->act_max, acc[c], c);
                }
            }
        }
    }
}

/* FULLY_CONNECTED: the input offset is folded into the bias (as for pj_fc_s8), a nonzero
 * weight offset adds weight_offset * sum(x). */
void pj_fc_s4(const pj_fc_params *p, const int8_t *in, int8_t *out)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth;
    const uint8_t *w = (const uint8_t *)(const void *)p->weights;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * kd;
        uint32_t xs = 0;
        if (p->weight_offset != 0) {
            for (k = 0; k < kd; ++k) {
                xs += (uint32_t)x[k];
            }
            xs *= (uint32_t)p->weight_offset;
        }
        for (n = 0; n < nd; ++n) {
            const int32_t s = n * kd;
            uint32_t acc = (uint32_t)p->bias[n] + xs;
            k = 0;
            if ((s & 1) && kd > 0) {
                acc += (uint32_t)(x[0] * pj_s4_hi(w[s >> 1]));
                k = 1;
            }
            for (; k + 2 <= kd; k += 2) {
                const uint32_t v = w[(s + k) >> 1];
                acc += (uint32_t)(x[k] * pj_s4_lo(v) + x[k + 1] * pj_s4_hi(v));
            }
            if (k < kd) {
                acc += (uint32_t)(x[k] * pj_s4_lo(w[(s + k) >> 1]));
            }
            out[b * nd + n] = pj_s4_requant(p->rq, p->mult, p->shift, p->out_offset,
                                            p->act_min, p->act_max, (int32_t)acc, n);
        }
    }
}

/* FULLY_CONNECTED on cores with dual 16-bit MACs, no unpacking: each row's weights are
 * stored offset by 8 (u = w + 8, 0..15) in 32-bit words of 8, nibble s of the low half and
 * of the high half holding taps 2s and 2s + 1, so (word >> 4s) & 0x000F000F is the int16
 * pair SMLAD multiplies with the widened inputs (x[2s], x[2s + 1]).  The offset comes back
 * as (weight_offset - 8) * sum(x).  Rows in quads, each quad's 4 words per group of 8 taps
 * together; xs16: accum_depth rounded up to 8 int16 (4-byte aligned). */
void pj_fc_s4_dsp(const pj_fc_params *p, const int8_t *in, int8_t *out, int16_t *xs16)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth;
    const int32_t groups = (kd + 7) >> 3;
    const uint32_t mask = 0x000F000Fu;
    int32_t b, n, k, j, g;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * kd;
        uint32_t sum = 0, xs;
        for (k = 0; k < kd; ++k) {
            xs16[k] = x[k];
            sum += (uint32_t)(int32_t)x[k];
        }
        for (; k < 8 * groups; ++k) {
            xs16[k] = 0;
        }
        xs = sum * (uint32_t)(p->weight_offset - 8);
        for (n = 0; n < nd; n += 4) {
            const int32_t m = nd - n < 4 ? nd - n : 4;
            const uint32_t *w = (const uint32_t *)(const void *)p->weights + n * groups;
            const int16_t *xp = xs16;
            int32_t a0, a1, a2, a3;
            int32_t acc[4];
            for (j = 0; j < 4; ++j) {
                acc[j] = j < m ? (int32_t)((uint32_t)p->bias[n + j] + xs) : 0;
            }
            a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
            for (g = 0; g < groups; ++g, xp += 8, w += 4) {
                const uint32_t x0 = pj_load32a(xp), x1 = pj_load32a(xp + 2);
                const uint32_t x2 = pj_load32a(xp + 4), x3 = pj_load32a(xp + 6);
                uint32_t t = w[0];
                a0 = pj_smlad(x0, t & mask, a0);
                a0 = pj_smlad(x1, (t >> 4) & mask, a0);
                a0 = pj_smlad(x2, (t >> 8) & mask, a0);
                a0 = pj_smlad(x3, (t >> 12) & mask, a0);
                t = w[1];
                a1 = pj_smlad(x0, t & mask, a1);
                a1 = pj_smlad(x1, (t >> 4) & mask, a1);
                a1 = pj_smlad(x2, (t >> 8) & mask, a1);
                a1 = pj_smlad(x3, (t >> 12) & mask, a1);
                t = w[2];
                a2 = pj_smlad(x0, t & mask, a2);
                a2 = pj_smlad(x1, (t >> 4) & mask, a2);
                a2 = pj_smlad(x2, (t >> 8) & mask, a2);
                a2 = pj_smlad(x3, (t >> 12) & mask, a2);
                t = w[3];
                a3 = pj_smlad(x0, t & mask, a3);
                a3 = pj_smlad(x1, (t >> 4) & mask, a3);
                a3 = pj_smlad(x2, (t >> 8) & mask, a3);
                a3 = pj_smlad(x3, (t >> 12) & mask, a3);
            }
            acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
            for (j = 0; j < m; ++j) {
                out[b * nd + n + j] = pj_s4_requant(p->rq, p->mult, p->shift, p->out_offset,
                                                    p->act_min, p->act_max, acc[j], n + j);
            }
        }
    }
}
