/* Elementwise integer kernels: ADD/SUB (int8, int16), LEAKY_RELU, requantizing QUANTIZE,
 * 8-bit table lookups and int32 arithmetic.  TFLM's fixed-point steps, in TFLM's order.
 */
#include "pj_common.h"
#include "pj_ops2.h"

/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp: two roundings (shift <= 0). */
PJ_INLINE int32_t pj_mul_lt1(int32_t x, int32_t mult, int32_t shift)
{
    return pj_rdbpot(pj_srdhm(x, mult), -shift);
}

PJ_INLINE int32_t pj_addsub_one(const pj_addsub_params *p, int32_t a, int32_t b)
{
    const int32_t sa = (int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift);
    const int32_t sb = (int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift);
    const int32_t ra = pj_mul_lt1(sa, p->in1_mult, p->in1_shift);
    const int32_t rb = pj_mul_lt1(sb, p->in2_mult, p->in2_shift);
    const int32_t raw = p->sign > 0 ? ra + rb : ra - rb;
    const int32_t v = pj_mbqm(raw, p->out_mult, p->out_shift) + p->out_offset;
    return pj_clamp32(v, p->act_min, p->act_max);
}

/* The 4-D broadcast walk shared by the typed entry points. */
#define PJ_BROADCAST_LOOP(P, BODY)                                                        \
    do {                                                                                  \
        int32_t i0, i1, i2, i3;                                                           \
        for (i0 = 0; i0 < (P)->dims[0]; ++i0) {                                           \
            for (i1 = 0; i1 < (P)->dims[1]; ++i1) {                                       \
                for (i2 = 0; i2 < (P)->dims[2]; ++i2) {                                   \
                    for (i3 = 0; i3 < (P)->dims[3]; ++i3) {                               \
                        const int32_t ia = i0 * (P)->strides1[0] + i1 * (P)->strides1[1]  \
                                           + i2 * (P)->strides1[2] + i3 * (P)->strides1[3]; \
                        const int32_t ib = i0 * (P)->strides2[0] + i1 * (P)->strides2[1]  \
                                           + i2 * (P)->strides2[2] + i3 * (P)->strides2[3]; \
                        BODY;                                                             \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    } while (0)

void pj_addsub_s16(const pj_addsub_params *p, const int16_t *in1, const int16_t *in2,
                   int16_t *out)
{
    PJ_BROADCAST_LOOP(p, *out++ = (int16_t)pj_addsub_one(p, in1[ia], in2[ib]));
}

void pj_addsub_s8(const pj_addsub_params *p, const int8_t *in1, const int8_t *in2,
                  int8_t *out)
{
    PJ_BROADCAST_LOOP(p, *out++ = (int8_t)pj_addsub_one(p, in1[ia], in2[ib]));
}

PJ_INLINE int32_t pj_mul_one(const pj_mul_params *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->in1_offset) * (b + p->in2_offset);
    return pj_clamp32(pj_mbqm(prod, p->mult, p->shift) + p->out_offset, p->act_min,
                      p->act_max);
}

void pj_mul_s8(const pj_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    PJ_BROADCAST_LOOP(p, *out++ = (int8_t)pj_mul_one(p, in1[ia], in2[ib]));
}

void pj_mul_s16(const pj_mul_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    PJ_BROADCAST_LOOP(p, *out++ = (int16_t)pj_mul_one(p, in1[ia], in2[ib]));
}

PJ_INLINE int32_t pj_leaky_one(const pj_leaky_params *p, int32_t x)
{
    const int32_t v = x - p->in_zp;
    int32_t r;
    if (v >= 0) {
        r = pj_mbqm(v, p->id_mult, p->id_shift);
    } else {
        r = pj_mbqm(v, p->alpha_mult, p->alpha_shift);
        if (p->alpha_negative) {
            r = -r;
        }
    }
    return pj_clamp32(r + p->out_zp, p->q_min, p->q_max);
}

void pj_leaky_relu_s16(const pj_leaky_params *p, const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int16_t)pj_leaky_one(p, in[i]);
    }
}

void pj_leaky_relu_s8(const pj_leaky_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int8_t)pj_leaky_one(p, in[i]);
    }
}

PJ_INLINE int32_t pj_load_any(const void *base, int32_t elem, int32_t i)
{
    if (elem == 1) {
        return ((const int8_t *)base)[i];
    }
    if (elem == 2) {
        return ((const int16_t *)base)[i];
    }
    return ((const int32_t *)base)[i];
}

void pj_requantize(const pj_requant_params *p, const void *in, void *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        /* TFLM Requantize: centred value and output offset wrap like int32. */
        const int32_t x = pj_wrap32((int64_t)pj_load_any(in, p->in_elem, i) - p->in_zp);
        const int32_t s = pj_wrap32((int64_t)pj_mbqm(x, p->mult, p->shift) + p->out_zp);
        const int32_t v = pj_clamp32(s, p->q_min, p->q_max);
        if (p->out_elem == 1) {
            ((int8_t *)out)[i] = (int8_t)v;
        } else if (p->out_elem == 2) {
            ((int16_t *)out)[i] = (int16_t)v;
        } else {
            ((int32_t *)out)[i] = v;
        }
    }
}

/* TFLM AffineQuantize: x / scale in float, roundf (halves away from zero), then the int32
 * conversion as x86 cvttss2si does it (INT32_MIN out of range or NaN), plus the zero point
 * (wrapping), clamped to int16. */
void pj_quantize_f32_s16(int32_t size, float scale, int32_t zero_point, const float *in,
                         int16_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const double r = (double)(in[i] / scale);
        int32_t q;
        if (r != r || r >= 2147483647.5 || r <= -2147483648.5) {
            q = INT32_MIN;
        } else {
            q = r >= 0.0 ? (int32_t)(r + 0.5) : -(int32_t)(-r + 0.5);
        }
        out[i] = (int16_t)pj_clamp32(pj_wrap32((int64_t)q + zero_point), -32768, 32767);
    }
}

void pj_dequantize_s16_f32(int32_t size, double scale, int32_t zero_point, const int16_t *in,
                           float *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        out[i] = (float)(scale * (double)((int32_t)in[i] - zero_point));
    }
}

void pj_lut_s8(int32_t size, const int8_t *table, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        out[i] = table[(uint8_t)in[i]];
    }
}

/* int32 arithmetic: wrapping ADD/SUB/MUL like TFLM's int32 kernels, truncating DIV. */
PJ_INLINE int32_t pj_bin32(int32_t op, int32_t a, int32_t b)
{
    switch (op) {
    case 0:
        return (int32_t)((uint32_t)a + (uint32_t)b);
    case 1:
        return (int32_t)((uint32_t)a - (uint32_t)b);
    case 2:
        return (int32_t)((uint32_t)a * (uint32_t)b);
    case 3:
        return b == 0 ? 0 : (a == INT32_MIN && b == -1 ? INT32_MIN : a / b);
    case 4:
        return a < b ? a : b;
    default:
        return a > b ? a : b;
    }
}

void pj_binary_s32(const pj_bini_params *p, const int32_t *in1, const int32_t *in2,
                   int32_t *out)
{
    PJ_BROADCAST_LOOP(p, *out++ = pj_clamp32(pj_bin32(p->op, in1[ia], in2[ib]), p->act_min,
                                             p->act_max));
}

/* Integer pooling over each window's in-image taps.  Average: TFLM's rounding division
 * (acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, truncating). */
void pj_pool_int(const pj_pooli_params *p, const void *in, void *out)
{
    int32_t b, oy, ox, c, y, x, o = 0;
    for (b = 0; b < p->batches; ++b) {
        const int32_t base = b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            const int32_t ys = pj_max32(0, -y0), ye = pj_min32(p->k_h, p->in_h - y0);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                const int32_t xs = pj_max32(0, -x0), xe = pj_min32(p->k_w, p->in_w - x0);
                for (c = 0; c < p->channels; ++c, ++o) {
                    int32_t acc = p->is_max ? (p->elem == 1 ? -128 : -32768) : 0;
                    int32_t count = 0, v;
                    for (y = ys; y < ye; ++y) {
                        for (x = xs; x < xe; ++x) {
                            const int32_t i = base + ((y0 + y) * p->in_w + x0 + x)
                                              * p->channels + c;
                            const int32_t t = pj_load_any(in, p->elem, i);
                            acc = p->is_max ? pj_max32(acc, t) : acc + t;
                            ++count;
                        }
                    }
                    if (p->is_max || count == 0) {
                        v = acc;
                    } else {
                        v = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    v = pj_clamp32(v, p->act_min, p->act_max);
                    if (p->elem == 1) {
                        ((int8_t *)out)[o] = (int8_t)v;
                    } else {
                        ((int16_t *)out)[o] = (int16_t)v;
                    }
                }
            }
        }
    }
}
