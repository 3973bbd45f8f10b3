/* CONV_2D int8: im2col of two output pixels into int16 columns (input offset added,
 * padded taps 0, so they contribute nothing exactly as TFLM skips them), then blocks of
 * (pixel, output channel) dot products, then TFLM's per-channel requantization.
 *
 * pj_conv_s8 (portable): natural weight order, 2 pixels x 2 channels per block.
 * pj_conv_s8_dsp: the layout the generator prepared for dual 16-bit MACs (SMLAD) on cores
 * with the DSP extension (see below), 2 pixels x 4 channels per block, both pixels' columns
 * interleaved.  Both give the same integers as TFLM's reference kernel.
 * pj_conv_s8_wo, pj_conv_s8_dsp_wo: the same two with a filter offset (LiteRT's uint8
 * convolutions), added as offset * sum(x + input offset) once per pixel.
 */
#include "pj_common.h"
#include "pj_kernels.h"

static void pj_conv_im2col(const pj_conv_params *p, const int8_t *in, int32_t pixel,
                           int16_t *col)
{
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_t;
    const int32_t ix0 = ox * p->stride_w - p->pad_l;
    const int32_t c = p->in_c;
    const int16_t off = (int16_t)p->in_offset;
    int32_t ky, kx, i;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            for (i = 0; i < p->k_w * c; ++i) {
                col[i] = 0;
            }
            col += p->k_w * c;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                for (i = 0; i < c; ++i) {
                    col[i] = 0;
                }
            } else {
                const int8_t *src = in + (iy * p->in_w + ix) * c;
                for (i = 0; i < c; ++i) {
                    col[i] = (int16_t)(src[i] + off);
                }
            }
            col += c;
        }
    }
}

/* Requantize and store acc = (pixel0 oc, pixel0 oc1, pixel1 oc, pixel1 oc1); oc1 == oc means
 * one channel, o1 == 0 one pixel.  Constants are read once into locals (int8 stores may
 * alias anything, so the compiler would reload them after every store). */
PJ_INLINE void pj_conv_store(const pj_conv_params *p, int32_t oc, int32_t oc1,
                             const int32_t acc[4], int8_t *o0, int8_t *o1)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t m0 = p->mult[oc], s0 = p->shift[oc];
    const int32_t m1 = p->mult[oc1], s1 = p->shift[oc1];
    int8_t v00, v01, v10, v11;
    if (p->rq != 0) {
        v00 = (int8_t)pj_clamp32(pj_rq(acc[0], p->rq + 4 * oc), lo, hi);
        v01 = (int8_t)pj_clamp32(pj_rq(acc[1], p->rq + 4 * oc1), lo, hi);
        v10 = (int8_t)pj_clamp32(pj_rq(acc[2], p->rq + 4 * oc), lo, hi);
        v11 = (int8_t)pj_clamp32(pj_rq(acc[3], p->rq + 4 * oc1), lo, hi);
    } else {
        const int32_t zp = p->out_offset;
        const int32_t l0 = s0 > 0 ? s0 : 0, r0 = s0 > 0 ? 0 : -s0;
        const int32_t l1 = s1 > 0 ? s1 : 0, r1 = s1 > 0 ? 0 : -s1;
        v00 = (int8_t)pj_clamp32(pj_mbqm_lr(acc[0], m0, l0, r0) + zp, lo, hi);
        v01 = (int8_t)pj_clamp32(pj_mbqm_lr(acc[1], m1, l1, r1) + zp, lo, hi);
        v10 = (int8_t)pj_clamp32(pj_mbqm_lr(acc[2], m0, l0, r0) + zp, lo, hi);
        v11 = (int8_t)pj_clamp32(pj_mbqm_lr(acc[3], m1, l1, r1) + zp, lo, hi);
    }
    o0[oc1] = v01; /* first: when oc1 == oc the channel's own value must win */
    o0[oc] = v00;
    if (o1 != 0) {
        o1[oc1] = v11;
        o1[oc] = v10;
    }
}

/* acc[0..3] = (pixel0, ch0), (pixel0, ch1), (pixel1, ch0), (pixel1, ch1).  Always inlined:
 * into pj_conv_s8_wo too, as into pj_conv_s8 when it was its only caller. */
PJ_INLINE void pj_dot2x2(const int16_t *c0, const int16_t *c1, const int8_t *w0,
                         const int8_t *w1, int32_t k, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i;
    for (i = 0; i < k; ++i) {
        const int32_t x0 = c0[i], x1 = c1[i];
        const int32_t v0 = w0[i], v1 = w1[i];
        a00 += x0 * v0;
        a01 += x0 * v1;
        a10 += x1 * v0;
        a11 += x1 * v1;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

void pj_conv_s8_wo(const pj_conv_params *p, int32_t weight_offset, const int8_t *in,
                   int8_t *out, int16_t *scratch);

/* weight_offset * the sum of a column (x + input_offset over the window, padded taps 0),
 * wrapping like the int32 accumulator. */
static int32_t pj_col_offset(const int16_t *col, int32_t k, int32_t weight_offset)
{
    int32_t i, s = 0;
    for (i = 0; i < k; ++i) {
        s += col[i];
    }
    return (int32_t)((uint32_t)s * (uint32_t)weight_offset);
}

/* The portable loop.  wo: LiteRT's filter offset of a legacy uint8 layer (a layer
 * re-encoded as int8), 0 for int8 ones (then it folds away): sum (x + xo)(w + wo) =
 * sum (x + xo) w + wo * sum (x + xo), each pixel's column sum added once to its
 * accumulators. */
PJ_INLINE void pj_conv_s8_body(const pj_conv_params *p, int32_t wo, const int8_t *in,
                               int8_t *out, int16_t *scratch)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t npix = p->out_h * p->out_w;
    const int32_t cout = p->out_c;
    int16_t *col0 = scratch;
    int16_t *col1 = scratch + k;
    int32_t b, px, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * npix * cout;
        for (px = 0; px < npix; px += 2) {
            const int two = px + 1 < npix;
            const int16_t *c1 = two ? col1 : col0;
            int8_t *o0 = out_b + px * cout;
            int8_t *o1 = o0 + cout;
            int32_t s0 = 0, s1 = 0;
            pj_conv_im2col(p, in_b, px, col0);
            if (two) {
                pj_conv_im2col(p, in_b, px + 1, col1);
            }
            if (wo != 0) {
                s0 = pj_col_offset(col0, k, wo);
                s1 = pj_col_offset(c1, k, wo);
            }
            for (oc = 0; oc < cout; oc += 2) {
                const int pair = oc + 1 < cout;
                const int32_t oc1 = pair ? oc + 1 : oc;
                int32_t acc[4];
                acc[0] = p->bias[oc] + s0;
                acc[1] = p->bias[oc1] + s0;
                acc[2] = p->bias[oc] + s1;
                acc[3] = p->bias[oc1] + s1;
                pj_dot2x2(col0, c1, p->weights + oc * k, p->weights + oc1 * k, k, acc);
                pj_conv_store(p, oc, oc1, acc, o0, two ? o1 : 0);
            }
        }
    }
}

void pj_conv_s8(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    pj_conv_s8_body(p, 0, in, out, scratch);
}

void pj_conv_s8_wo(const pj_conv_params *p, int32_t weight_offset, const int8_t *in,
                   int8_t *out, int16_t *scratch)
{
    pj_conv_s8_body(p, weight_offset, in, out, scratch);
}

/* ---- DSP variant -----------------------------------------------------------------------
 * Blocks of 2 output pixels x 4 output channels, 8 accumulators, dual 16-bit MACs.
 * Data layouts (K = k_h * k_w * in_c rounded up to a multiple of 4, zero padded):
 *  - weights (generation time): output channels in quads (zero rows pad the last quad);
 *    for each group of 4 taps, 4 bytes per channel of the quad, each stored (w0, w2, w1, w3)
 *    so SXTB16 gives the int16 pair (w0, w1) and SXTB16(ROR 8) gives (w2, w3);
 *  - columns (run time): both pixels interleaved in int16 pairs,
 *    (x0, x1, y0, y1, x2, x3, y2, y3, ...), so one pointer walks both. */

/* Write n int16 values (src[i] + offset, or zeros when src == 0) at column positions
 * k, k + 1, ... of one pixel's interleaved slots; returns the next position. */
static int32_t pj_col_put(int16_t *col, int32_t k, const int8_t *src, int32_t n, int16_t off)
{
    int32_t i = 0;
    for (; src != 0 && (k & 3) != 0 && i < n; ++i, ++k) { /* up to the next group of 4 */
        col[(k >> 1) * 4 + (k & 1)] = (int16_t)(src[i] + off);
    }
    if (src != 0) {
        /* 4 values per step: SXTB16 splits (x0, x2) / (x1, x3), SADD16 adds the offset,
         * two halfword packs make the pairs (x0, x1) and (x2, x3). */
        const uint32_t off2 = (uint32_t)(uint16_t)off * 0x10001u;
        int16_t *d = col + (k >> 1) * 4;
        const int32_t i0 = i;
        for (; i + 4 <= n; i += 4) {
            const uint32_t v = pj_read32(src + i);
            const uint32_t e02 = pj_sadd16(pj_sxtb16(v), off2);
            const uint32_t e13 = pj_sadd16(pj_sxtb16_ror8(v), off2);
            pj_store32a(d, (e02 & 0xFFFFu) | (e13 << 16));
            pj_store32a(d + 4, (e02 >> 16) | (e13 & 0xFFFF0000u));
            d += 8;
        }
        k += i - i0;
    }
    for (; i < n; ++i, ++k) {
        col[(k >> 1) * 4 + (k & 1)] = src != 0 ? (int16_t)(src[i] + off) : 0;
    }
    return k;
}

static void pj_im2col_il(const pj_conv_params *p, const int8_t *in, int32_t pixel,
                         int16_t *col, int32_t kpad)
{
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_t;
    const int32_t ix0 = ox * p->stride_w - p->pad_l;
    const int32_t c = p->in_c, kw = p->k_w;
    const int16_t off = (int16_t)p->in_offset;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            k = pj_col_put(col, k, 0, kw * c, off);
        } else if (p->dil_w == 1) {
            /* The row's taps inside the image are contiguous in memory. */
            const int32_t kx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
            const int32_t kx1 = p->in_w - ix0 < kw ? (p->in_w - ix0 > kx0 ? p->in_w - ix0 : kx0)
                                                   : kw;
            k = pj_col_put(col, k, 0, kx0 * c, off);
            k = pj_col_put(col, k, in + (iy * p->in_w + ix0 + kx0) * c, (kx1 - kx0) * c, off);
            k = pj_col_put(col, k, 0, (kw - kx1) * c, off);
        } else {
            for (kx = 0; kx < kw; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int inside = ix >= 0 && ix < p->in_w;
                k = pj_col_put(col, k, inside ? in + (iy * p->in_w + ix) * c : 0, c, off);
            }
        }
    }
    pj_col_put(col, k, 0, kpad - k, off);
}

/* acc[2 * j + q] = sum over taps of pixel q's column times channel j's weights (j < 4).
 * On DSP cores with a GNU-compatible compiler the loop is inline assembly: 36 instructions
 * per 32 MACs, all 8 accumulators in registers (compilers hoist the weight loads and spill
 * accumulators otherwise).  The C loop computes the same sums (the same layout) anywhere. */
#if PJ_HAVE_DSP && defined(__GNUC__)
#define PJ_NOINLINE __attribute__((noinline))
#else
#define PJ_NOINLINE
#endif

/* The loop of pj_dot2x4_dsp and pj_block2x4_dsp over groups of 4 taps (2 pixels x 4
 * channels, int8 weights widened by SXTB16): accumulators a0-a7, pointers col and w,
 * count groups; the assembly (36 instructions per 32 MACs) and the same sums in C. */
#define PJ_DOT2X4_SXTB16_ASM \
    "1:\n\t" \
    "ldrd   %[x], %[y], [%[col]], #8\n\t" \
    "ldr    %[t], [%[w], #0]\n\t" \
    "sxtb16 %[t], %[t]\n\t" \
    "smlad  %[a0], %[x], %[t], %[a0]\n\t" \
    "smlad  %[a1], %[y], %[t], %[a1]\n\t" \
    "ldr    %[t], [%[w], #4]\n\t" \
    "sxtb16 %[t], %[t]\n\t" \
    "smlad  %[a2], %[x], %[t], %[a2]\n\t" \
    "smlad  %[a3], %[y], %[t], %[a3]\n\t" \
    "ldr    %[t], [%[w], #8]\n\t" \
    "sxtb16 %[t], %[t]\n\t" \
    "smlad  %[a4], %[x], %[t], %[a4]\n\t" \
    "smlad  %[a5], %[y], %[t], %[a5]\n\t" \
    "ldr    %[t], [%[w], #12]\n\t" \
    "sxtb16 %[t], %[t]\n\t" \
    "smlad  %[a6], %[x], %[t], %[a6]\n\t" \
    "smlad  %[a7], %[y], %[t], %[a7]\n\t" \
    "ldrd   %[x], %[y], [%[col]], #8\n\t" \
    "ldr    %[t], [%[w], #4]\n\t" \
    "sxtb16 %[t], %[t], ror #8\n\t" \
    "smlad  %[a2], %[x], %[t], %[a2]\n\t" \
    "smlad  %[a3], %[y], %[t], %[a3]\n\t" \
    "ldr    %[t], [%[w], #8]\n\t" \
    "sxtb16 %[t], %[t], ror #8\n\t" \
    "smlad  %[a4], %[x], %[t], %[a4]\n\t" \
    "smlad  %[a5], %[y], %[t], %[a5]\n\t" \
    "ldr    %[t], [%[w], #12]\n\t" \
    "sxtb16 %[t], %[t], ror #8\n\t" \
    "smlad  %[a6], %[x], %[t], %[a6]\n\t" \
    "smlad  %[a7], %[y], %[t], %[a7]\n\t" \
    "ldr    %[t], [%[w]], #16\n\t" \
    "sxtb16 %[t], %[t], ror #8\n\t" \
    "smlad  %[a0], %[x], %[t], %[a0]\n\t" \
    "smlad  %[a1], %[y], %[t], %[a1]\n\t" \
    "subs   %[n], %[n], #1\n\t" \
    "bne    1b\n\t"

#define PJ_DOT2X4_SXTB16_OPERANDS \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), \
      [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [col] "+r"(col), [w] "+r"(w), \
      [n] "+r"(groups), [x] "=&r"(x), [y] "=&r"(y), [t] "=&r"(t) \
    : \
    : "cc", "memory"

#define PJ_DOT2X4_SXTB16_C() \
    for (; groups > 0; --groups) { \
        uint32_t x = pj_load32a(col); \
        uint32_t y = pj_load32a(col + 2); \
        uint32_t t; \
        t = pj_sxtb16(pj_load32a(w)); \
        a0 = pj_smlad(x, t, a0); \
        a1 = pj_smlad(y, t, a1); \
        t = pj_sxtb16(pj_load32a(w + 4)); \
        a2 = pj_smlad(x, t, a2); \
        a3 = pj_smlad(y, t, a3); \
        t = pj_sxtb16(pj_load32a(w + 8)); \
        a4 = pj_smlad(x, t, a4); \
        a5 = pj_smlad(y, t, a5); \
        t = pj_sxtb16(pj_load32a(w + 12)); \
        a6 = pj_smlad(x, t, a6); \
        a7 = pj_smlad(y, t, a7); \
        x = pj_load32a(col + 4); \
        y = pj_load32a(col + 6); \
        t = pj_sxtb16_ror8(pj_load32a(w)); \
        a0 = pj_smlad(x, t, a0); \
        a1 = pj_smlad(y, t, a1); \
        t = pj_sxtb16_ror8(pj_load32a(w + 4)); \
        a2 = pj_smlad(x, t, a2); \
        a3 = pj_smlad(y, t, a3); \
        t = pj_sxtb16_ror8(pj_load32a(w + 8)); \
        a4 = pj_smlad(x, t, a4); \
        a5 = pj_smlad(y, t, a5); \
        t = pj_sxtb16_ror8(pj_load32a(w + 12)); \
        a6 = pj_smlad(x, t, a6); \
        a7 = pj_smlad(y, t, a7); \
        w += 16; \
        col += 8; \
    }

static PJ_NOINLINE void pj_dot2x4_dsp(const int16_t *col, const int8_t *w, int32_t groups,
                                      int32_t acc[8])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
#if PJ_DSP_ASM
    uint32_t x, y, t;
    if (groups > 0) {
        __asm__ __volatile__(
            PJ_DOT2X4_SXTB16_ASM
            PJ_DOT2X4_SXTB16_OPERANDS);
    }
#else
    PJ_DOT2X4_SXTB16_C();
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
}

/* The common case in one function: 2 pixels x 4 channels with the accumulators started
 * from the bias, summed, requantized (pj_rq), clamped and stored, all from registers. */
static PJ_NOINLINE void pj_block2x4_dsp(const int16_t *col, const int8_t *w, int32_t groups,
                                        const int32_t *bias, const int32_t *rq, int32_t lo,
                                        int32_t hi, int8_t *o0, int8_t *o1)
{
    int32_t a0 = bias[0], a1 = bias[0], a2 = bias[1], a3 = bias[1];
    int32_t a4 = bias[2], a5 = bias[2], a6 = bias[3], a7 = bias[3];
#if PJ_DSP_ASM
    uint32_t x, y, t;
    if (groups > 0) {
        __asm__ __volatile__(
            PJ_DOT2X4_SXTB16_ASM
            PJ_DOT2X4_SXTB16_OPERANDS);
    }
#else
    PJ_DOT2X4_SXTB16_C();
#endif
    /* Everything is computed before the first store: int8 stores may alias anything, so
     * the compiler would otherwise reload the constants after each one. */
    a0 = pj_rq(a0, rq);
    a1 = pj_rq(a1, rq);
    a2 = pj_rq(a2, rq + 4);
    a3 = pj_rq(a3, rq + 4);
    a4 = pj_rq(a4, rq + 8);
    a5 = pj_rq(a5, rq + 8);
    a6 = pj_rq(a6, rq + 12);
    a7 = pj_rq(a7, rq + 12);
    if (lo == -128 && hi == 127) { /* no activation bound inside the int8 range: SSAT */
        a0 = pj_sat8(a0);
        a1 = pj_sat8(a1);
        a2 = pj_sat8(a2);
        a3 = pj_sat8(a3);
        a4 = pj_sat8(a4);
        a5 = pj_sat8(a5);
        a6 = pj_sat8(a6);
        a7 = pj_sat8(a7);
    } else {
        a0 = pj_clamp32(a0, lo, hi);
        a1 = pj_clamp32(a1, lo, hi);
        a2 = pj_clamp32(a2, lo, hi);
        a3 = pj_clamp32(a3, lo, hi);
        a4 = pj_clamp32(a4, lo, hi);
        a5 = pj_clamp32(a5, lo, hi);
        a6 = pj_clamp32(a6, lo, hi);
        a7 = pj_clamp32(a7, lo, hi);
    }
    o0[0] = (int8_t)a0;
    o0[1] = (int8_t)a2;
    o0[2] = (int8_t)a4;
    o0[3] = (int8_t)a6;
    o1[0] = (int8_t)a1;
    o1[1] = (int8_t)a3;
    o1[2] = (int8_t)a5;
    o1[3] = (int8_t)a7;
}

/* Requantize and store acc[2 * j + q] for channels oc + j < out_c; o1 == 0: one pixel. */
static void pj_conv_store_quad(const pj_conv_params *p, int32_t oc, const int32_t acc[8],
                               int8_t *o0, int8_t *o1)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t n = p->out_c - oc < 4 ? p->out_c - oc : 4;
    int32_t j;
    if (p->rq != 0 && n == 4 && o1 != 0) {
        /* The common case, straight-line: 8 outputs. */
        const int32_t *rq = p->rq + 4 * oc;
        int32_t v[8];
        for (j = 0; j < 8; ++j) {
            v[j] = pj_clamp32(pj_rq(acc[j], rq + 4 * (j >> 1)), lo, hi);
        }
        o0 += oc;
        o1 += oc;
        o0[0] = (int8_t)v[0];
        o1[0] = (int8_t)v[1];
        o0[1] = (int8_t)v[2];
        o1[1] = (int8_t)v[3];
        o0[2] = (int8_t)v[4];
        o1[2] = (int8_t)v[5];
        o0[3] = (int8_t)v[6];
        o1[3] = (int8_t)v[7];
        return;
    }
    for (j = 0; j < n; ++j) {
        const int32_t c = oc + j;
        int32_t v0, v1;
        if (p->rq != 0) {
            v0 = pj_rq(acc[2 * j], p->rq + 4 * c);
            v1 = pj_rq(acc[2 * j + 1], p->rq + 4 * c);
        } else {
            v0 = pj_mbqm(acc[2 * j], p->mult[c], p->shift[c]) + p->out_offset;
            v1 = pj_mbqm(acc[2 * j + 1], p->mult[c], p->shift[c]) + p->out_offset;
        }
        o0[c] = (int8_t)pj_clamp32(v0, lo, hi);
        if (o1 != 0) {
            o1[c] = (int8_t)pj_clamp32(v1, lo, hi);
        }
    }
}

void pj_conv_s8_dsp_wo(const pj_conv_params *p, int32_t weight_offset, const int8_t *in,
                       int8_t *out, int16_t *col);

/* The DSP loop.  wo: LiteRT's filter offset of a legacy uint8 layer, 0 for int8 ones (then
 * it folds away): each pixel's accumulators start at bias + wo * sum(x + xo), the sums of
 * the two interleaved columns. */
PJ_INLINE void pj_conv_s8_dsp_body(const pj_conv_params *p, int32_t wo, const int8_t *in,
                                   int8_t *out, int16_t *col)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t kpad = (k + 3) & ~3;
    const int32_t npix = p->out_h * p->out_w;
    const int32_t cout = p->out_c;
    int32_t b, px, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * npix * cout;
        for (px = 0; px < npix; px += 2) {
            const int two = px + 1 < npix;
            int8_t *o0 = out_b + px * cout;
            int8_t *o1 = two ? o0 + cout : 0;
            int32_t s0 = 0, s1 = 0;
            pj_im2col_il(p, in_b, px, col, kpad);
            pj_im2col_il(p, in_b, two ? px + 1 : px, col + 2, kpad);
            if (wo != 0) {
                int32_t i;
                for (i = 0; i < 2 * kpad; i += 4) {
                    s0 += col[i] + col[i + 1];
                    s1 += col[i + 2] + col[i + 3];
                }
                s0 = (int32_t)((uint32_t)s0 * (uint32_t)wo);
                s1 = (int32_t)((uint32_t)s1 * (uint32_t)wo);
            }
            for (oc = 0; oc < cout; oc += 4) {
                int32_t acc[8];
                int32_t j;
                if (wo == 0 && p->rq != 0 && o1 != 0 && oc + 4 <= cout) {
                    pj_block2x4_dsp(col, p->weights + oc * kpad, kpad >> 2, p->bias + oc,
                                    p->rq + 4 * oc, p->act_min, p->act_max, o0 + oc, o1 + oc);
                    continue;
                }
                for (j = 0; j < 4; ++j) {
                    const int32_t bj = oc + j < cout ? p->bias[oc + j] : 0;
                    acc[2 * j] = bj + s0;
                    acc[2 * j + 1] = bj + s1;
                }
                pj_dot2x4_dsp(col, p->weights + oc * kpad, kpad >> 2, acc);
                pj_conv_store_quad(p, oc, acc, o0, o1);
            }
        }
    }
}

void pj_conv_s8_dsp(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *col)
{
    pj_conv_s8_dsp_body(p, 0, in, out, col);
}

/* pj_conv_s8_dsp with a filter offset (a legacy uint8 layer re-encoded as int8). */
void pj_conv_s8_dsp_wo(const pj_conv_params *p, int32_t weight_offset, const int8_t *in,
                       int8_t *out, int16_t *col)
{
    pj_conv_s8_dsp_body(p, weight_offset, in, out, col);
}

/* ---- int16-weight DSP variant ------------------------------------------------------------
 * pj_conv_s8_w16: the weights were widened to int16 pairs at generation time (see
 * w16_quad_layout in emitters/common.py), so the inner loop needs no SXTB16: per group of
 * 4 taps and block of 2 pixels x 4 channels, 2 LDRD (columns), 8 LDR (weights), 16 SMLAD
 * and the loop branch: 28 instructions for 32 MACs.  p->rq holds {m, c, r - 1} per channel
 * (pj_rq3) and p->bias the bias.  The columns are those of pj_conv_s8_dsp. */
void pj_conv_s8_w16(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *col);

/* The 28-instruction loop of pj_conv_s8_w16 over groups of 4 taps (2 pixels x 4 channels,
 * weights pre-widened to int16 pairs): accumulators a0-a7, pointers col and w, count n. */
#define PJ_DOT2X4_W16_ASM \
    "1:\n\t" \
    "ldrd   %[x], %[y], [%[col]], #8\n\t" \
    "ldr    %[t], [%[w], #4]\n\t" \
    "smlad  %[a0], %[x], %[t], %[a0]\n\t" \
    "smlad  %[a1], %[y], %[t], %[a1]\n\t" \
    "ldr    %[t], [%[w], #8]\n\t" \
    "smlad  %[a2], %[x], %[t], %[a2]\n\t" \
    "smlad  %[a3], %[y], %[t], %[a3]\n\t" \
    "ldr    %[t], [%[w], #12]\n\t" \
    "smlad  %[a4], %[x], %[t], %[a4]\n\t" \
    "smlad  %[a5], %[y], %[t], %[a5]\n\t" \
    "ldr    %[t], [%[w], #16]\n\t" \
    "smlad  %[a6], %[x], %[t], %[a6]\n\t" \
    "smlad  %[a7], %[y], %[t], %[a7]\n\t" \
    "ldrd   %[x], %[y], [%[col]], #8\n\t" \
    "ldr    %[t], [%[w], #20]\n\t" \
    "smlad  %[a0], %[x], %[t], %[a0]\n\t" \
    "smlad  %[a1], %[y], %[t], %[a1]\n\t" \
    "ldr    %[t], [%[w], #24]\n\t" \
    "smlad  %[a2], %[x], %[t], %[a2]\n\t" \
    "smlad  %[a3], %[y], %[t], %[a3]\n\t" \
    "ldr    %[t], [%[w], #28]\n\t" \
    "smlad  %[a4], %[x], %[t], %[a4]\n\t" \
    "smlad  %[a5], %[y], %[t], %[a5]\n\t" \
    "ldr    %[t], [%[w]], #32\n\t" \
    "smlad  %[a6], %[x], %[t], %[a6]\n\t" \
    "smlad  %[a7], %[y], %[t], %[a7]\n\t" \
    "subs   %[n], %[n], #1\n\t" \
    "bne    1b\n\t"

/* The accumulators a[2 * j + q] (channel j, pixel q) of a 2 x 4 block, updated over
 * `groups` groups of 4 taps (groups >= 1).  Not inlined: the assembly needs 14 registers. */
static PJ_NOINLINE void pj_dot2x4_w16(const int16_t *col, const int32_t *w, int32_t groups,
                             int32_t acc[8])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
#if PJ_DSP_ASM
    uint32_t x, y, t;
    __asm__ __volatile__(
        PJ_DOT2X4_W16_ASM
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),
          [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [col] "+r"(col), [w] "+r"(w),
          [n] "+r"(groups), [x] "=&r"(x), [y] "=&r"(y), [t] "=&r"(t)
        :
        : "cc", "memory");
#else
    for (; groups > 0; --groups) {
        const uint32_t x0 = pj_load32a(col), y0 = pj_load32a(col + 2);
        const uint32_t x1 = pj_load32a(col + 4), y1 = pj_load32a(col + 6);
        a0 = pj_smlad(x0, (uint32_t)w[1], a0);
        a1 = pj_smlad(y0, (uint32_t)w[1], a1);
        a2 = pj_smlad(x0, (uint32_t)w[2], a2);
        a3 = pj_smlad(y0, (uint32_t)w[2], a3);
        a4 = pj_smlad(x0, (uint32_t)w[3], a4);
        a5 = pj_smlad(y0, (uint32_t)w[3], a5);
        a6 = pj_smlad(x0, (uint32_t)w[4], a6);
        a7 = pj_smlad(y0, (uint32_t)w[4], a7);
        a0 = pj_smlad(x1, (uint32_t)w[5], a0);
        a1 = pj_smlad(y1, (uint32_t)w[5], a1);
        a2 = pj_smlad(x1, (uint32_t)w[6], a2);
        a3 = pj_smlad(y1, (uint32_t)w[6], a3);
        a4 = pj_smlad(x1, (uint32_t)w[7], a4);
        a5 = pj_smlad(y1, (uint32_t)w[7], a5);
        a6 = pj_smlad(x1, (uint32_t)w[0], a6);
        a7 = pj_smlad(y1, (uint32_t)w[0], a7);
        col += 8;
        w += 8;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
}

static PJ_NOINLINE void pj_block2x4_w16(const int16_t *col, const int32_t *w, int32_t groups,
                                        const int32_t *bias, const int32_t *rq, int32_t lo,
                                        int32_t hi, int8_t *o0, int8_t *o1)
{
    int32_t acc[8];
    int32_t a0, a1, a2, a3, a4, a5, a6, a7;
    acc[0] = acc[1] = bias[0];
    acc[2] = acc[3] = bias[1];
    acc[4] = acc[5] = bias[2];
    acc[6] = acc[7] = bias[3];
    pj_dot2x4_w16(col, w, groups, acc);
    a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    {
        int32_t m = rq[0], c = rq[1], s = rq[2];
        a0 = pj_rq3(a0, m, c, s);
        a1 = pj_rq3(a1, m, c, s);
        m = rq[3], c = rq[4], s = rq[5];
        a2 = pj_rq3(a2, m, c, s);
        a3 = pj_rq3(a3, m, c, s);
        m = rq[6], c = rq[7], s = rq[8];
        a4 = pj_rq3(a4, m, c, s);
        a5 = pj_rq3(a5, m, c, s);
        m = rq[9], c = rq[10], s = rq[11];
        a6 = pj_rq3(a6, m, c, s);
        a7 = pj_rq3(a7, m, c, s);
    }
    if (lo == -128 && hi == 127) {
        a0 = pj_sat8(a0);
        a1 = pj_sat8(a1);
        a2 = pj_sat8(a2);
        a3 = pj_sat8(a3);
        a4 = pj_sat8(a4);
        a5 = pj_sat8(a5);
        a6 = pj_sat8(a6);
        a7 = pj_sat8(a7);
    } else {
        a0 = pj_act8(a0, lo, hi);
        a1 = pj_act8(a1, lo, hi);
        a2 = pj_act8(a2, lo, hi);
        a3 = pj_act8(a3, lo, hi);
        a4 = pj_act8(a4, lo, hi);
        a5 = pj_act8(a5, lo, hi);
        a6 = pj_act8(a6, lo, hi);
        a7 = pj_act8(a7, lo, hi);
    }
    o0[0] = (int8_t)a0;
    o0[1] = (int8_t)a2;
    o0[2] = (int8_t)a4;
    o0[3] = (int8_t)a6;
    if (o1 != 0) {
        o1[0] = (int8_t)a1;
        o1[1] = (int8_t)a3;
        o1[2] = (int8_t)a5;
        o1[3] = (int8_t)a7;
    }
}

/* Columns for pj_conv_s8_w16.  The input offset is folded into the bias at generation time
 * (bias + input_offset * sum of the channel's weights), so a column holds the raw inputs and
 * taps outside the image hold the input zero point (x + input_offset = 0: TFLM skips them).
 * Within each group of 4 taps the int16 lanes are ordered (x0, x2, x1, x3), what SXTB16 and
 * SXTB16 ROR 8 give from one 32-bit load; the two pixels interleave by words:
 * (px0 x0 x2, px1 x0 x2, px0 x1 x3, px1 x1 x3).  Position of tap k of pixel 0: */
#define PJ_CPOS(k) ((((k) >> 2) << 3) + (((k) & 1) << 2) + (((k) >> 1) & 1))

static int32_t pj_colf_put(int16_t *col, int32_t k, const int8_t *src, int32_t n, int16_t zp)
{
    int32_t i = 0;
    int16_t *d;
    for (; (k & 3) != 0 && i < n; ++i, ++k) {
        col[PJ_CPOS(k)] = src != 0 ? src[i] : zp;
    }
    d = col + ((k >> 2) << 3);
    if (src != 0) {
        for (; i + 4 <= n; i += 4, k += 4, d += 8) {
            const uint32_t v = pj_read32(src + i);
            pj_store32a(d, pj_sxtb16(v));
            pj_store32a(d + 4, pj_sxtb16_ror8(v));
        }
    } else {
        const uint32_t zz = (uint32_t)(uint16_t)zp * 0x10001u;
        for (; i + 4 <= n; i += 4, k += 4, d += 8) {
            pj_store32a(d, zz);
            pj_store32a(d + 4, zz);
        }
    }
    for (; i < n; ++i, ++k) {
        col[PJ_CPOS(k)] = src != 0 ? src[i] : zp;
    }
    return k;
}

static void pj_im2col_fold(const pj_conv_params *p, const int8_t *in, int32_t pixel,
                           int16_t *col, int32_t kpad)
{
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_t;
    const int32_t ix0 = ox * p->stride_w - p->pad_l;
    const int32_t c = p->in_c, kw = p->k_w;
    const int16_t zp = (int16_t)-p->in_offset;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            k = pj_colf_put(col, k, 0, kw * c, zp);
        } else if (p->dil_w == 1) {
            const int32_t kx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
            const int32_t kx1 = p->in_w - ix0 < kw ? (p->in_w - ix0 > kx0 ? p->in_w - ix0 : kx0)
                                                   : kw;
            if (kx0 > 0) {
                k = pj_colf_put(col, k, 0, kx0 * c, zp);
            }
            k = pj_colf_put(col, k, in + (iy * p->in_w + ix0 + kx0) * c, (kx1 - kx0) * c, zp);
            if (kx1 < kw) {
                k = pj_colf_put(col, k, 0, (kw - kx1) * c, zp);
            }
        } else {
            for (kx = 0; kx < kw; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int inside = ix >= 0 && ix < p->in_w;
                k = pj_colf_put(col, k, inside ? in + (iy * p->in_w + ix) * c : 0, c, zp);
            }
        }
    }
    for (; k < kpad; ++k) {
        col[PJ_CPOS(k)] = 0;
    }
}

/* Interior pixels when in_c is not a multiple of 4 (groups of 4 taps then straddle filter
 * positions): gather through the generator's table of input offsets, 4 per group in the
 * column order (x0, x2, x1, x3). */
static void pj_im2col_gather(const int8_t *base, const int32_t *t, int16_t *col, int32_t kpad)
{
    int32_t g;
    for (g = 0; g < kpad; g += 4, t += 4, col += 8) {
        col[0] = base[t[0]];
        col[1] = base[t[1]];
        col[4] = base[t[2]];
        col[5] = base[t[3]];
    }
}

/* 1x1, stride 1, no padding, in_c a multiple of 4: both pixels' columns in one pass. */
static void pj_im2col_fold_1x1(const int8_t *x0, const int8_t *x1, int16_t *col, int32_t c)
{
    int32_t i;
    for (i = 0; i < c; i += 4, col += 8) {
        const uint32_t v0 = pj_read32(x0 + i), v1 = pj_read32(x1 + i);
        pj_store32a(col, pj_sxtb16(v0));
        pj_store32a(col + 2, pj_sxtb16(v1));
        pj_store32a(col + 4, pj_sxtb16_ror8(v0));
        pj_store32a(col + 6, pj_sxtb16_ror8(v1));
    }
}

#if PJ_DSP_ASM
/* pj_block2x4_w16 for the usual case (pj_rq3 constants, activation range [-128, 127]) as one
 * inline-assembly block: accumulators from the bias, the 28-instruction loop, pj_rq3 and
 * SSAT per output, byte stores; the bias, the requantization constants rq = {m, c, r - 1} x 4
 * and the output pointers come from an argument block (all 14 registers hold operands). */
static PJ_NOINLINE void pj_block2x4_w16_asm(const int16_t *col, const int32_t *w,
                                            int32_t groups, const int32_t *bias,
                                            const int32_t *rq, int8_t *o0, int8_t *o1)
{
    int32_t a0, a1, a2, a3, a4, a5, a6, a7;
    const void *args[4];
    uint32_t x = (uint32_t)(uintptr_t)args, y, t;
    args[0] = bias;
    args[1] = rq;
    args[2] = o0;
    args[3] = o1;
    __asm__ __volatile__(
        "ldr    %[t], [%[x]]\n\t"
        "push   {%[x]}\n\t" /* the argument block, for after the loop */
        "ldrd   %[a0], %[a2], [%[t]]\n\t"
        "ldrd   %[a4], %[a6], [%[t], #8]\n\t"
        "mov    %[a1], %[a0]\n\t"
        "mov    %[a3], %[a2]\n\t"
        "mov    %[a5], %[a4]\n\t"
        "mov    %[a7], %[a6]\n"
        PJ_DOT2X4_W16_ASM
        "ldr    %[col], [sp]\n\t"
        "ldr    %[col], [%[col], #4]\n\t"
#define PJ_RQ3_PAIR(p, q)                                                   \
        "ldrd   %[x], %[y], [%[col]], #8\n\t"                               \
        "ldr    %[t], [%[col]], #4\n\t"                                     \
        "and    %[w], %[" p "], #0x80000000\n\t"                            \
        "orr    %[w], %[w], #0x40000000\n\t"                                \
        "add    %[n], %[y], %[" p "], asr #31\n\t"                          \
        "smlal  %[w], %[n], %[" p "], %[x]\n\t"                             \
        "asr    %[" p "], %[n], %[t]\n\t"                                   \
        "ssat   %[" p "], #8, %[" p "]\n\t"                                 \
        "and    %[w], %[" q "], #0x80000000\n\t"                            \
        "orr    %[w], %[w], #0x40000000\n\t"                                \
        "add    %[n], %[y], %[" q "], asr #31\n\t"                          \
        "smlal  %[w], %[n], %[" q "], %[x]\n\t"                             \
        "asr    %[" q "], %[n], %[t]\n\t"                                   \
        "ssat   %[" q "], #8, %[" q "]\n\t"
        PJ_RQ3_PAIR("a0", "a1")
        PJ_RQ3_PAIR("a2", "a3")
        PJ_RQ3_PAIR("a4", "a5")
        PJ_RQ3_PAIR("a6", "a7")
#undef PJ_RQ3_PAIR
        "pop    {%[x]}\n\t"
        "ldrd   %[x], %[y], [%[x], #8]\n\t"
        "strb   %[a0], [%[x]]\n\t"
        "strb   %[a2], [%[x], #1]\n\t"
        "strb   %[a4], [%[x], #2]\n\t"
        "strb   %[a6], [%[x], #3]\n\t"
        "strb   %[a1], [%[y]]\n\t"
        "strb   %[a3], [%[y], #1]\n\t"
        "strb   %[a5], [%[y], #2]\n\t"
        "strb   %[a7], [%[y], #3]\n\t"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
          [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [col] "+r"(col), [w] "+r"(w),
          [n] "+r"(groups), [x] "+r"(x), [y] "=&r"(y), [t] "=&r"(t)
        :
        : "cc", "memory");
}
#endif

void pj_conv_s8_w16(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *col)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t kpad = (k + 3) & ~3;
    const int32_t npix = p->out_h * p->out_w;
    const int32_t cout = p->out_c;
    const int32_t *weights = (const int32_t *)(const void *)p->weights;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1
                       && p->pad_t == 0 && p->pad_l == 0 && (k & 3) == 0
                       && p->out_h == p->in_h && p->out_w == p->in_w;
    /* in_c not a multiple of 4: the generator appended a gather table to the weights */
    const int32_t *gather = (p->in_c & 3) != 0 ? weights + ((cout + 3) & ~3) * (kpad >> 1) : 0;
    int32_t b, px, oc, j;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * npix * cout;
        for (px = 0; px < npix; px += 2) {
            const int two = px + 1 < npix;
            int8_t *o0 = out_b + px * cout;
            int8_t *o1 = two ? o0 + cout : 0;
            if (direct) {
                pj_im2col_fold_1x1(in_b + px * k, in_b + (two ? px + 1 : px) * k, col, k);
            } else if (gather != 0) {
                for (j = 0; j < 2; ++j) {
                    const int32_t pj = px + (two ? j : 0);
                    const int32_t oy = pj / p->out_w, ox = pj - oy * p->out_w;
                    const int32_t iy0 = oy * p->stride_h - p->pad_t;
                    const int32_t ix0 = ox * p->stride_w - p->pad_l;
                    if (iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h && ix0 >= 0
                        && ix0 + (p->k_w - 1) * p->dil_w < p->in_w) {
                        pj_im2col_gather(in_b + (iy0 * p->in_w + ix0) * p->in_c, gather,
                                         col + 2 * j, kpad);
                    } else {
                        pj_im2col_fold(p, in_b, pj, col + 2 * j, kpad);
                    }
                }
            } else {
                pj_im2col_fold(p, in_b, px, col, kpad);
                pj_im2col_fold(p, in_b, two ? px + 1 : px, col + 2, kpad);
            }
            if (p->rq == 0) { /* shifts outside pj_rq3's range: TFLM's general formula */
                for (oc = 0; oc < cout; oc += 4) {
                    int32_t acc[8];
                    for (j = 0; j < 4; ++j) {
                        acc[2 * j] = acc[2 * j + 1] = oc + j < cout ? p->bias[oc + j] : 0;
                    }
                    pj_dot2x4_w16(col, weights + oc * (kpad >> 1), kpad >> 2, acc);
                    pj_conv_store_quad(p, oc, acc, o0, o1);
                }
                continue;
            }
#if PJ_DSP_ASM
            if (p->act_min == -128 && p->act_max == 127) {
                int8_t spare[4];
                for (oc = 0; oc + 4 <= cout; oc += 4) {
                    pj_block2x4_w16_asm(col, weights + oc * (kpad >> 1), kpad >> 2,
                                        p->bias + oc, p->rq + 3 * oc, o0 + oc,
                                        o1 != 0 ? o1 + oc : spare);
                }
            } else
#endif
            for (oc = 0; oc + 4 <= cout; oc += 4) {
                pj_block2x4_w16(col, weights + oc * (kpad >> 1), kpad >> 2, p->bias + oc,
                                p->rq + 3 * oc, p->act_min, p->act_max, o0 + oc,
                                o1 != 0 ? o1 + oc : 0);
            }
            if (oc < cout) { /* the last 1..3 channels: a full block into a local buffer */
                int8_t t0[4], t1[4];
                int32_t bias[4] = {0, 0, 0, 0}, rq[12];
                for (j = 0; j < 4; ++j) {
                    const int32_t c = oc + j < cout ? oc + j : oc;
                    bias[j] = p->bias[c];
                    rq[3 * j] = p->rq[3 * c];
                    rq[3 * j + 1] = p->rq[3 * c + 1];
                    rq[3 * j + 2] = p->rq[3 * c + 2];
                }
                pj_block2x4_w16(col, weights + oc * (kpad >> 1), kpad >> 2, bias, rq,
                                p->act_min, p->act_max, t0, t1);
                for (j = 0; oc + j < cout; ++j) {
                    o0[oc + j] = t0[j];
                    if (o1 != 0) {
                        o1[oc + j] = t1[j];
                    }
                }
            }
        }
    }
}
