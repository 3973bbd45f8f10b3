/* Hybrid CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: float32 activations, int8
 * weights, LiteRT's reference arithmetic (see pj_hybrid.h).
 *
 * Exactness.  The input quantization is LiteRT's, operation by operation (pj_hybrid_quantize:
 * the min/max, the scale and its inverse, the product, the rounding, the zero point, the
 * clamp).  The dot products are exact int32 sums in any order.  The rescale repeats
 * LiteRT's float multiplications in LiteRT's order.  Padded convolution taps hold the zero
 * point (symmetric: 0), and the asymmetric convolution subtracts zp * (sum of the whole
 * filter): that equals LiteRT's sum of w * (q - zp) over the taps inside the image.
 *
 * No libm and no double arithmetic per element: the asymmetric scale and zero point are
 * computed in double once per batch, as LiteRT does (software double on single-precision
 * FPUs).
 *
 * DSP cores: CONV_2D and FULLY_CONNECTED weights come in the quad layout (4 output
 * channels interleaved, groups of 4 reordered for SXTB16); the quantized input (an im2col
 * column for a convolution) is widened to int16 once, and 4 channels share every input
 * load: 16 multiply-adds in 8 SMLAD.  DEPTHWISE_CONV_2D (depth multiplier 1) takes 4
 * channels per pass with SMLABB/SMLATT.  The same bodies run on other cores through
 * pj_common.h's portable SMLAD helpers when the generator picks the DSP layout (the tests'
 * "host-dsp").
 */
#include "pj_common.h"
#include "pj_hybrid.h"

PJ_INLINE float pj_hclampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* std::round of a float (|v| < 2^31): truncate, then step away from zero when the
 * fraction (exact: v minus its integer part) is at least one half. */
PJ_INLINE int32_t pj_hround(float v)
{
    const int32_t t = (int32_t)v;
    const float f = v - (float)t;
    return t + (f >= 0.5f) - (f <= -0.5f);
}

/* LiteRT's vectorized RoundToNearest as it runs on x86 (NEON_2_SSE: add +-0.5 in float32,
 * truncate).  It differs from std::round only at |v| = 0.5 - 2^-25, which it rounds to +-1.
 * The half takes v's sign bit (-0.0 gets -0.5 instead of LiteRT's 0.5: both truncate to 0). */
PJ_INLINE int32_t pj_hround_vec(float v)
{
    uint32_t bits;
    float half, s;
    memcpy(&bits, &v, sizeof bits);
    bits = (bits & 0x80000000u) | 0x3F000000u;
    memcpy(&half, &bits, sizeof half);
    s = v + half;
    return (int32_t)s;
}

/* std::round of a double in (-128, 127), the same way as pj_hround. */
static int32_t pj_hround_d(double v)
{
    const int32_t t = (int32_t)v;
    const double f = v - (double)t;
    return t + (f >= 0.5) - (f <= -0.5);
}

static double pj_habs_d(double v) { return v < 0.0 ? -v : v; }

/* LiteRT's input quantization as tensor_utils runs it (the NEON kernels, which x86 builds
 * run through NEON_2_SSE): elements [0, n & ~7) rounded by pj_hround_vec, the rest by
 * std::round.  Asymmetric: min and max capped at zero in float32, their difference taken in
 * float32, the scale and zero point in double, and the zero point added to the ROUNDED
 * product (not inside the rounding, as the portable kernel does). */
/* max |x| of n >= 1 floats: the largest magnitude's bit pattern (finite floats without
 * their sign bit order like unsigned integers). */
static float pj_hmaxabs(const float *x, int32_t n)
{
    uint32_t m = 0, v;
    float r;
    int32_t i;
    for (i = 0; i < n; ++i) {
        memcpy(&v, x + i, sizeof v);
        v &= 0x7FFFFFFFu;
        m = v > m ? v : m;
    }
    memcpy(&r, &m, sizeof r);
    return r;
}

float pj_hybrid_quantize(const float *x, int32_t n, int32_t asymmetric, int8_t *q,
                         int32_t *zp)
{
    const int32_t vec_end = n & ~7;
    float inv;
    int32_t i;
    *zp = 0;
    if (!asymmetric) {
        /* SymmetricQuantizeFloats: range = max(|min|, |max|); |x * (127 / range)| rounds to
         * at most 127, so LiteRT's clamp to [-127, 127] never binds (SSAT is enough). */
        const float range = pj_hmaxabs(x, n);
        if (range == 0.0f) {
            memset(q, 0, (size_t)n);
            return 1.0f;
        }
        inv = 127.0f / range;
        for (i = 0; i < vec_end; ++i) {
            q[i] = (int8_t)pj_sat8(pj_hround_vec(x[i] * inv));
        }
        for (; i < n; ++i) {
            q[i] = (int8_t)pj_sat8(pj_hround(x[i] * inv));
        }
        return range / 127.0f;
    } else {
        /* AsymmetricQuantizeFloats: [min(0, min), max(0, max)] onto [-128, 127]. */
        float rmin = 0.0f, rmax = 0.0f, span, scale;
        double s, zmin, zmax, zd;
        int32_t z;
        for (i = 0; i < n; ++i) {
            rmin = x[i] < rmin ? x[i] : rmin;
            rmax = x[i] > rmax ? x[i] : rmax;
        }
        if (rmin == rmax) {
            memset(q, 0, (size_t)n);
            return 1.0f;
        }
        span = rmax - rmin;
        s = (double)span / 255.0;
        zmin = -128.0 - (double)rmin / s;
        zmax = 127.0 - (double)rmax / s;
        zd = 128.0 + pj_habs_d((double)rmin / s) < 127.0 + pj_habs_d((double)rmax / s)
             ? zmin : zmax;
        z = zd <= -128.0 ? -128 : (zd >= 127.0 ? 127 : pj_hround_d(zd));
        scale = (float)s;
        inv = 1.0f / scale;
        for (i = 0; i < vec_end; ++i) {
            q[i] = (int8_t)pj_sat8(z + pj_hround_vec(x[i] * inv));
        }
        for (; i < n; ++i) {
            q[i] = (int8_t)pj_sat8(z + pj_hround(x[i] * inv));
        }
        *zp = z;
        return scale;
    }
}

/* ---- dot products ---------------------------------------------------------------------- */
static int32_t pj_hdot(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t s = 0, i;
    for (i = 0; i < n; ++i) {
        s += a[i] * b[i];
    }
    return s;
}

/* acc[j] = dot(x, row j) for the 4 rows of one quad-layout block: x holds `groups` groups
 * of 4 int16 inputs, w the block (per group, 4 bytes of each row, reordered w0 w2 w1 w3 so
 * SXTB16 yields (w0, w1) and SXTB16 ROR 8 (w2, w3)). */
static void pj_hdot4(const int16_t *x, const int8_t *w, int32_t groups, int32_t acc[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#if PJ_DSP_ASM
    uint32_t xa, xb, wa, wb, t;
    if (groups > 0) {
        __asm__ __volatile__(
            "0:\n\t"
            "ldrd   %[xa], %[xb], [%[x]], #8\n\t"
            "ldrd   %[wa], %[wb], [%[w]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[a0], %[t], %[xa], %[a0]\n\t"
            "sxtb16 %[t], %[wa], ror #8\n\t"
            "smlad  %[a0], %[t], %[xb], %[a0]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[a1], %[t], %[xa], %[a1]\n\t"
            "sxtb16 %[t], %[wb], ror #8\n\t"
            "smlad  %[a1], %[t], %[xb], %[a1]\n\t"
            "ldrd   %[wa], %[wb], [%[w]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[a2], %[t], %[xa], %[a2]\n\t"
            "sxtb16 %[t], %[wa], ror #8\n\t"
            "smlad  %[a2], %[t], %[xb], %[a2]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[a3], %[t], %[xa], %[a3]\n\t"
            "sxtb16 %[t], %[wb], ror #8\n\t"
            "smlad  %[a3], %[t], %[xb], %[a3]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    0b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
              [w] "+r"(w), [n] "+r"(groups), [xa] "=&r"(xa), [xb] "=&r"(xb),
              [wa] "=&r"(wa), [wb] "=&r"(wb), [t] "=&r"(t)
            :
            : "cc", "memory");
    }
#else
    for (; groups > 0; --groups) {
        const uint32_t xa = pj_load32a(x), xb = pj_load32a(x + 2);
        const uint32_t w0 = pj_load32a(w), w1 = pj_load32a(w + 4);
        const uint32_t w2 = pj_load32a(w + 8), w3 = pj_load32a(w + 12);
        a0 = pj_smlad(pj_sxtb16(w0), xa, a0);
        a0 = pj_smlad(pj_sxtb16_ror8(w0), xb, a0);
        a1 = pj_smlad(pj_sxtb16(w1), xa, a1);
        a1 = pj_smlad(pj_sxtb16_ror8(w1), xb, a1);
        a2 = pj_smlad(pj_sxtb16(w2), xa, a2);
        a2 = pj_smlad(pj_sxtb16_ror8(w2), xb, a2);
        a3 = pj_smlad(pj_sxtb16(w3), xa, a3);
        a3 = pj_smlad(pj_sxtb16_ror8(w3), xb, a3);
        x += 4;
        w += 16;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* ---- CONV_2D ----------------------------------------------------------------------------- */
PJ_INLINE float pj_hconv_out(const pj_hconv_params *p, int32_t acc, int32_t c, int32_t zp,
                             float sf, const float *bias)
{
    float v;
    if (p->asymmetric) {
        acc -= zp * p->wsums[c];
        v = (float)acc * p->scales[c];
        v = v * sf;
    } else {
        v = (float)acc * sf;
    }
    if (bias != 0) {
        v = v + bias[c];
    }
    return pj_hclampf(v, p->act_min, p->act_max);
}

/* The im2col column of output pixel (oy, ox), group g: k_h x k_w taps of cg channels, taps
 * outside the image set to zp.  Returns the column (a pointer into q when the taps are one
 * contiguous run of the quantized input, else col). */
static const int8_t *pj_hconv_column(const pj_hconv_params *p, const int8_t *q, int32_t oy,
                                     int32_t ox, int32_t g, int32_t zp, int8_t *col)
{
    const int32_t cg = p->in_c / p->groups;
    const int32_t y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
    const int32_t run = p->k_w * p->in_c;
    const int row_run = p->groups == 1 && (p->dil_w == 1 || p->k_w == 1) && x0 >= 0
                        && x0 + (p->k_w - 1) * p->dil_w < p->in_w;
    int8_t *dst = col;
    int32_t ky, kx;
    if (row_run && p->k_h == 1 && y0 >= 0 && y0 < p->in_h) {
        return q + (y0 * p->in_w + x0) * p->in_c;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(dst, (int)zp, (size_t)(p->k_w * cg));
            dst += p->k_w * cg;
            continue;
        }
        if (row_run) {
            memcpy(dst, q + (iy * p->in_w + x0) * p->in_c, (size_t)run);
            dst += run;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                memset(dst, (int)zp, (size_t)cg);
            } else {
                memcpy(dst, q + (iy * p->in_w + ix) * p->in_c + g * cg, (size_t)cg);
            }
            dst += cg;
        }
    }
    return col;
}

void pj_hybrid_conv(const pj_hconv_params *p, const float *in, const float *bias, float *out,
                    void *scratch)
{
    const int32_t cg = p->in_c / p->groups, cpg = p->out_c / p->groups;
    const int32_t k = p->k_h * p->k_w * cg, kpad = (k + 3) & ~3;
    const int32_t plane = p->in_h * p->in_w * p->in_c;
    int16_t *col16 = (int16_t *)scratch;
    int8_t *q = (int8_t *)scratch + (p->quad ? 2 * kpad : 0);
    int8_t *col = q + plane;
    int32_t b, oy, ox, g, c, i, j;
    for (b = 0; b < p->batches; ++b) {
        int32_t zp;
        float sf = pj_hybrid_quantize(in + b * plane, plane, p->asymmetric, q, &zp);
        if (!p->asymmetric) {
            sf = sf * p->scales[0];
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                if (p->quad) {
                    /* one group: the column widened to int16 (zeros past k), 4 channels
                     * per pass over it */
                    const int8_t *src = pj_hconv_column(p, q, oy, ox, 0, zp, col);
                    for (i = 0; i < k; ++i) {
                        col16[i] = src[i];
                    }
                    for (; i < kpad; ++i) {
                        col16[i] = 0;
                    }
                    for (c = 0; c < p->out_c; c += 4) {
                        const int32_t m = p->out_c - c < 4 ? p->out_c - c : 4;
                        int32_t acc[4];
                        pj_hdot4(col16, p->weights + c * kpad, kpad >> 2, acc);
                        for (j = 0; j < m; ++j) {
                            *out++ = pj_hconv_out(p, acc[j], c + j, zp, sf, bias);
                        }
                    }
                    continue;
                }
                for (g = 0; g < p->groups; ++g) {
                    const int8_t *src = pj_hconv_column(p, q, oy, ox, g, zp, col);
                    for (c = g * cpg; c < (g + 1) * cpg; ++c) {
                        const int32_t acc = pj_hdot(src, p->weights + c * k, k);
                        *out++ = pj_hconv_out(p, acc, c, zp, sf, bias);
                    }
                }
            }
        }
    }
}

/* ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------- */
/* The taps [*lo, *hi) of a window starting at `start` (stride `dil`) that fall inside
 * [0, size). */
static void pj_hdw_taps(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *lo,
                        int32_t *hi)
{
    int32_t a = 0, b = k;
    while (a < k && start + a * dil < 0) {
        ++a;
    }
    while (b > a && start + (b - 1) * dil >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

/* Channels [c, c + 4) of one output pixel (depth multiplier 1) with dual 16-bit MACs: per
 * tap one word of inputs and one of weights, split into lanes (0, 2) and (1, 3) by SXTB16,
 * the zero point subtracted in both lanes at once (SADD16 of -zp), 4 SMLABB/SMLATT.  w, x:
 * the first tap's weights and inputs; the taps advance by wstep / xstep along a row and by
 * wrow / xrow from row to row. */
static void pj_hdw_dot4(const int8_t *w, const int8_t *x, int32_t rows, int32_t cols,
                        int32_t wstep, int32_t xstep, int32_t wrow, int32_t xrow,
                        uint32_t neg_zp2, int32_t acc[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, r, k;
    for (r = 0; r < rows; ++r) {
        const int8_t *wp = w + r * wrow, *xp = x + r * xrow;
        for (k = 0; k < cols; ++k) {
            const uint32_t xv = pj_read32(xp), wv = pj_read32(wp);
            const uint32_t x02 = pj_sadd16(pj_sxtb16(xv), neg_zp2);
            const uint32_t x13 = pj_sadd16(pj_sxtb16_ror8(xv), neg_zp2);
            const uint32_t w02 = pj_sxtb16(wv), w13 = pj_sxtb16_ror8(wv);
            a0 = pj_smlabb(x02, w02, a0);
            a2 = pj_smlatt(x02, w02, a2);
            a1 = pj_smlabb(x13, w13, a1);
            a3 = pj_smlatt(x13, w13, a3);
            wp += wstep;
            xp += xstep;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

PJ_INLINE float pj_hdw_out(const pj_hconv_params *p, int32_t acc, int32_t c, float sf,
                           const float *bias)
{
    /* LiteRT: acc * (per-channel scale * input scale) */
    const float s = p->scales[c] * sf;
    float v = (float)acc * s;
    if (bias != 0) {
        v = v + bias[c];
    }
    return pj_hclampf(v, p->act_min, p->act_max);
}

void pj_hybrid_dwconv(const pj_hconv_params *p, const float *in, const float *bias,
                      float *out, void *scratch)
{
    const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, k_w = p->k_w;
    const int32_t plane = p->in_h * in_w * in_c, dm = p->groups;
    const int32_t xstep = p->dil_w * in_c, xrow = p->dil_h * in_w * in_c;
    const int32_t wrow = k_w * out_c;
    /* the 4-channel body: depth multiplier 1 (out_c == in_c) */
    const int32_t c4 = p->quad ? in_c & ~3 : 0;
    int8_t *q = (int8_t *)scratch;
    int32_t b, oy, ox, ic, m, ky, kx, j;
    for (b = 0; b < p->batches; ++b) {
        int32_t zp;
        const float sf = pj_hybrid_quantize(in + b * plane, plane, 1, q, &zp);
        const uint32_t neg_zp2 = ((uint32_t)(uint16_t)(int16_t)-zp) * 0x10001u;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            int32_t ky0, ky1;
            pj_hdw_taps(y0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                int32_t kx0, kx1, rows = ky1 - ky0, cols;
                const int8_t *x00, *w00;
                pj_hdw_taps(x0, p->dil_w, k_w, in_w, &kx0, &kx1);
                cols = kx1 - kx0;
                /* the first in-image tap's input pixel and weights (channel 0) */
                if (rows == 0 || cols == 0) {
                    rows = 0; /* no tap inside the image */
                    x00 = q;
                    w00 = p->weights;
                } else {
                    x00 = q + ((y0 + ky0 * p->dil_h) * in_w + x0 + kx0 * p->dil_w) * in_c;
                    w00 = p->weights + (ky0 * k_w + kx0) * out_c;
                }
                for (ic = 0; ic < c4; ic += 4) {
                    int32_t acc[4];
                    pj_hdw_dot4(w00 + ic, x00 + ic, rows, cols, out_c, xstep, wrow, xrow,
                                neg_zp2, acc);
                    for (j = 0; j < 4; ++j) {
                        *out++ = pj_hdw_out(p, acc[j], ic + j, sf, bias);
                    }
                }
                for (ic = c4; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t c = ic * dm + m;
                        int32_t acc = 0;
                        for (ky = 0; ky < rows; ++ky) {
                            const int8_t *wr = w00 + ky * wrow + c;
                            const int8_t *xr = x00 + ky * xrow + ic;
                            for (kx = 0; kx < cols; ++kx) {
                                acc += *wr * (*xr - zp);
                                wr += out_c;
                                xr += xstep;
                            }
                        }
                        *out++ = pj_hdw_out(p, acc, c, sf, bias);
                    }
                }
            }
        }
    }
}

/* ---- FULLY_CONNECTED --------------------------------------------------------------------- */
PJ_INLINE float pj_hfc_out(const pj_hfc_params *p, int32_t dot, int32_t n, int32_t zp,
                           float sf, const float *bias)
{
    float scale = sf, v;
    if (p->per_channel) {
        scale = scale * p->scales[n];
    }
    if (p->asymmetric) {
        dot -= p->wsums[n] * zp;
    }
    /* LiteRT: the output starts as the bias (or 0) and accumulates dot * scale */
    v = (float)dot * scale;
    v = (bias != 0 ? bias[n] : 0.0f) + v;
    return pj_hclampf(v, p->act_min, p->act_max);
}

void pj_hybrid_fc(const pj_hfc_params *p, const float *in, const float *bias, float *out,
                  void *scratch)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth, kpad = (kd + 3) & ~3;
    int16_t *x16 = (int16_t *)scratch;
    int8_t *q = (int8_t *)scratch + (p->quad ? 2 * kpad : 0);
    int32_t b, n, k, j;
    for (b = 0; b < p->batches; ++b) {
        int32_t zp;
        float sf = pj_hybrid_quantize(in + b * kd, kd, p->asymmetric, q, &zp);
        if (!p->per_channel) {
            sf = sf * p->scales[0];
        }
        if (p->quad) {
            for (k = 0; k < kd; ++k) {
                x16[k] = q[k];
            }
            for (; k < kpad; ++k) {
                x16[k] = 0;
            }
            for (n = 0; n < nd; n += 4) {
                const int32_t m = nd - n < 4 ? nd - n : 4;
                int32_t acc[4];
                pj_hdot4(x16, p->weights + n * kpad, kpad >> 2, acc);
                for (j = 0; j < m; ++j) {
                    *out++ = pj_hfc_out(p, acc[j], n + j, zp, sf, bias);
                }
            }
        } else {
            for (n = 0; n < nd; ++n) {
                *out++ = pj_hfc_out(p, pj_hdot(q, p->weights + n * kd, kd), n, zp, sf, bias);
            }
        }
    }
}
