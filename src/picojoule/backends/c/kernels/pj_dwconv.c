/* DEPTHWISE_CONV_2D int8: for each output pixel the taps inside the image are summed
 * per output channel into an int32 scratch row (channels innermost: contiguous loads),
 * then requantized per channel as TFLM does.  Padded taps are skipped, as in TFLM.
 * pj_dwconv_s8_wo adds a filter offset to every weight (LiteRT's uint8 depthwise layers).
 */
#include "pj_common.h"
#include "pj_kernels.h"

void pj_dwconv_s8_wo(const pj_dwconv_params *p, int32_t weight_offset, const int8_t *in,
                     int8_t *out, int32_t *acc);

/* The portable loop.  wo: LiteRT's filter offset of a legacy uint8 layer (0 for int8 ones,
 * where it folds away), added to every weight. */
PJ_INLINE void pj_dwconv_s8_body(const pj_dwconv_params *p, int32_t wo, const int8_t *in,
                                 int8_t *out, int32_t *acc)
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
                                acc[c] += (src[c] + off) * (w[c] + wo);
                            }
                        } else {
                            for (c = 0; c < cin; ++c) {
                                const int32_t x = src[c] + off;
                                for (m = 0; m < dm; ++m) {
                                    acc[c * dm + m] += x * (w[c * dm + m] + wo);
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

void pj_dwconv_s8(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *acc)
{
    pj_dwconv_s8_body(p, 0, in, out, acc);
}

/* pj_dwconv_s8 with a filter offset (a legacy uint8 layer re-encoded as int8). */
void pj_dwconv_s8_wo(const pj_dwconv_params *p, int32_t weight_offset, const int8_t *in,
                     int8_t *out, int32_t *acc)
{
    pj_dwconv_s8_body(p, weight_offset, in, out, acc);
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

/* ---- Fast DSP variant (depth multiplier 1, channels a multiple of 4) ----------------------
 * pj_dwconv_s8_fast: the input offset is folded into the bias at generation time
 * (bias + input_offset * sum of the channel's taps), and each output row reads a strip of
 * its input rows padded with the input zero point (pj_dw_strip: x + input_offset = 0 there,
 * exactly TFLM's skipped taps).  So every output pixel runs the same branch-free loop: per
 * tap and channel quad one load of 4 inputs, two SXTB16, one LDRD of the int16 weights and
 * four 16x16 MACs.  Weights: int16 [c / 4][k_h * k_w][4] holding
 * (w0, w2, w1, w3) per quad; p->rq: {m, c, r - 1} per channel (pj_rq3) or 0 (general
 * requantization with mult/shift).  scratch: k_h * k_w int32 tap offsets, then the strip
 * (k_h rows of pw = (out_w - 1) * stride_w + (k_w - 1) * dil_w + 1 pixels). */
void pj_dwconv_s8_fast(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                       int32_t *scratch);

#define PJ_DWF_TAP(t)                                                       \
    do {                                                                    \
        const uint32_t x_ = pj_read32(src + off[t]);                        \
        const uint32_t x02_ = pj_sxtb16(x_), x13_ = pj_sxtb16_ror8(x_);     \
        const uint32_t w02_ = (uint32_t)w[2 * (t)];                         \
        const uint32_t w13_ = (uint32_t)w[2 * (t) + 1];                     \
        a0 = pj_smlabb(x02_, w02_, a0);                                     \
        a2 = pj_smlatt(x02_, w02_, a2);                                     \
        a1 = pj_smlabb(x13_, w13_, a1);                                     \
        a3 = pj_smlatt(x13_, w13_, a3);                                     \
    } while (0)

PJ_INLINE void pj_dwf_store(const pj_dwconv_params *p, int32_t q, int32_t a0, int32_t a1,
                            int32_t a2, int32_t a3, int8_t *o)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    if (p->rq != 0) {
        const int32_t *rq = p->rq + 3 * q;
        a0 = pj_rq3(a0, rq[0], rq[1], rq[2]);
        a1 = pj_rq3(a1, rq[3], rq[4], rq[5]);
        a2 = pj_rq3(a2, rq[6], rq[7], rq[8]);
        a3 = pj_rq3(a3, rq[9], rq[10], rq[11]);
    } else {
        a0 = pj_mbqm(a0, p->mult[q], p->shift[q]) + p->out_offset;
        a1 = pj_mbqm(a1, p->mult[q + 1], p->shift[q + 1]) + p->out_offset;
        a2 = pj_mbqm(a2, p->mult[q + 2], p->shift[q + 2]) + p->out_offset;
        a3 = pj_mbqm(a3, p->mult[q + 3], p->shift[q + 3]) + p->out_offset;
    }
    if (lo == -128 && hi == 127) {
        a0 = pj_sat8(a0);
        a1 = pj_sat8(a1);
        a2 = pj_sat8(a2);
        a3 = pj_sat8(a3);
    } else {
        a0 = pj_act8(a0, lo, hi);
        a1 = pj_act8(a1, lo, hi);
        a2 = pj_act8(a2, lo, hi);
        a3 = pj_act8(a3, lo, hi);
    }
    o[q] = (int8_t)a0;
    o[q + 1] = (int8_t)a1;
    o[q + 2] = (int8_t)a2;
    o[q + 3] = (int8_t)a3;
}

#define PJ_DWF_TAP_AT(ptr, t)                                               \
    do {                                                                    \
        const uint32_t x_ = pj_read32(ptr);                                 \
        const uint32_t x02_ = pj_sxtb16(x_), x13_ = pj_sxtb16_ror8(x_);     \
        const uint32_t w02_ = (uint32_t)w[2 * (t)];                         \
        const uint32_t w13_ = (uint32_t)w[2 * (t) + 1];                     \
        a0 = pj_smlabb(x02_, w02_, a0);                                     \
        a2 = pj_smlatt(x02_, w02_, a2);                                     \
        a1 = pj_smlabb(x13_, w13_, a1);                                     \
        a3 = pj_smlatt(x13_, w13_, a3);                                     \
    } while (0)

#if PJ_DSP_ASM
/* One channel quad of an interior 3x3 pixel in inline assembly (activation range
 * [-128, 127], pj_rq3 constants): taps at s0, s0 + c, s0 + 2c of each of the 3 rows, 8
 * instructions per tap, then pj_rq3 + SSAT + byte store per channel.  The constants and
 * the output pointer come from the stack (13 registers hold operands). */
static void pj_dwf_quad9_asm(const int8_t *s0, int32_t row, int32_t c, const int32_t *bias,
                             const int32_t *w, const int32_t *rq, int8_t *o)
{
    int32_t a0, a1, a2, a3;
    uint32_t x = (uint32_t)(uintptr_t)bias, xa, wa, wb;
    const int8_t *s1 = s0 + row, *s2 = s1 + row;
    const int32_t *rqv = rq;
    int8_t *ov = o;
#define PJ_DWQ_TAP(ptr, off)                                                \
        "ldr    %[x], " ptr "\n\t"                                          \
        "sxtb16 %[xa], %[x]\n\t"                                            \
        "sxtb16 %[x], %[x], ror #8\n\t"                                     \
        "ldrd   %[wa], %[wb], [%[w], #" off "]\n\t"                         \
        "smlabb %[a0], %[xa], %[wa], %[a0]\n\t"                             \
        "smlatt %[a2], %[xa], %[wa], %[a2]\n\t"                             \
        "smlabb %[a1], %[x], %[wb], %[a1]\n\t"                              \
        "smlatt %[a3], %[x], %[wb], %[a3]\n\t"
#define PJ_DWQ_RQ(a)                                                        \
        "ldrd   %[s1], %[s2], [%[s0]], #8\n\t"                              \
        "ldr    %[c], [%[s0]], #4\n\t"                                      \
        "and    %[xa], %[" a "], #0x80000000\n\t"                           \
        "orr    %[xa], %[xa], #0x40000000\n\t"                              \
        "add    %[x], %[s2], %[" a "], asr #31\n\t"                         \
        "smlal  %[xa], %[x], %[" a "], %[s1]\n\t"                           \
        "asr    %[" a "], %[x], %[c]\n\t"                                   \
        "ssat   %[" a "], #8, %[" a "]\n\t"
    __asm__ __volatile__(
        "ldrd   %[a0], %[a1], [%[x]]\n\t"
        "ldrd   %[a2], %[a3], [%[x], #8]\n\t"
        PJ_DWQ_TAP("[%[s0]]", "0")
        PJ_DWQ_TAP("[%[s0], %[c]]", "8")
        PJ_DWQ_TAP("[%[s0], %[c], lsl #1]", "16")
        PJ_DWQ_TAP("[%[s1]]", "24")
        PJ_DWQ_TAP("[%[s1], %[c]]", "32")
        PJ_DWQ_TAP("[%[s1], %[c], lsl #1]", "40")
        PJ_DWQ_TAP("[%[s2]]", "48")
        PJ_DWQ_TAP("[%[s2], %[c]]", "56")
        PJ_DWQ_TAP("[%[s2], %[c], lsl #1]", "64")
        "ldr    %[s0], %[rq]\n\t"
        PJ_DWQ_RQ("a0")
        PJ_DWQ_RQ("a1")
        PJ_DWQ_RQ("a2")
        PJ_DWQ_RQ("a3")
        "ldr    %[s0], %[o]\n\t"
        "strb   %[a0], [%[s0]]\n\t"
        "strb   %[a1], [%[s0], #1]\n\t"
        "strb   %[a2], [%[s0], #2]\n\t"
        "strb   %[a3], [%[s0], #3]\n\t"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "+r"(x),
          [xa] "=&r"(xa), [wa] "=&r"(wa), [wb] "=&r"(wb), [s0] "+r"(s0), [s1] "+r"(s1),
          [s2] "+r"(s2), [c] "+r"(c)
        : [w] "r"(w), [rq] "m"(rqv), [o] "m"(ov)
        : "cc", "memory");
#undef PJ_DWQ_TAP
#undef PJ_DWQ_RQ
}
#endif

/* An interior pixel of a 3x3 filter without dilation: the taps of each filter row are
 * c bytes apart, the rows `row` bytes apart (one load per tap, no offset table). */
static void pj_dwf_interior9(const pj_dwconv_params *p, const int8_t *base, int32_t row,
                             int8_t *o)
{
    const int32_t c = p->in_c, c2 = 2 * p->in_c;
    const int32_t *w = (const int32_t *)(const void *)p->weights;
    const int32_t *bias = p->bias;
    int32_t q;
#if PJ_DSP_ASM
    if (p->rq != 0 && p->act_min == -128 && p->act_max == 127) {
        for (q = 0; q < c; q += 4) {
            pj_dwf_quad9_asm(base + q, row, c, bias + q, w, p->rq + 3 * q, o + q);
            w += 18;
        }
        return;
    }
#endif
    for (q = 0; q < c; q += 4, w += 18) {
        const int8_t *s0 = base + q;
        const int8_t *s1 = s0 + row;
        const int8_t *s2 = s1 + row;
        int32_t a0 = bias[q], a1 = bias[q + 1], a2 = bias[q + 2], a3 = bias[q + 3];
        PJ_DWF_TAP_AT(s0, 0);
        PJ_DWF_TAP_AT(s0 + c, 1);
        PJ_DWF_TAP_AT(s0 + c2, 2);
        PJ_DWF_TAP_AT(s1, 3);
        PJ_DWF_TAP_AT(s1 + c, 4);
        PJ_DWF_TAP_AT(s1 + c2, 5);
        PJ_DWF_TAP_AT(s2, 6);
        PJ_DWF_TAP_AT(s2 + c, 7);
        PJ_DWF_TAP_AT(s2 + c2, 8);
        pj_dwf_store(p, q, a0, a1, a2, a3, o);
    }
}

/* One output pixel, any number of taps. */
static void pj_dwf_pixel(const pj_dwconv_params *p, const int8_t *base, const int32_t *off,
                         int32_t taps, int8_t *o)
{
    const int32_t c = p->in_c;
    const int32_t *w = (const int32_t *)(const void *)p->weights;
    int32_t q, t;
    for (q = 0; q < c; q += 4) {
        const int8_t *src = base + q;
        int32_t a0 = p->bias[q], a1 = p->bias[q + 1], a2 = p->bias[q + 2], a3 = p->bias[q + 3];
        for (t = 0; t < taps; ++t) {
            PJ_DWF_TAP(t);
        }
        w += 2 * taps;
        pj_dwf_store(p, q, a0, a1, a2, a3, o);
    }
}

/* scratch: 2 * k_h * k_w int32 (interior and current tap offsets), then in_c bytes. */
void pj_dwconv_s8_fast(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                       int32_t *scratch)
{
    const int32_t c = p->in_c, kh = p->k_h, kw = p->k_w, taps = kh * kw;
    const int32_t pw = (p->out_w - 1) * p->stride_w + (kw - 1) * p->dil_w + 1;
    const int32_t rowb = pw * c;
    const int fast9 = kh == 3 && kw == 3 && p->dil_w == 1;  /* the 3x3 body */
    int32_t *offs = scratch;
    int8_t *strip = (int8_t *)(void *)(scratch + taps);
    int32_t b, oy, ox, ky, kx, t;
    for (ky = 0, t = 0; ky < kh; ++ky) {
        for (kx = 0; kx < kw; ++kx, ++t) {
            offs[t] = ky * rowb + kx * p->dil_w * c;
        }
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * c;
        for (oy = 0; oy < p->out_h; ++oy) {
            int8_t *o = out + (b * p->out_h + oy) * p->out_w * c;
            pj_dw_strip(strip, in_b, p->in_h, p->in_w, c, oy * p->stride_h - p->pad_t, kh,
                        p->dil_h, p->pad_l, pw, -p->in_offset);
            for (ox = 0; ox < p->out_w; ++ox, o += c) {
                const int8_t *base = strip + ox * p->stride_w * c;
                if (fast9) {
                    pj_dwf_interior9(p, base, rowb, o);
                } else {
                    pj_dwf_pixel(p, base, offs, taps, o);
                }
            }
        }
    }
}
