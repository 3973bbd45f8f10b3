/* TFLM's signal library (audio front end) in C, integer for integer: window, FFT auto
 * scale, kissfft's fixed-point (16-bit) real FFT, energy, mel filter bank, square root,
 * spectral subtraction (with its noise estimate as persistent state), PCAN gain control
 * and the fixed-point log.  Wrap-arounds follow TFLM's C types (int16/int32 truncating
 * stores, uint32/uint64 modular arithmetic).
 */
#include "pj_common.h"
#include "pj_ops2.h"

/* Store into a 16-bit kiss_fft_scalar (two's-complement truncation). */
PJ_INLINE int32_t pj_w16(int32_t x) { return (int16_t)(uint16_t)(uint32_t)x; }

/* TFLM MostSignificantBit32 as built with GCC: bit length, 32 for 0. */
PJ_INLINE int32_t pj_msb32(uint32_t x) { return x == 0u ? 32 : 32 - pj_clz32(x); }

void pj_signal_window(int32_t size, int32_t wlen, int32_t shift, const int16_t *w,
                      const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t v = ((int32_t)in[i] * w[i % wlen]) >> shift;
        out[i] = (int16_t)pj_clamp32(v, -32768, 32767);
    }
}

void pj_signal_fft_auto_scale(int32_t size, const int16_t *in, int16_t *out, int32_t *bits)
{
    /* TFLM's MaxAbs16 keeps the maximum in an int16: -(-32768) stores back as -32768. */
    int32_t m = 0, b, i;
    for (i = 0; i < size; ++i) {
        const int32_t v = in[i];
        if (v > m) {
            m = v;
        } else if (-v > m) {
            m = pj_w16(-v);
        }
    }
    b = 16 - pj_msb32((uint32_t)m) - 1;
    b = b < 0 ? 0 : b;
    for (i = 0; i < size; ++i) {
        out[i] = (int16_t)pj_w16((int32_t)((uint32_t)(int32_t)in[i] << b));
    }
    *bits = b;
}

/* ---- kissfft, FIXED_POINT = 16 ------------------------------------------------------ */
/* sround: (x + 2^14) >> 15 of an int32 SAMPPROD, stored into int16. */
PJ_INLINE int32_t pj_sround(int64_t x)
{
    return pj_w16((int32_t)((uint32_t)pj_wrap32(x) + (1u << 14)) >> 15);
}

PJ_INLINE int32_t pj_half(int32_t x) { return x >> 1; }

typedef struct { int32_t r, i; } pj_cpx;

PJ_INLINE pj_cpx pj_cmul(pj_cpx a, int32_t br, int32_t bi)
{
    pj_cpx c;
    c.r = pj_sround((int64_t)a.r * br - (int64_t)a.i * bi);
    c.i = pj_sround((int64_t)a.r * bi + (int64_t)a.i * br);
    return c;
}

PJ_INLINE pj_cpx pj_fixdiv(int32_t r, int32_t i, int32_t k)
{
    const int32_t d = 32767 / k;
    pj_cpx c;
    c.r = pj_sround((int64_t)r * d);
    c.i = pj_sround((int64_t)i * d);
    return c;
}

PJ_INLINE pj_cpx pj_cx(int32_t r, int32_t i)
{
    pj_cpx c;
    c.r = pj_w16(r);
    c.i = pj_w16(i);
    return c;
}

static void pj_kiss_stage(const pj_rfft_params *p, int16_t *re, int16_t *im, int32_t pr,
                          int32_t m, int32_t fs)
{
    const int16_t *twr = p->tw_r, *twi = p->tw_i;
    int32_t g, u, q;
    for (g = 0; g < fs; ++g) {
        for (u = 0; u < m; ++u) {
            const int32_t base = g * pr * m + u;
            pj_cpx f[5];
            for (q = 0; q < pr; ++q) {
                f[q] = pj_fixdiv(re[base + q * m], im[base + q * m], pr);
            }
            if (pr == 2) {
                const pj_cpx t = pj_cmul(f[1], twr[u * fs], twi[u * fs]);
                re[base + m] = (int16_t)pj_w16(f[0].r - t.r);
                im[base + m] = (int16_t)pj_w16(f[0].i - t.i);
                re[base] = (int16_t)pj_w16(f[0].r + t.r);
                im[base] = (int16_t)pj_w16(f[0].i + t.i);
            } else if (pr == 4) {
                const pj_cpx s0 = pj_cmul(f[1], twr[u * fs], twi[u * fs]);
                const pj_cpx s1 = pj_cmul(f[2], twr[2 * u * fs], twi[2 * u * fs]);
                const pj_cpx s2 = pj_cmul(f[3], twr[3 * u * fs], twi[3 * u * fs]);
                const pj_cpx s5 = pj_cx(f[0].r - s1.r, f[0].i - s1.i);
                const pj_cpx f0 = pj_cx(f[0].r + s1.r, f[0].i + s1.i);
                const pj_cpx s3 = pj_cx(s0.r + s2.r, s0.i + s2.i);
                const pj_cpx s4 = pj_cx(s0.r - s2.r, s0.i - s2.i);
                re[base + 2 * m] = (int16_t)pj_w16(f0.r - s3.r);
                im[base + 2 * m] = (int16_t)pj_w16(f0.i - s3.i);
                re[base] = (int16_t)pj_w16(f0.r + s3.r);
                im[base] = (int16_t)pj_w16(f0.i + s3.i);
                re[base + m] = (int16_t)pj_w16(s5.r + s4.i);
                im[base + m] = (int16_t)pj_w16(s5.i - s4.r);
                re[base + 3 * m] = (int16_t)pj_w16(s5.r - s4.i);
                im[base + 3 * m] = (int16_t)pj_w16(s5.i + s4.r);
            } else if (pr == 3) {
                const int32_t epi = twi[fs * m];
                const pj_cpx s1 = pj_cmul(f[1], twr[u * fs], twi[u * fs]);
                const pj_cpx s2 = pj_cmul(f[2], twr[2 * u * fs], twi[2 * u * fs]);
                const pj_cpx s3 = pj_cx(s1.r + s2.r, s1.i + s2.i);
                pj_cpx s0 = pj_cx(s1.r - s2.r, s1.i - s2.i);
                const pj_cpx f1 = pj_cx(f[0].r - pj_half(s3.r), f[0].i - pj_half(s3.i));
                s0.r = pj_sround((int64_t)s0.r * epi);
                s0.i = pj_sround((int64_t)s0.i * epi);
                re[base] = (int16_t)pj_w16(f[0].r + s3.r);
                im[base] = (int16_t)pj_w16(f[0].i + s3.i);
                re[base + 2 * m] = (int16_t)pj_w16(f1.r + s0.i);
                im[base + 2 * m] = (int16_t)pj_w16(f1.i - s0.r);
                re[base + m] = (int16_t)pj_w16(f1.r - s0.i);
                im[base + m] = (int16_t)pj_w16(f1.i + s0.r);
            } else {
                const int32_t yar = twr[fs * m], yai = twi[fs * m];
                const int32_t ybr = twr[2 * fs * m], ybi = twi[2 * fs * m];
                pj_cpx s[5], s5, s6, s7, s8, s9, s10, s11, s12;
                for (q = 1; q < 5; ++q) {
                    s[q] = pj_cmul(f[q], twr[q * u * fs], twi[q * u * fs]);
                }
                s7 = pj_cx(s[1].r + s[4].r, s[1].i + s[4].i);
                s10 = pj_cx(s[1].r - s[4].r, s[1].i - s[4].i);
                s8 = pj_cx(s[2].r + s[3].r, s[2].i + s[3].i);
                s9 = pj_cx(s[2].r - s[3].r, s[2].i - s[3].i);
                re[base] = (int16_t)pj_w16(f[0].r + s7.r + s8.r);
                im[base] = (int16_t)pj_w16(f[0].i + s7.i + s8.i);
                s5 = pj_cx(f[0].r + pj_sround((int64_t)s7.r * yar)
                           + pj_sround((int64_t)s8.r * ybr),
                           f[0].i + pj_sround((int64_t)s7.i * yar)
                           + pj_sround((int64_t)s8.i * ybr));
                s6 = pj_cx(pj_sround((int64_t)s10.i * yai) + pj_sround((int64_t)s9.i * ybi),
                           -pj_sround((int64_t)s10.r * yai) - pj_sround((int64_t)s9.r * ybi));
                re[base + m] = (int16_t)pj_w16(s5.r - s6.r);
                im[base + m] = (int16_t)pj_w16(s5.i - s6.i);
                re[base + 4 * m] = (int16_t)pj_w16(s5.r + s6.r);
                im[base + 4 * m] = (int16_t)pj_w16(s5.i + s6.i);
                s11 = pj_cx(f[0].r + pj_sround((int64_t)s7.r * ybr)
                            + pj_sround((int64_t)s8.r * yar),
                            f[0].i + pj_sround((int64_t)s7.i * ybr)
                            + pj_sround((int64_t)s8.i * yar));
                s12 = pj_cx(-pj_sround((int64_t)s10.i * ybi) + pj_sround((int64_t)s9.i * yai),
                            pj_sround((int64_t)s10.r * ybi) - pj_sround((int64_t)s9.r * yai));
                re[base + 2 * m] = (int16_t)pj_w16(s11.r + s12.r);
                im[base + 2 * m] = (int16_t)pj_w16(s11.i + s12.i);
                re[base + 3 * m] = (int16_t)pj_w16(s11.r - s12.r);
                im[base + 3 * m] = (int16_t)pj_w16(s11.i - s12.i);
            }
        }
    }
}

void pj_signal_rfft_s16(const pj_rfft_params *p, const int16_t *in, int16_t *out,
                        int16_t *scratch)
{
    const int32_t n = p->nfft / 2;
    int16_t *re = scratch, *im = scratch + n;
    int32_t j, k, fs, f;
    /* kf_work's recursion only permutes the (zero-padded) input into the leaves. */
    for (j = 0; j < n; ++j) {
        const int32_t src = 2 * p->perm[j];
        re[j] = src < p->in_len ? in[src] : 0;
        im[j] = src + 1 < p->in_len ? in[src + 1] : 0;
    }
    /* Butterfly stages from the innermost factor out: stride of stage f = prod(p_0..p_f-1). */
    for (f = p->nfactors - 1; f >= 0; --f) {
        fs = 1;
        for (k = 0; k < f; ++k) {
            fs *= p->factors[2 * k];
        }
        pj_kiss_stage(p, re, im, p->factors[2 * f], p->factors[2 * f + 1], fs);
    }
    {
        const pj_cpx d = pj_fixdiv(re[0], im[0], 2);
        out[0] = (int16_t)pj_w16(d.r + d.i);
        out[1] = 0;
        out[2 * n] = (int16_t)pj_w16(d.r - d.i);
        out[2 * n + 1] = 0;
    }
    for (k = 1; k <= n / 2; ++k) {
        const pj_cpx pk = pj_fixdiv(re[k], im[k], 2);
        const pj_cpx pnk = pj_fixdiv(re[n - k], pj_w16(-im[n - k]), 2);
        const pj_cpx f1 = pj_cx(pk.r + pnk.r, pk.i + pnk.i);
        const pj_cpx f2 = pj_cx(pk.r - pnk.r, pk.i - pnk.i);
        const pj_cpx tw = pj_cmul(f2, p->st_r[k - 1], p->st_i[k - 1]);
        out[2 * k] = (int16_t)pj_w16(pj_half(f1.r + tw.r));
        out[2 * k + 1] = (int16_t)pj_w16(pj_half(f1.i + tw.i));
        out[2 * (n - k)] = (int16_t)pj_w16(pj_half(f1.r - tw.r));
        out[2 * (n - k) + 1] = (int16_t)pj_w16(pj_half(tw.i - f1.i));
    }
}

void pj_signal_energy(int32_t n_out, int32_t start, int32_t end, const int16_t *in,
                      uint32_t *out)
{
    int32_t i;
    /* TFLM leaves the bins outside [start, end) untouched; picojoule defines them as 0. */
    for (i = 0; i < n_out; ++i) {
        if (i < start || i >= end) {
            out[i] = 0u;
        } else {
            const int64_t r = in[2 * i], im = in[2 * i + 1];
            out[i] = (uint32_t)(uint64_t)(r * r + im * im);
        }
    }
}

void pj_signal_filter_bank(const pj_filterbank_params *p, const uint32_t *in, uint64_t *out)
{
    uint64_t prev_unweighted = 0;
    int32_t ch, j;
    for (ch = 0; ch <= p->num_channels; ++ch) {
        const int32_t width = p->width[ch] > 0 ? p->width[ch] : 0;
        uint64_t wsum = 0, usum = 0;
        for (j = 0; j < width; ++j) {
            const uint64_t e = in[p->fstart[ch] + j];
            wsum += (uint64_t)(int64_t)p->weights[p->wstart[ch] + j] * e;
            usum += (uint64_t)(int64_t)p->unweights[p->wstart[ch] + j] * e;
        }
        if (ch >= 1 && ch - 1 < p->n_out) {
            out[ch - 1] = wsum + prev_unweighted;
        }
        prev_unweighted = usum;
    }
}

/* floor(sqrt(x)) of a uint64 (bit by bit). */
static uint64_t pj_isqrt64(uint64_t x)
{
    uint64_t r = 0, bit = (uint64_t)1 << 62;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

void pj_signal_fb_sqrt(int32_t size, const uint64_t *in, const int32_t *shift, uint32_t *out)
{
    const int32_t sh = *shift;
    int32_t i;
    for (i = 0; i < size; ++i) {
        const uint64_t x = in[i];
        /* TFLM Sqrt64 takes Sqrt32 (root capped at 0xFFFF) when the high word is 0. */
        const uint64_t cap = (x >> 32) == 0 ? 0xFFFFu : 0xFFFFFFFFu;
        uint64_t r = pj_isqrt64(x);
        if (x - r * r > r && r != cap) {
            ++r;
        }
        out[i] = (uint32_t)(r >> sh);
    }
}

void pj_signal_spectral_subtraction(const pj_specsub_params *p, const uint32_t *in,
                                    uint32_t *out, uint32_t *noise_out, uint32_t *noise)
{
    const uint32_t sb = p->smoothing_bits & 31u, ssb = p->spectral_subtraction_bits & 63u;
    int32_t i;
    for (i = 0; i < p->num_channels; ++i) {
        const uint64_t x = in[i];
        const uint64_t sm = (i % 2 == 0) ? p->smoothing : p->alt_smoothing;
        const uint64_t om = (i % 2 == 0) ? p->one_minus_smoothing : p->alt_one_minus_smoothing;
        const uint64_t up = (x << sb) & 0xFFFFFFFFu;
        const uint64_t est = ((up * sm + (uint64_t)noise[i] * om) >> ssb) & 0xFFFFFFFFu;
        const uint64_t capped = est > up ? up : est;
        const uint64_t floor_v = ((x * p->min_signal_remaining) >> ssb) & 0xFFFFFFFFu;
        const uint64_t sub = ((up - capped) & 0xFFFFFFFFu) >> sb;
        noise[i] = (uint32_t)(p->clamping ? capped : est);
        noise_out[i] = noise[i];
        out[i] = (uint32_t)(sub > floor_v ? sub : floor_v);
    }
}

/* TFLM WideDynamicFunction: quadratic interpolation in the gain LUT, int16 result. */
static int32_t pj_pcan_gain(uint32_t x, int32_t lut_size, const int16_t *lut)
{
    int32_t interval, base, frac, c0, c1, c2, res;
    if (x <= 2u) {
        return lut[x];
    }
    interval = pj_msb32(x);
    base = pj_max32(4 * interval - 6, 0);
    frac = (int32_t)((interval < 11 ? (x << (11 - interval)) : (x >> (interval - 11))) & 0x3FFu);
    c0 = lut[pj_min32(base, lut_size - 1)];
    c1 = lut[pj_min32(base + 1, lut_size - 1)];
    c2 = lut[pj_min32(base + 2, lut_size - 1)];
    res = (c2 * frac) >> 5;
    res = (int32_t)((uint32_t)res + (uint32_t)(c1 * 32));
    res = (int32_t)((uint32_t)res * (uint32_t)frac);
    res = (int32_t)((uint32_t)res + (1u << 14)) >> 15;
    return pj_w16(res + c0);
}

void pj_signal_pcan(int32_t size, int32_t snr_shift, int32_t lut_size, const int16_t *lut,
                    const uint32_t *in, const uint32_t *noise, uint32_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const uint32_t g = (uint32_t)pj_pcan_gain(noise[i], lut_size, lut);
        const uint64_t snr = (((uint64_t)in[i] * g) >> snr_shift) & 0xFFFFFFFFu;
        if (snr < (2u << 12)) {
            out[i] = (uint32_t)((snr * snr) & 0xFFFFFFFFu) >> 20;
        } else {
            out[i] = (uint32_t)((snr >> 6) - 64u);
        }
    }
}

/* TFLM Log32: natural log times output_scale in fixed point, for x > 1. */
static uint32_t pj_log32(uint32_t x, int32_t out_scale, const int32_t *lut)
{
    const int32_t integer = pj_msb32(x) - 1;
    int64_t frac = (int64_t)x - ((int64_t)1 << integer);
    int64_t seg, c0, c1, rel;
    uint64_t fraction, log2v, loge;
    frac = integer < 16 ? frac << (16 - integer) : frac >> (integer - 16);
    frac = pj_wrap32(frac);
    seg = frac >> 9;
    c0 = lut[seg];
    c1 = lut[seg + 1];
    rel = (int64_t)(pj_wrap32((c1 - c0) * (frac - seg * 512)) >> 16);
    fraction = (uint64_t)(frac + c0 + rel) & 0xFFFFFFFFu;
    log2v = (((uint64_t)integer << 16) + fraction) & 0xFFFFFFFFu;
    loge = ((45426u * log2v + 32768u) >> 16) & 0xFFFFFFFFu;
    return (uint32_t)((((uint64_t)(uint32_t)out_scale * loge + 32768u) & 0xFFFFFFFFu) >> 16);
}

void pj_signal_fb_log(int32_t size, int32_t correction_bits, int32_t output_scale,
                      const int32_t *log_lut, const uint32_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const uint32_t scaled = in[i] << correction_bits;
        if (scaled > 1u) {
            const uint32_t v = pj_log32(scaled, output_scale, log_lut);
            out[i] = (int16_t)(v > 32767u ? 32767u : v);
        } else {
            out[i] = 0;
        }
    }
}

/* ---- CAST ---------------------------------------------------------------------------- */
static int64_t pj_load_int(const void *p, int32_t type, int32_t i)
{
    switch (type) {
    case 0:
        return ((const int8_t *)p)[i];
    case 1:
        return ((const int16_t *)p)[i];
    case 2:
        return ((const int32_t *)p)[i];
    case 3:
        return ((const uint32_t *)p)[i];
    case 5:
        return ((const uint8_t *)p)[i];
    default:
        return ((const uint8_t *)p)[i] != 0;
    }
}

/* float -> integer: truncate toward zero and saturate; NaN -> 0 (as the TFLM build). */
static int64_t pj_f2i(float v, int64_t lo, int64_t hi)
{
    if (v != v) {
        return 0;
    }
    if (v >= (float)hi) {
        return hi;
    }
    if (v <= (float)lo) {
        return lo;
    }
    return (int64_t)v;
}

void pj_cast(int32_t size, int32_t src_type, int32_t dst_type, const void *in, void *out)
{
    static const int64_t lo[7] = {-128, -32768, -2147483647 - 1, 0, 0, 0, 0};
    static const int64_t hi[7] = {127, 32767, 2147483647, 4294967295LL, 0, 255, 1};
    int32_t i;
    for (i = 0; i < size; ++i) {
        int64_t v = 0;
        float f = 0.0f;
        if (src_type == 4) {
            f = ((const float *)in)[i];
            if (dst_type == 6) {
                v = f != 0.0f;
            } else if (dst_type != 4) {
                v = pj_f2i(f, lo[dst_type], hi[dst_type]);
            }
        } else {
            v = pj_load_int(in, src_type, i);
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
        default:
            ((uint8_t *)out)[i] = (uint8_t)(v != 0);
            break;
        }
    }
}
