/* Helium (MVE) kernels for the Cortex-M55: CONV_2D and DEPTHWISE_CONV_2D, int8.
 *
 * The input offset is folded into the bias at generation time (bias + input_offset * sum of
 * the channel's weights) and taps outside the image hold the input zero point
 * (x + input_offset = 0 there: exactly TFLM's skipped taps), so the inner loops multiply raw
 * int8 values.  Requantization runs on 4 channels at once with constants the generator
 * prepared (p->mult: m, p->shift: -r, p->rq: c2 = 2^(r-1) + zp * 2^r, per channel, padded
 * to a multiple of 4): with t = (2 acc * m + 2^31) >> 32 (VRMULH), TFLM's two roundings
 * and the zero point are (t + (acc < 0 ? -1 : 0) + c2) >> r, valid for r >= 1 and
 * |acc| < 2^30 (the generator checks both with a bound on the accumulator).  p->rq == 0:
 * TFLM's general formula, per channel, with the original mult and shift.
 *
 * Without MVE (the host tests) the same layouts run through plain C with the same results.
 */
#include "pj_common.h"
#include "pj_kernels.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(PJ_NO_MVE)
#define PJ_HAVE_MVE 1
#include <arm_mve.h>
#else
#define PJ_HAVE_MVE 0
#endif
/* Inline-assembly blocks: GNU C with optimization (they bind up to 14 registers, which -O0
 * with its frame pointer cannot give); the intrinsics path otherwise.  -DPJ_NO_ASM: never. */
#if PJ_HAVE_MVE && defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(PJ_NO_ASM)
#define PJ_MVE_ASM 1
#else
#define PJ_MVE_ASM 0
#endif

void pj_conv_s8_mve(const pj_conv_params *p, const int8_t *in, int8_t *out, int8_t *col);
void pj_fc_s8_mve(const pj_fc_params *p, const int8_t *in, int8_t *out);
void pj_dwconv_s8_mve(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                      int32_t *scratch);
void pj_dwconv_s8_mve16(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                        int32_t *scratch);

/* 4 int32 lanes: an MVE vector, or plain C with the same lane semantics. */
#if PJ_HAVE_MVE
typedef int32x4_t pj_v4;
PJ_INLINE pj_v4 pj_v_ld(const int32_t *p) { return vldrwq_s32(p); }
PJ_INLINE pj_v4 pj_v_dup(int32_t v) { return vdupq_n_s32(v); }
PJ_INLINE pj_v4 pj_v_add(pj_v4 a, pj_v4 b) { return vaddq_s32(a, b); }
PJ_INLINE pj_v4 pj_v_set(int32_t a, int32_t b, int32_t c, int32_t d)
{
    pj_v4 v = vdupq_n_s32(a);
    v = vsetq_lane_s32(b, v, 1);
    v = vsetq_lane_s32(c, v, 2);
    return vsetq_lane_s32(d, v, 3);
}
/* TFLM's requantization of 4 accumulators (see the top of this file), then the clamp. */
PJ_INLINE pj_v4 pj_v_rq(pj_v4 x, pj_v4 m, pj_v4 c2, pj_v4 nr, pj_v4 lo, pj_v4 hi)
{
    pj_v4 t = vrmulhq_s32(vaddq_s32(x, x), m);
    t = vaddq_s32(vaddq_s32(t, vshrq_n_s32(x, 31)), c2);
    t = vshlq_s32(t, nr);
    return vminq_s32(vmaxq_s32(t, lo), hi);
}
PJ_INLINE void pj_v_st8(int8_t *o, pj_v4 v, int32_t n)
{
    if (n == 4) {
        vstrbq_s32(o, v);
    } else {
        vstrbq_p_s32(o, v, vctp32q((uint32_t)n));
    }
}
#else
typedef struct { int32_t v[4]; } pj_v4;
PJ_INLINE pj_v4 pj_v_ld(const int32_t *p)
{
    pj_v4 r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
PJ_INLINE pj_v4 pj_v_dup(int32_t v)
{
    pj_v4 r;
    r.v[0] = r.v[1] = r.v[2] = r.v[3] = v;
    return r;
}
PJ_INLINE pj_v4 pj_v_add(pj_v4 a, pj_v4 b)
{
    int j;
    for (j = 0; j < 4; ++j) {
        a.v[j] = (int32_t)((uint32_t)a.v[j] + (uint32_t)b.v[j]);
    }
    return a;
}
PJ_INLINE pj_v4 pj_v_set(int32_t a, int32_t b, int32_t c, int32_t d)
{
    pj_v4 r;
    r.v[0] = a;
    r.v[1] = b;
    r.v[2] = c;
    r.v[3] = d;
    return r;
}
PJ_INLINE pj_v4 pj_v_rq(pj_v4 x, pj_v4 m, pj_v4 c2, pj_v4 nr, pj_v4 lo, pj_v4 hi)
{
    int j;
    for (j = 0; j < 4; ++j) {
        const int64_t prod = (int64_t)x.v[j] * 2 * m.v[j] + ((int64_t)1 << 31);
        const int32_t t = (int32_t)(prod >> 32) + (x.v[j] >> 31) + c2.v[j];
        x.v[j] = pj_clamp32(t >> -nr.v[j], lo.v[j], hi.v[j]);
    }
    return x;
}
PJ_INLINE void pj_v_st8(int8_t *o, pj_v4 v, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; ++j) {
        o[j] = (int8_t)v.v[j];
    }
}
#endif

/* TFLM's general requantization (p->rq == 0): acc[0..n-1] + bias, channel by channel. */
static void pj_mve_store_general(const int32_t *acc, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, int32_t zp, int32_t lo, int32_t hi,
                                 int32_t n, int8_t *o)
{
    int32_t j;
    for (j = 0; j < n; ++j) {
        const int32_t x = (int32_t)((uint32_t)acc[j] + (uint32_t)bias[j]);
        o[j] = (int8_t)pj_clamp32(pj_mbqm(x, mult[j], shift[j]) + zp, lo, hi);
    }
}

/* ---- CONV_2D -------------------------------------------------------------------------
 * Weights: int8 [out_c / 4][K16 / 16][4][16] (K16 = k_h * k_w * in_c rounded up to 16, zero
 * padded; channels padded to a multiple of 4): per chunk of 16 taps, the chunk of each of
 * the 4 channels.  Blocks of 2 pixels x 4 channels: per chunk 2 + 4 loads and 8 VMLADAVA
 * (128 MACs).  col: 2 * K16 bytes. */

/* Copy / fill n bytes with tail-predicated vector stores (short rows cost a few
 * instructions instead of a library call). */
PJ_INLINE void pj_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
#if PJ_HAVE_MVE
    for (; n > 0; n -= 16, dst += 16, src += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
#else
    memcpy(dst, src, (size_t)n);
#endif
}

PJ_INLINE void pj_mve_fill(int8_t *dst, int v, int32_t n)
{
#if PJ_HAVE_MVE
    const int8x16_t vv = vdupq_n_s8((int8_t)v);
    for (; n > 0; n -= 16, dst += 16) {
        vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
    }
#else
    memset(dst, v, (size_t)n);
#endif
}

static void pj_mve_im2col(const pj_conv_params *p, const int8_t *in, int32_t pixel,
                          int8_t *col, int32_t k16)
{
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_t;
    const int32_t ix0 = ox * p->stride_w - p->pad_l;
    const int32_t c = p->in_c, kw = p->k_w;
    const int zp = -p->in_offset;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            pj_mve_fill(col + k, zp, kw * c);
            k += kw * c;
        } else if (p->dil_w == 1) {
            const int32_t kx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
            const int32_t kx1 = p->in_w - ix0 < kw ? (p->in_w - ix0 > kx0 ? p->in_w - ix0 : kx0)
                                                   : kw;
            if (kx0 > 0) {
                pj_mve_fill(col + k, zp, kx0 * c);
                k += kx0 * c;
            }
            pj_mve_copy(col + k, in + (iy * p->in_w + ix0 + kx0) * c, (kx1 - kx0) * c);
            k += (kx1 - kx0) * c;
            if (kx1 < kw) {
                pj_mve_fill(col + k, zp, (kw - kx1) * c);
                k += (kw - kx1) * c;
            }
        } else {
            for (kx = 0; kx < kw; ++kx, k += c) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix >= 0 && ix < p->in_w) {
                    pj_mve_copy(col + k, in + (iy * p->in_w + ix) * c, c);
                } else {
                    pj_mve_fill(col + k, zp, c);
                }
            }
        }
    }
    if (k < k16) {
        pj_mve_fill(col + k, 0, k16 - k);
    }
}

/* Columns of an interior pixel through the generator's offset table (k16 uint16 offsets of
 * the taps from the window's corner; 0 in the padding, where the weights are zero). */
static void pj_mve_im2col_g(const pj_conv_params *p, const int8_t *in, int32_t pixel,
                            int8_t *col, int32_t k16, const uint16_t *offs)
{
    const int32_t oy = pixel / p->out_w;
    const int32_t ox = pixel - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_t;
    const int32_t ix0 = ox * p->stride_w - p->pad_l;
    const int8_t *base;
    int32_t i;
    if (iy0 < 0 || iy0 + (p->k_h - 1) * p->dil_h >= p->in_h || ix0 < 0
        || ix0 + (p->k_w - 1) * p->dil_w >= p->in_w) {
        pj_mve_im2col(p, in, pixel, col, k16);
        return;
    }
    base = in + (iy0 * p->in_w + ix0) * p->in_c;
#if PJ_HAVE_MVE
    for (i = 0; i < k16; i += 8) {
        vstrbq_s16(col + i, vldrbq_gather_offset_s16(base, vldrhq_u16(offs + i)));
    }
#else
    for (i = 0; i < k16; ++i) {
        col[i] = base[offs[i]];
    }
#endif
}

/* acc[q * 4 + j] = bias[j] + pixel q's column . channel j's weights over `chunks` chunks of
 * 16 and, when tail > 0, a last chunk of `tail` taps (the columns are read no further; the
 * weights are zero padded).  On MVE cores the full chunks run in inline assembly: 2 + 4
 * loads and 8 VMLADAVA per chunk (128 MACs in 16 instructions with the loop branch);
 * compilers otherwise shuffle the 8 scalar accumulators between registers. */
PJ_INLINE void pj_mve_dot2x4(const int8_t *x0, const int8_t *x1, const int8_t *w,
                             int32_t chunks, int32_t tail, const int32_t *bias,
                             int32_t acc[8])
{
#if PJ_MVE_ASM
    /* VMLADAVA accumulates into even-numbered registers only: bind them. */
    register int32_t a0 __asm__("r0") = bias[0];
    register int32_t a1 __asm__("r2") = bias[1];
    register int32_t a2 __asm__("r4") = bias[2];
    register int32_t a3 __asm__("r6") = bias[3];
    register int32_t b0 __asm__("r8") = a0;
    register int32_t b1 __asm__("r10") = a1;
    register int32_t b2 __asm__("r12") = a2;
    register int32_t b3 __asm__("lr") = a3;
    if (chunks > 0) {
        __asm__ __volatile__(
            "1:\n\t"
            "vldrb.8     q0, [%[x0]], #16\n\t"
            "vldrb.8     q1, [%[x1]], #16\n\t"
            "vldrb.8     q2, [%[w]], #16\n\t"
            "vmladava.s8 %[a0], q0, q2\n\t"
            "vmladava.s8 %[b0], q1, q2\n\t"
            "vldrb.8     q2, [%[w]], #16\n\t"
            "vmladava.s8 %[a1], q0, q2\n\t"
            "vmladava.s8 %[b1], q1, q2\n\t"
            "vldrb.8     q2, [%[w]], #16\n\t"
            "vmladava.s8 %[a2], q0, q2\n\t"
            "vmladava.s8 %[b2], q1, q2\n\t"
            "vldrb.8     q2, [%[w]], #16\n\t"
            "vmladava.s8 %[a3], q0, q2\n\t"
            "vmladava.s8 %[b3], q1, q2\n\t"
            "subs        %[n], %[n], #1\n\t"
            "bne         1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0),
              [b1] "+r"(b1), [b2] "+r"(b2), [b3] "+r"(b3), [x0] "+r"(x0), [x1] "+r"(x1),
              [w] "+r"(w), [n] "+r"(chunks)
            :
            : "cc", "memory", "d0", "d1", "d2", "d3", "d4", "d5");
    }
    if (tail > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)tail);
        const int8x16_t u = vldrbq_z_s8(x0, pr), v = vldrbq_z_s8(x1, pr);
        int8x16_t t = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, u, t);
        b0 = vmladavaq_s8(b0, v, t);
        t = vldrbq_s8(w + 16);
        a1 = vmladavaq_s8(a1, u, t);
        b1 = vmladavaq_s8(b1, v, t);
        t = vldrbq_s8(w + 32);
        a2 = vmladavaq_s8(a2, u, t);
        b2 = vmladavaq_s8(b2, v, t);
        t = vldrbq_s8(w + 48);
        a3 = vmladavaq_s8(a3, u, t);
        b3 = vmladavaq_s8(b3, v, t);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = b0;
    acc[5] = b1;
    acc[6] = b2;
    acc[7] = b3;
#elif PJ_HAVE_MVE
    int32_t j;
    for (j = 0; j < 4; ++j) {
        acc[j] = acc[4 + j] = bias[j];
    }
    for (; chunks > 0 || tail > 0; x0 += 16, x1 += 16, w += 64) {
        const mve_pred16_t pr = vctp8q((uint32_t)(chunks > 0 ? 16 : tail));
        const int8x16_t u = vldrbq_z_s8(x0, pr), v = vldrbq_z_s8(x1, pr);
        for (j = 0; j < 4; ++j) {
            const int8x16_t t = vldrbq_s8(w + 16 * j);
            acc[j] = vmladavaq_s8(acc[j], u, t);
            acc[4 + j] = vmladavaq_s8(acc[4 + j], v, t);
        }
        if (chunks > 0) {
            --chunks;
        } else {
            tail = 0;
        }
    }
#else
    int32_t g, j, i;
    const int32_t total = chunks + (tail > 0);
    for (j = 0; j < 4; ++j) {
        acc[j] = acc[4 + j] = bias[j];
    }
    for (g = 0; g < total; ++g, x0 += 16, x1 += 16, w += 64) {
        const int32_t len = g < chunks ? 16 : tail;
        for (j = 0; j < 4; ++j) {
            uint32_t s0 = (uint32_t)acc[j], s1 = (uint32_t)acc[4 + j];
            for (i = 0; i < len; ++i) {
                s0 += (uint32_t)(x0[i] * w[16 * j + i]);
                s1 += (uint32_t)(x1[i] * w[16 * j + i]);
            }
            acc[j] = (int32_t)s0;
            acc[4 + j] = (int32_t)s1;
        }
    }
#endif
}

#if PJ_MVE_ASM
/* The common block in inline assembly: 2 pixels x 4 channels, accumulated from the bias
 * (full chunks, then a predicated tail chunk), requantized 4 lanes at a time with the
 * quad's constants rq = {m[4], c2[4], -r[4]}, clamped and stored (4 bytes per pixel).
 * VMLADAVA accumulates into even-numbered registers only, hence the bound variables. */
typedef struct {
    const int32_t *rq;
    int32_t lo, hi;
    int8_t *o0, *o1;
} pj_mve_blk_args;

PJ_INLINE void pj_mve_block(const int8_t *px0, const int8_t *px1, const int8_t *pw,
                         int32_t chunks, int32_t tail, const int32_t *bias,
                         const pj_mve_blk_args *args)
{
    register int32_t a0 __asm__("r0") = bias[0];
    register int32_t a1 __asm__("r2") = bias[1];
    register int32_t a2 __asm__("r4") = bias[2];
    register int32_t a3 __asm__("r6") = bias[3];
    register int32_t b0 __asm__("r8") = a0;
    register int32_t b1 __asm__("r10") = a1;
    register int32_t b2 __asm__("r12") = a2;
    register int32_t b3 __asm__("lr") = a3;
    register const int8_t *x0 __asm__("r1") = px0;
    register const int8_t *x1 __asm__("r3") = px1;
    register const int8_t *w __asm__("r5") = pw;
    register int32_t n __asm__("r9") = chunks;
    register const pj_mve_blk_args *ap __asm__("r11") = args;
    register int32_t tl __asm__("r7") = tail;
    __asm__ __volatile__(
        "cmp         %[n], #0\n\t"
        "beq         2f\n"
        "1:\n\t"
        "vldrb.8     q0, [%[x0]], #16\n\t"
        "vldrb.8     q1, [%[x1]], #16\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a0], q0, q2\n\t"
        "vmladava.s8 %[b0], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a1], q0, q2\n\t"
        "vmladava.s8 %[b1], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a2], q0, q2\n\t"
        "vmladava.s8 %[b2], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a3], q0, q2\n\t"
        "vmladava.s8 %[b3], q1, q2\n\t"
        "subs        %[n], %[n], #1\n\t"
        "bne         1b\n"
        "2:\n\t"
        "cbz         %[tl], 3f\n\t"
        "vctp.8      %[tl]\n\t"
        "vpstt\n\t"
        "vldrbt.8    q0, [%[x0]]\n\t"
        "vldrbt.8    q1, [%[x1]]\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a0], q0, q2\n\t"
        "vmladava.s8 %[b0], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a1], q0, q2\n\t"
        "vmladava.s8 %[b1], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a2], q0, q2\n\t"
        "vmladava.s8 %[b2], q1, q2\n\t"
        "vldrb.8     q2, [%[w]], #16\n\t"
        "vmladava.s8 %[a3], q0, q2\n\t"
        "vmladava.s8 %[b3], q1, q2\n"
        "3:\n\t"
        /* lanes: pixel 0 -> q0, pixel 1 -> q1 (channel j in lane j) */
        /* (as GNU as reads it: the first register goes to the lower lane) */
        "vmov        q0[2], q0[0], %[a0], %[a2]\n\t"
        "vmov        q0[3], q0[1], %[a1], %[a3]\n\t"
        "vmov        q1[2], q1[0], %[b0], %[b2]\n\t"
        "vmov        q1[3], q1[1], %[b1], %[b3]\n\t"
        /* rq, lo, hi, o0, o1 (x0, x1 and the accumulators are dead now) */
        "ldm         %[ap], {r0, r1, r2, r3, r4}\n\t"
        "vldrw.32    q2, [r0]\n\t"
        "vldrw.32    q3, [r0, #16]\n\t"
        "vldrw.32    q4, [r0, #32]\n\t"
        "vdup.32     q5, r1\n\t"
        "vdup.32     q6, r2\n\t"
        "vadd.i32    q7, q0, q0\n\t"
        "vrmulh.s32  q7, q7, q2\n\t"
        "vshr.s32    q0, q0, #31\n\t"
        "vadd.i32    q7, q7, q0\n\t"
        "vadd.i32    q7, q7, q3\n\t"
        "vshl.s32    q7, q7, q4\n\t"
        "vmax.s32    q7, q7, q5\n\t"
        "vmin.s32    q7, q7, q6\n\t"
        "vstrb.32    q7, [r3]\n\t"
        "vadd.i32    q7, q1, q1\n\t"
        "vrmulh.s32  q7, q7, q2\n\t"
        "vshr.s32    q1, q1, #31\n\t"
        "vadd.i32    q7, q7, q1\n\t"
        "vadd.i32    q7, q7, q3\n\t"
        "vshl.s32    q7, q7, q4\n\t"
        "vmax.s32    q7, q7, q5\n\t"
        "vmin.s32    q7, q7, q6\n\t"
        "vstrb.32    q7, [r4]\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0),
          [b1] "+r"(b1), [b2] "+r"(b2), [b3] "+r"(b3), [x0] "+r"(x0), [x1] "+r"(x1),
          [w] "+r"(w), [n] "+r"(n), [tl] "+r"(tl)
        : [ap] "r"(ap)
        : "cc", "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10",
          "d11", "d12", "d13", "d14", "d15");
}
#endif

/* All output channels of two input rows x0, x1 (pixels of a convolution, batches of a fully
 * connected layer): blocks of 4 channels, weights [n / 4][K16 / 16][4][16], bias padded to a
 * multiple of 4, rq {m[4], c2[4], -r[4]} per block or 0 (TFLM's general formula with mult
 * and shift).  o1 == 0: one row only. */
static void pj_mve_rows2(const int8_t *x0, const int8_t *x1, const int8_t *weights, int32_t k16,
                         int32_t chunks, int32_t tail, const int32_t *bias, const int32_t *rqs,
                         const int32_t *mult, const int32_t *shift, int32_t zp, int32_t act_lo,
                         int32_t act_hi, int32_t cout, int8_t *o0, int8_t *o1)
{
    int32_t oc;
    for (oc = 0; oc < cout; oc += 4) {
        const int32_t n = cout - oc < 4 ? cout - oc : 4;
        int32_t acc[8];
        pj_v4 lo, hi; /* made here: no vector may live across the assembly block */
#if PJ_MVE_ASM
        if (rqs != 0 && n == 4) {
            int8_t spare[4];
            pj_mve_blk_args args;
            args.rq = rqs + 3 * oc;
            args.lo = act_lo;
            args.hi = act_hi;
            args.o0 = o0 + oc;
            args.o1 = o1 != 0 ? o1 + oc : spare;
            pj_mve_block(x0, x1, weights + oc * k16, chunks, tail, bias + oc, &args);
            continue;
        }
#endif
        pj_mve_dot2x4(x0, x1, weights + oc * k16, chunks, tail, bias + oc, acc);
        lo = pj_v_dup(act_lo);
        hi = pj_v_dup(act_hi);
        if (rqs != 0) {
            const int32_t *rq = rqs + 3 * oc; /* {m[4], c2[4], -r[4]} */
            const pj_v4 m = pj_v_ld(rq), c2 = pj_v_ld(rq + 4), nr = pj_v_ld(rq + 8);
            pj_v_st8(o0 + oc, pj_v_rq(pj_v_set(acc[0], acc[1], acc[2], acc[3]), m, c2, nr, lo,
                                      hi), n);
            if (o1 != 0) {
                pj_v_st8(o1 + oc, pj_v_rq(pj_v_set(acc[4], acc[5], acc[6], acc[7]), m, c2, nr,
                                          lo, hi), n);
            }
        } else {
            const int32_t zero[4] = {0, 0, 0, 0};
            pj_mve_store_general(acc, zero, mult + oc, shift + oc, zp, act_lo, act_hi, n,
                                 o0 + oc);
            if (o1 != 0) {
                pj_mve_store_general(acc + 4, zero, mult + oc, shift + oc, zp, act_lo, act_hi,
                                     n, o1 + oc);
            }
        }
    }
}

void pj_conv_s8_mve(const pj_conv_params *p, const int8_t *in, int8_t *out, int8_t *col)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t k16 = (k + 15) & ~15;
    const int32_t npix = p->out_h * p->out_w;
    const int32_t cout = p->out_c;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1
                       && p->pad_t == 0 && p->pad_l == 0
                       && p->out_h == p->in_h && p->out_w == p->in_w;
    /* direct: the columns are the input pixels themselves, the last chunk predicated */
    const int32_t chunks = direct ? k >> 4 : k16 >> 4, tail = direct ? k & 15 : 0;
    /* in_c < 16: the generator appended uint16 gather offsets (interior pixels) */
    const uint16_t *gather = p->in_c < 16 && !direct
        ? (const uint16_t *)(const void *)(p->weights + ((cout + 3) & ~3) * k16) : 0;
    const pj_v4 lo = pj_v_dup(p->act_min), hi = pj_v_dup(p->act_max);
    int32_t b, px, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * npix * cout;
        for (px = 0; px < npix; px += 2) {
            const int two = px + 1 < npix;
            int8_t *o0 = out_b + px * cout;
            const int8_t *x0, *x1;
            if (direct) {
                x0 = in_b + px * k;
                x1 = two ? x0 + k : x0;
            } else if (gather != 0) {
                pj_mve_im2col_g(p, in_b, px, col, k16, gather);
                x0 = col;
                x1 = col;
                if (two) {
                    pj_mve_im2col_g(p, in_b, px + 1, col + k16, k16, gather);
                    x1 = col + k16;
                }
            } else {
                pj_mve_im2col(p, in_b, px, col, k16);
                x0 = col;
                x1 = col;
                if (two) {
                    pj_mve_im2col(p, in_b, px + 1, col + k16, k16);
                    x1 = col + k16;
                }
            }
            for (oc = 0; oc < cout; oc += 4) {
                const int32_t n = cout - oc < 4 ? cout - oc : 4;
                int32_t acc[8];
#if PJ_MVE_ASM
                if (p->rq != 0 && n == 4) {
                    int8_t spare[4];
                    pj_mve_blk_args args;
                    args.rq = p->rq + 3 * oc;
                    args.lo = p->act_min;
                    args.hi = p->act_max;
                    args.o0 = o0 + oc;
                    args.o1 = two ? o0 + cout + oc : spare;
                    pj_mve_block(x0, x1, p->weights + oc * k16, chunks, tail, p->bias + oc,
                                 &args);
                    continue;
                }
#endif
                pj_mve_dot2x4(x0, x1, p->weights + oc * k16, chunks, tail, p->bias + oc, acc);
                if (p->rq != 0) {
                    const int32_t *rq = p->rq + 3 * oc; /* {m[4], c2[4], -r[4]} */
                    const pj_v4 m = pj_v_ld(rq), c2 = pj_v_ld(rq + 4), nr = pj_v_ld(rq + 8);
                    pj_v_st8(o0 + oc, pj_v_rq(pj_v_set(acc[0], acc[1], acc[2], acc[3]), m, c2,
                                              nr, lo, hi), n);
                    if (two) {
                        pj_v_st8(o0 + cout + oc, pj_v_rq(pj_v_set(acc[4], acc[5], acc[6],
                                                                  acc[7]), m, c2, nr, lo, hi),
                                 n);
                    }
                } else {
                    const int32_t zero[4] = {0, 0, 0, 0};
                    pj_mve_store_general(acc, zero, p->mult + oc, p->shift + oc,
                                         p->out_offset, p->act_min, p->act_max, n, o0 + oc);
                    if (two) {
                        pj_mve_store_general(acc + 4, zero, p->mult + oc, p->shift + oc,
                                             p->out_offset, p->act_min, p->act_max, n,
                                             o0 + cout + oc);
                    }
                }
            }
        }
    }
}

/* ---- DEPTHWISE_CONV_2D (depth multiplier 1, in_c a multiple of 4) ----------------------
 * Weights: int32 [c / 4][k_h * k_w][4]; per tap and 4 channels one widening load of the
 * inputs, one load of the weights, a multiply and an add.  scratch: k_h * k_w int32 tap
 * offsets, then the row strip of pj_dw_strip (pj_common.h): every pixel is interior. */
/* a + inputs x[0..3] (widened) * weights w[0..3]. */
PJ_INLINE pj_v4 pj_mve_tap(pj_v4 a, const int8_t *x, const int32_t *w)
{
#if PJ_HAVE_MVE
    return vaddq_s32(a, vmulq_s32(vldrbq_s32(x), vldrwq_s32(w)));
#else
    int j;
    for (j = 0; j < 4; ++j) {
        a.v[j] = (int32_t)((uint32_t)a.v[j] + (uint32_t)(x[j] * w[j]));
    }
    return a;
#endif
}

PJ_INLINE void pj_mve_dw_store(const pj_dwconv_params *p, int32_t q, pj_v4 a, pj_v4 lo,
                               pj_v4 hi, int8_t *o)
{
    if (p->rq != 0) {
        pj_v_st8(o + q, pj_v_rq(a, pj_v_ld(p->mult + q), pj_v_ld(p->rq + q),
                                pj_v_ld(p->shift + q), lo, hi), 4);
    } else {
        int32_t acc[4];
        const int32_t zero[4] = {0, 0, 0, 0};
#if PJ_HAVE_MVE
        vstrwq_s32(acc, a);
#else
        memcpy(acc, a.v, sizeof acc);
#endif
        pj_mve_store_general(acc, zero, p->mult + q, p->shift + q, p->out_offset,
                             p->act_min, p->act_max, 4, o + q);
    }
}

/* An interior pixel of a 3x3 filter without dilation (taps c bytes apart in a row). */
static void pj_mve_dw_interior9(const pj_dwconv_params *p, const int8_t *base, int32_t row,
                                int8_t *o, pj_v4 lo, pj_v4 hi)
{
    const int32_t c = p->in_c;
    const int32_t *w = (const int32_t *)(const void *)p->weights;
    int32_t q;
    for (q = 0; q < c; q += 4, w += 36) {
        const int8_t *s0 = base + q;
        const int8_t *s1 = s0 + row;
        const int8_t *s2 = s1 + row;
        pj_v4 a = pj_v_ld(p->bias + q);
        a = pj_mve_tap(a, s0, w);
        a = pj_mve_tap(a, s0 + c, w + 4);
        a = pj_mve_tap(a, s0 + 2 * c, w + 8);
        a = pj_mve_tap(a, s1, w + 12);
        a = pj_mve_tap(a, s1 + c, w + 16);
        a = pj_mve_tap(a, s1 + 2 * c, w + 20);
        a = pj_mve_tap(a, s2, w + 24);
        a = pj_mve_tap(a, s2 + c, w + 28);
        a = pj_mve_tap(a, s2 + 2 * c, w + 32);
        pj_mve_dw_store(p, q, a, lo, hi, o);
    }
}

void pj_dwconv_s8_mve(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                      int32_t *scratch)
{
    const int32_t c = p->in_c, kh = p->k_h, kw = p->k_w, taps = kh * kw;
    const int32_t pw = (p->out_w - 1) * p->stride_w + (kw - 1) * p->dil_w + 1;
    const int32_t rowb = pw * c;
    const int32_t *wts = (const int32_t *)(const void *)p->weights;
    const pj_v4 lo = pj_v_dup(p->act_min), hi = pj_v_dup(p->act_max);
    int32_t *offs = scratch;
    int8_t *strip = (int8_t *)(void *)(scratch + taps);
    int32_t b, oy, ox, ky, kx, t, q;
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
                const int32_t *w = wts;
                if (kh == 3 && kw == 3 && p->dil_w == 1) {  /* the 3x3 body */
                    pj_mve_dw_interior9(p, base, rowb, o, lo, hi);
                    continue;
                }
                for (q = 0; q < c; q += 4) {
                    const int8_t *src = base + q;
                    pj_v4 a = pj_v_ld(p->bias + q);
                    for (t = 0; t < taps; ++t, w += 4) {
                        a = pj_mve_tap(a, src + offs[t], w);
                    }
                    pj_mve_dw_store(p, q, a, lo, hi, o);
                }
            }
        }
    }
}

/* ---- DEPTHWISE_CONV_2D, 16 channels per vector (in_c a multiple of 16) ------------------
 * Weights: int8 [c / 16][k_h * k_w][16], no weight -128 (the generator checks), so two products
 * x * w (|.| <= 128 * 127) add exactly in int16.  Per tap VMULLB / VMULLT give the int16
 * products of the even and odd channels; taps are summed in pairs in int16, then widened
 * (VMOVLB / VMOVLT) into 4 int32 accumulators holding channels (0, 4, 8, 12),
 * (2, 6, 10, 14), (1, 5, 9, 13) and (3, 7, 11, 15) of the group: the order of p->bias,
 * p->mult, p->shift and p->rq per group of 16 (PJ_DW16_CH).  Narrowing stores restore
 * the channel order.  scratch as for pj_dwconv_s8_mve. */
static const uint8_t PJ_DW16_CH[16] = {0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15};

#if PJ_HAVE_MVE
#define PJ_DW16_WIDEN(e, o)                                                 \
    do {                                                                    \
        a0 = vaddq_s32(a0, vmovlbq_s16(e));                                 \
        a1 = vaddq_s32(a1, vmovltq_s16(e));                                 \
        a2 = vaddq_s32(a2, vmovlbq_s16(o));                                 \
        a3 = vaddq_s32(a3, vmovltq_s16(o));                                 \
    } while (0)

static void pj_dw16_group(const pj_dwconv_params *p, const int8_t *src, const int32_t *use,
                          int32_t taps, int32_t c, int32_t q, int8_t *o, pj_v4 lo, pj_v4 hi)
{
    const int8_t *w = p->weights + q * taps;
    int32x4_t a0 = vldrwq_s32(p->bias + q), a1 = vldrwq_s32(p->bias + q + 4);
    int32x4_t a2 = vldrwq_s32(p->bias + q + 8), a3 = vldrwq_s32(p->bias + q + 12);
    int32_t t = 0;
    (void)c;
    for (; t + 2 <= taps; t += 2, w += 32) {
        const int8x16_t x0 = vldrbq_s8(src + use[t]), w0 = vldrbq_s8(w);
        const int8x16_t x1 = vldrbq_s8(src + use[t + 1]), w1 = vldrbq_s8(w + 16);
        const int16x8_t e = vaddq_s16(vmullbq_int_s8(x0, w0), vmullbq_int_s8(x1, w1));
        const int16x8_t od = vaddq_s16(vmulltq_int_s8(x0, w0), vmulltq_int_s8(x1, w1));
        PJ_DW16_WIDEN(e, od);
    }
    if (t < taps) {
        const int8x16_t x0 = vldrbq_s8(src + use[t]), w0 = vldrbq_s8(w);
        const int16x8_t e = vmullbq_int_s8(x0, w0), od = vmulltq_int_s8(x0, w0);
        PJ_DW16_WIDEN(e, od);
    }
    if (p->rq != 0) {
        const int32_t *m = p->mult + q, *nr = p->shift + q, *c2 = p->rq + q;
        int16x8_t he = vdupq_n_s16(0), ho = vdupq_n_s16(0);
        int8x16_t r = vdupq_n_s8(0);
        a0 = pj_v_rq(a0, vldrwq_s32(m), vldrwq_s32(c2), vldrwq_s32(nr), lo, hi);
        a1 = pj_v_rq(a1, vldrwq_s32(m + 4), vldrwq_s32(c2 + 4), vldrwq_s32(nr + 4), lo, hi);
        a2 = pj_v_rq(a2, vldrwq_s32(m + 8), vldrwq_s32(c2 + 8), vldrwq_s32(nr + 8), lo, hi);
        a3 = pj_v_rq(a3, vldrwq_s32(m + 12), vldrwq_s32(c2 + 12), vldrwq_s32(nr + 12), lo,
                     hi);
        he = vmovntq_s32(vmovnbq_s32(he, a0), a1);
        ho = vmovntq_s32(vmovnbq_s32(ho, a2), a3);
        r = vmovntq_s16(vmovnbq_s16(r, he), ho);
        vstrbq_s8(o + q, r);
    } else {
        int32_t acc[16], j;
        vstrwq_s32(acc, a0);
        vstrwq_s32(acc + 4, a1);
        vstrwq_s32(acc + 8, a2);
        vstrwq_s32(acc + 12, a3);
        for (j = 0; j < 16; ++j) {
            o[q + PJ_DW16_CH[j]] = (int8_t)pj_clamp32(
                pj_mbqm(acc[j], p->mult[q + j], p->shift[q + j]) + p->out_offset, p->act_min,
                p->act_max);
        }
    }
}
#else
static void pj_dw16_group(const pj_dwconv_params *p, const int8_t *src, const int32_t *use,
                          int32_t taps, int32_t c, int32_t q, int8_t *o, pj_v4 lo, pj_v4 hi)
{
    int32_t j, t;
    (void)c;
    for (j = 0; j < 16; ++j) {
        const int32_t ch = PJ_DW16_CH[j];
        uint32_t acc = (uint32_t)p->bias[q + j];
        int32_t v;
        for (t = 0; t < taps; ++t) {
            acc += (uint32_t)(src[use[t] + ch] * p->weights[q * taps + 16 * t + ch]);
        }
        if (p->rq != 0) {
            const int64_t prod = (int64_t)(int32_t)acc * 2 * p->mult[q + j] + ((int64_t)1 << 31);
            const int32_t r = (int32_t)(prod >> 32) + ((int32_t)acc >> 31) + p->rq[q + j];
            v = pj_clamp32(r >> -p->shift[q + j], lo.v[0], hi.v[0]);
        } else {
            v = pj_clamp32(pj_mbqm((int32_t)acc, p->mult[q + j], p->shift[q + j])
                           + p->out_offset, p->act_min, p->act_max);
        }
        o[q + ch] = (int8_t)v;
    }
}
#endif

#if PJ_MVE_ASM
/* One group of 16 channels of an interior 3x3 pixel in inline assembly (pj_rq3-style MVE
 * constants, activation range [-128, 127]: the saturating narrows clamp).  Taps in pairs:
 * products of the second tap overwrite its input register, so that input is loaded twice
 * (8 vector registers in all). */
static void pj_dw16_interior9(const int8_t *s0, int32_t row, int32_t c, const int8_t *w,
                              const int32_t *bias, const int32_t *m, const int32_t *nr,
                              const int32_t *c2, int8_t *o)
{
    const int8_t *s1 = s0 + row, *s2 = s1 + row;
    uint32_t t;
#define PJ_D16_FIRST(addr, woff)                                            \
        addr                                                                \
        "vldrb.8     q1, [%[w], #" woff "]\n\t"                             \
        "vmullb.s8   q2, q0, q1\n\t"                                        \
        "vmullt.s8   q3, q0, q1\n\t"
#define PJ_D16_SECOND(addr, reload, woff)                                   \
        addr                                                                \
        "vldrb.8     q1, [%[w], #" woff "]\n\t"                             \
        "vmullb.s8   q0, q0, q1\n\t"                                        \
        "vadd.i16    q2, q2, q0\n\t"                                        \
        reload                                                              \
        "vmullt.s8   q0, q0, q1\n\t"                                        \
        "vadd.i16    q3, q3, q0\n\t"
#define PJ_D16_WIDEN                                                        \
        "vmovlb.s16  q0, q2\n\t"                                            \
        "vadd.i32    q4, q4, q0\n\t"                                        \
        "vmovlt.s16  q0, q2\n\t"                                            \
        "vadd.i32    q5, q5, q0\n\t"                                        \
        "vmovlb.s16  q0, q3\n\t"                                            \
        "vadd.i32    q6, q6, q0\n\t"                                        \
        "vmovlt.s16  q0, q3\n\t"                                            \
        "vadd.i32    q7, q7, q0\n\t"
#define PJ_D16_RQ(qa, off)                                                  \
        "vldrw.32    q1, [%[m], #" off "]\n\t"                              \
        "vadd.i32    q0, " qa ", " qa "\n\t"                                \
        "vrmulh.s32  q0, q0, q1\n\t"                                        \
        "vshr.s32    " qa ", " qa ", #31\n\t"                               \
        "vadd.i32    q0, q0, " qa "\n\t"                                    \
        "vldrw.32    q1, [%[c2], #" off "]\n\t"                             \
        "vadd.i32    q0, q0, q1\n\t"                                        \
        "vldrw.32    q1, [%[nr], #" off "]\n\t"                             \
        "vshl.s32    " qa ", q0, q1\n\t"
    __asm__ __volatile__(
        "vldrw.32    q4, [%[b]]\n\t"
        "vldrw.32    q5, [%[b], #16]\n\t"
        "vldrw.32    q6, [%[b], #32]\n\t"
        "vldrw.32    q7, [%[b], #48]\n\t"
        /* taps 0, 1: s0, s0 + c */
        PJ_D16_FIRST("vldrb.8     q0, [%[s0]]\n\t", "0")
        PJ_D16_SECOND("add         %[t], %[s0], %[c]\n\tvldrb.8     q0, [%[t]]\n\t",
                      "vldrb.8     q0, [%[t]]\n\t", "16")
        PJ_D16_WIDEN
        /* taps 2, 3: s0 + 2c, s1 */
        PJ_D16_FIRST("add         %[t], %[s0], %[c], lsl #1\n\tvldrb.8     q0, [%[t]]\n\t",
                     "32")
        PJ_D16_SECOND("vldrb.8     q0, [%[s1]]\n\t", "vldrb.8     q0, [%[s1]]\n\t", "48")
        PJ_D16_WIDEN
        /* taps 4, 5: s1 + c, s1 + 2c */
        PJ_D16_FIRST("add         %[t], %[s1], %[c]\n\tvldrb.8     q0, [%[t]]\n\t", "64")
        PJ_D16_SECOND("add         %[t], %[s1], %[c], lsl #1\n\tvldrb.8     q0, [%[t]]\n\t",
                      "vldrb.8     q0, [%[t]]\n\t", "80")
        PJ_D16_WIDEN
        /* taps 6, 7: s2, s2 + c */
        PJ_D16_FIRST("vldrb.8     q0, [%[s2]]\n\t", "96")
        PJ_D16_SECOND("add         %[t], %[s2], %[c]\n\tvldrb.8     q0, [%[t]]\n\t",
                      "vldrb.8     q0, [%[t]]\n\t", "112")
        PJ_D16_WIDEN
        /* tap 8: s2 + 2c */
        /* (weights at +128: beyond VLDRB's immediate range) */
        "add         %[t], %[s2], %[c], lsl #1\n\t"
        "vldrb.8     q0, [%[t]]\n\t"
        "add         %[t], %[w], #128\n\t"
        "vldrb.8     q1, [%[t]]\n\t"
        "vmullb.s8   q2, q0, q1\n\t"
        "vmullt.s8   q3, q0, q1\n\t"
        PJ_D16_WIDEN
        PJ_D16_RQ("q4", "0")
        PJ_D16_RQ("q5", "16")
        PJ_D16_RQ("q6", "32")
        PJ_D16_RQ("q7", "48")
        "vqmovnb.s32 q0, q4\n\t"
        "vqmovnt.s32 q0, q5\n\t"
        "vqmovnb.s32 q1, q6\n\t"
        "vqmovnt.s32 q1, q7\n\t"
        "vqmovnb.s16 q2, q0\n\t"
        "vqmovnt.s16 q2, q1\n\t"
        "vstrb.8     q2, [%[o]]\n\t"
        : [t] "=&r"(t)
        : [s0] "r"(s0), [s1] "r"(s1), [s2] "r"(s2), [c] "r"(c), [w] "r"(w), [b] "r"(bias),
          [m] "r"(m), [nr] "r"(nr), [c2] "r"(c2), [o] "r"(o)
        : "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10",
          "d11", "d12", "d13", "d14", "d15");
#undef PJ_D16_FIRST
#undef PJ_D16_SECOND
#undef PJ_D16_WIDEN
#undef PJ_D16_RQ
}
#endif

void pj_dwconv_s8_mve16(const pj_dwconv_params *p, const int8_t *in, int8_t *out,
                        int32_t *scratch)
{
    const int32_t c = p->in_c, kh = p->k_h, kw = p->k_w, taps = kh * kw;
    const int32_t pw = (p->out_w - 1) * p->stride_w + (kw - 1) * p->dil_w + 1;
    const int32_t rowb = pw * c;
    const pj_v4 lo = pj_v_dup(p->act_min), hi = pj_v_dup(p->act_max);
#if PJ_MVE_ASM
    const int fast9 = kh == 3 && kw == 3 && p->dil_w == 1 && p->rq != 0 && p->act_min == -128
                      && p->act_max == 127;
#endif
    int32_t *offs = scratch;
    int8_t *strip = (int8_t *)(void *)(scratch + taps);
    int32_t b, oy, ox, ky, kx, t, q;
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
#if PJ_MVE_ASM
                if (fast9) {
                    for (q = 0; q < c; q += 16) {
                        pj_dw16_interior9(base + q, rowb, c, p->weights + q * 9, p->bias + q,
                                          p->mult + q, p->shift + q, p->rq + q, o + q);
                    }
                    continue;
                }
#endif
                for (q = 0; q < c; q += 16) {
                    pj_dw16_group(p, base + q, offs, taps, c, q, o, lo, hi);
                }
            }
        }
    }
}

/* ---- FULLY_CONNECTED -----------------------------------------------------------------
 * Weights as for CONV_2D ([out_depth / 4][K16 / 16][4][16]); the input offset folded into
 * the bias (the weight offset is 0: the generator's condition); batches in pairs, a single
 * batch row read twice (its second results dropped). */
void pj_fc_s8_mve(const pj_fc_params *p, const int8_t *in, int8_t *out)
{
    const int32_t k = p->accum_depth, nd = p->out_depth;
    const int32_t k16 = (k + 15) & ~15;
    int32_t b;
    for (b = 0; b < p->batches; b += 2) {
        const int two = b + 1 < p->batches;
        const int8_t *x0 = in + b * k;
        int8_t *o0 = out + b * nd;
        pj_mve_rows2(x0, two ? x0 + k : x0, p->weights, k16, k >> 4, k & 15, p->bias, p->rq,
                     p->mult, p->shift, p->out_offset, p->act_min, p->act_max, nd, o0,
                     two ? o0 + nd : 0);
    }
}
