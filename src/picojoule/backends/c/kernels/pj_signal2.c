/* TFLM signal library, second part (see pj_signal2.h).  The fixed-point FFTs replay
 * kissfft's arithmetic exactly: stores into a kiss_fft_scalar truncate to 16 or 32 bits,
 * products are summed in SAMPPROD (int32 / int64, wrapping) and rounded with sround.
 */
#include <string.h>

#include "pj_common.h"
#include "pj_signal2.h"

/* ---- fixed-point kissfft ------------------------------------------------------------- */
typedef struct { int32_t r, i; } pj_kc;

/* Store into a kiss_fft_scalar of `bits` bits. */
PJ_INLINE int32_t pj_kw(int64_t x, int32_t bits)
{
    return bits == 16 ? (int32_t)(int16_t)(uint16_t)(uint64_t)x
                      : (int32_t)(uint32_t)(uint64_t)x;
}

/* sround of a SAMPPROD sum s (given modulo 2^64). */
PJ_INLINE int32_t pj_ksround(uint64_t s, int32_t bits)
{
    if (bits == 16) {
        return pj_kw((int32_t)((uint32_t)s + (1u << 14)) >> 15, 16);
    }
    return pj_kw((int64_t)(s + ((uint64_t)1 << 30)) >> 31, 32);
}

PJ_INLINE uint64_t pj_kmul(int32_t a, int32_t b) { return (uint64_t)((int64_t)a * b); }

PJ_INLINE int32_t pj_kS(int32_t a, int32_t b, int32_t bits) { return pj_ksround(pj_kmul(a, b), bits); }

PJ_INLINE pj_kc pj_kcmul(pj_kc a, int32_t br, int32_t bi, int32_t bits)
{
    pj_kc c;
    c.r = pj_ksround(pj_kmul(a.r, br) - pj_kmul(a.i, bi), bits);
    c.i = pj_ksround(pj_kmul(a.r, bi) + pj_kmul(a.i, br), bits);
    return c;
}

PJ_INLINE pj_kc pj_kfixdiv(int32_t r, int32_t i, int32_t k, int32_t bits)
{
    const int32_t d = (bits == 16 ? 32767 : 2147483647) / k;
    pj_kc c;
    c.r = pj_kS(r, d, bits);
    c.i = pj_kS(i, d, bits);
    return c;
}

PJ_INLINE pj_kc pj_kcx(int64_t r, int64_t i, int32_t bits)
{
    pj_kc c;
    c.r = pj_kw(r, bits);
    c.i = pj_kw(i, bits);
    return c;
}

/* HALF_OF: an arithmetic shift of the int-promoted sum. */
PJ_INLINE int32_t pj_khalf(int64_t x) { return pj_wrap32(x) >> 1; }

static void pj_kstage(const pj_kfft_params *p, int32_t *re, int32_t *im, int32_t pr, int32_t m,
                      int32_t fs)
{
    const int32_t *twr = (const int32_t *)p->tw_r, *twi = (const int32_t *)p->tw_i;
    const int32_t bits = p->bits;
    int32_t g, u, q;
    for (g = 0; g < fs; ++g) {
        for (u = 0; u < m; ++u) {
            const int32_t base = g * pr * m + u;
            pj_kc f[5];
            int32_t *R = re + base, *I = im + base;
            for (q = 0; q < pr; ++q) {
                f[q] = pj_kfixdiv(R[q * m], I[q * m], pr, bits);
            }
            if (pr == 2) {
                const pj_kc t = pj_kcmul(f[1], twr[u * fs], twi[u * fs], bits);
                R[m] = pj_kw((int64_t)f[0].r - t.r, bits);
                I[m] = pj_kw((int64_t)f[0].i - t.i, bits);
                R[0] = pj_kw((int64_t)f[0].r + t.r, bits);
                I[0] = pj_kw((int64_t)f[0].i + t.i, bits);
            } else if (pr == 4) {
                const pj_kc s0 = pj_kcmul(f[1], twr[u * fs], twi[u * fs], bits);
                const pj_kc s1 = pj_kcmul(f[2], twr[2 * u * fs], twi[2 * u * fs], bits);
                const pj_kc s2 = pj_kcmul(f[3], twr[3 * u * fs], twi[3 * u * fs], bits);
                const pj_kc s5 = pj_kcx((int64_t)f[0].r - s1.r, (int64_t)f[0].i - s1.i, bits);
                const pj_kc f0 = pj_kcx((int64_t)f[0].r + s1.r, (int64_t)f[0].i + s1.i, bits);
                const pj_kc s3 = pj_kcx((int64_t)s0.r + s2.r, (int64_t)s0.i + s2.i, bits);
                const pj_kc s4 = pj_kcx((int64_t)s0.r - s2.r, (int64_t)s0.i - s2.i, bits);
                R[2 * m] = pj_kw((int64_t)f0.r - s3.r, bits);
                I[2 * m] = pj_kw((int64_t)f0.i - s3.i, bits);
                R[0] = pj_kw((int64_t)f0.r + s3.r, bits);
                I[0] = pj_kw((int64_t)f0.i + s3.i, bits);
                if (p->inverse) {
                    R[m] = pj_kw((int64_t)s5.r - s4.i, bits);
                    I[m] = pj_kw((int64_t)s5.i + s4.r, bits);
                    R[3 * m] = pj_kw((int64_t)s5.r + s4.i, bits);
                    I[3 * m] = pj_kw((int64_t)s5.i - s4.r, bits);
                } else {
                    R[m] = pj_kw((int64_t)s5.r + s4.i, bits);
                    I[m] = pj_kw((int64_t)s5.i - s4.r, bits);
                    R[3 * m] = pj_kw((int64_t)s5.r - s4.i, bits);
                    I[3 * m] = pj_kw((int64_t)s5.i + s4.r, bits);
                }
            } else if (pr == 3) {
                const int32_t epi = twi[fs * m];
                const pj_kc s1 = pj_kcmul(f[1], twr[u * fs], twi[u * fs], bits);
                const pj_kc s2 = pj_kcmul(f[2], twr[2 * u * fs], twi[2 * u * fs], bits);
                const pj_kc s3 = pj_kcx((int64_t)s1.r + s2.r, (int64_t)s1.i + s2.i, bits);
                pj_kc s0 = pj_kcx((int64_t)s1.r - s2.r, (int64_t)s1.i - s2.i, bits);
                const pj_kc f1 = pj_kcx((int64_t)f[0].r - pj_khalf(s3.r),
                                        (int64_t)f[0].i - pj_khalf(s3.i), bits);
                s0.r = pj_kS(s0.r, epi, bits);
                s0.i = pj_kS(s0.i, epi, bits);
                R[0] = pj_kw((int64_t)f[0].r + s3.r, bits);
                I[0] = pj_kw((int64_t)f[0].i + s3.i, bits);
                R[2 * m] = pj_kw((int64_t)f1.r + s0.i, bits);
                I[2 * m] = pj_kw((int64_t)f1.i - s0.r, bits);
                R[m] = pj_kw((int64_t)f1.r - s0.i, bits);
                I[m] = pj_kw((int64_t)f1.i + s0.r, bits);
            } else {
                const int32_t yar = twr[fs * m], yai = twi[fs * m];
                const int32_t ybr = twr[2 * fs * m], ybi = twi[2 * fs * m];
                pj_kc s[5], s5, s6, s7, s8, s9, s10, s11, s12;
                for (q = 1; q < 5; ++q) {
                    s[q] = pj_kcmul(f[q], twr[q * u * fs], twi[q * u * fs], bits);
                }
                s7 = pj_kcx((int64_t)s[1].r + s[4].r, (int64_t)s[1].i + s[4].i, bits);
                s10 = pj_kcx((int64_t)s[1].r - s[4].r, (int64_t)s[1].i - s[4].i, bits);
                s8 = pj_kcx((int64_t)s[2].r + s[3].r, (int64_t)s[2].i + s[3].i, bits);
                s9 = pj_kcx((int64_t)s[2].r - s[3].r, (int64_t)s[2].i - s[3].i, bits);
                R[0] = pj_kw((int64_t)f[0].r + s7.r + s8.r, bits);
                I[0] = pj_kw((int64_t)f[0].i + s7.i + s8.i, bits);
                s5 = pj_kcx((int64_t)f[0].r + pj_kS(s7.r, yar, bits) + pj_kS(s8.r, ybr, bits),
                            (int64_t)f[0].i + pj_kS(s7.i, yar, bits) + pj_kS(s8.i, ybr, bits),
                            bits);
                s6 = pj_kcx((int64_t)pj_kS(s10.i, yai, bits) + pj_kS(s9.i, ybi, bits),
                            -(int64_t)pj_kS(s10.r, yai, bits) - pj_kS(s9.r, ybi, bits), bits);
                R[m] = pj_kw((int64_t)s5.r - s6.r, bits);
                I[m] = pj_kw((int64_t)s5.i - s6.i, bits);
                R[4 * m] = pj_kw((int64_t)s5.r + s6.r, bits);
                I[4 * m] = pj_kw((int64_t)s5.i + s6.i, bits);
                s11 = pj_kcx((int64_t)f[0].r + pj_kS(s7.r, ybr, bits) + pj_kS(s8.r, yar, bits),
                             (int64_t)f[0].i + pj_kS(s7.i, ybr, bits) + pj_kS(s8.i, yar, bits),
                             bits);
                s12 = pj_kcx(-(int64_t)pj_kS(s10.i, ybi, bits) + pj_kS(s9.i, yai, bits),
                             (int64_t)pj_kS(s10.r, ybi, bits) - pj_kS(s9.r, yai, bits), bits);
                R[2 * m] = pj_kw((int64_t)s11.r + s12.r, bits);
                I[2 * m] = pj_kw((int64_t)s11.i + s12.i, bits);
                R[3 * m] = pj_kw((int64_t)s11.r - s12.r, bits);
                I[3 * m] = pj_kw((int64_t)s11.i - s12.i, bits);
            }
        }
    }
}

/* ---- float kissfft (generic butterflies: radices up to 5) ----------------------------- */
static void pj_fstage(const pj_kfft_params *p, float *re, float *im, int32_t pr, int32_t m,
                      int32_t fs)
{
    const float *twr = (const float *)p->tw_r, *twi = (const float *)p->tw_i;
    const int32_t n = p->nfft / 2;
    int32_t g, u, q, q1;
    for (g = 0; g < fs; ++g) {
        float *R = re + g * pr * m, *I = im + g * pr * m;
        for (u = 0; u < m; ++u) {
            float sr[5], si[5];
            for (q = 0; q < pr; ++q) {
                sr[q] = R[u + q * m];
                si[q] = I[u + q * m];
            }
            for (q1 = 0; q1 < pr; ++q1) {
                const int32_t k = u + q1 * m;
                int32_t tw = 0;
                float ar = sr[0], ai = si[0];
                for (q = 1; q < pr; ++q) {
                    tw += fs * k;
                    if (tw >= n) {
                        tw -= n;
                    }
                    ar += sr[q] * twr[tw] - si[q] * twi[tw];
                    ai += sr[q] * twi[tw] + si[q] * twr[tw];
                }
                R[k] = ar;
                I[k] = ai;
            }
        }
    }
}

/* The half-length complex FFT of (re, im) in place (inputs already in kissfft's leaf
 * order), stages from the innermost factor out. */
static void pj_kfft(const pj_kfft_params *p, int32_t *re, int32_t *im)
{
    int32_t f, k, fs;
    for (f = p->nfactors - 1; f >= 0; --f) {
        fs = 1;
        for (k = 0; k < f; ++k) {
            fs *= p->factors[2 * k];
        }
        if (p->bits == 0) {
            pj_fstage(p, (float *)(void *)re, (float *)(void *)im, p->factors[2 * f],
                      p->factors[2 * f + 1], fs);
        } else {
            pj_kstage(p, re, im, p->factors[2 * f], p->factors[2 * f + 1], fs);
        }
    }
}

/* Element i of a frame of the FFT's element type, as int32 (fixed) or its float bits. */
PJ_INLINE int32_t pj_kget(const void *a, int32_t bits, int32_t i)
{
    return bits == 16 ? ((const int16_t *)a)[i] : ((const int32_t *)a)[i];
}

PJ_INLINE void pj_kput(void *a, int32_t bits, int32_t i, int32_t v)
{
    if (bits == 16) {
        ((int16_t *)a)[i] = (int16_t)v;
    } else {
        ((int32_t *)a)[i] = v;
    }
}

void pj_signal_rfft(const pj_kfft_params *p, int32_t frames, const void *in, void *out,
                    int32_t *scratch)
{
    const int32_t n = p->nfft / 2, bits = p->bits, esz = bits == 16 ? 2 : 4;
    int32_t *re = scratch, *im = scratch + n;
    int32_t fr, j, k;
    for (fr = 0; fr < frames; ++fr) {
        const void *x = (const uint8_t *)in + (size_t)fr * p->in_len * esz;
        void *y = (uint8_t *)out + (size_t)fr * (p->nfft + 2) * esz;
        for (j = 0; j < n; ++j) {
            const int32_t src = 2 * p->perm[j];
            re[j] = src < p->in_len ? pj_kget(x, bits, src) : 0;
            im[j] = src + 1 < p->in_len ? pj_kget(x, bits, src + 1) : 0;
        }
        pj_kfft(p, re, im);
        if (bits == 0) {
            const float *R = (const float *)(void *)re, *I = (const float *)(void *)im;
            const float *str = (const float *)p->st_r, *sti = (const float *)p->st_i;
            float *Y = (float *)y;
            Y[0] = R[0] + I[0];
            Y[1] = 0.0f;
            Y[2 * n] = R[0] - I[0];
            Y[2 * n + 1] = 0.0f;
            for (k = 1; k <= n / 2; ++k) {
                const float f1r = R[k] + R[n - k], f1i = I[k] - I[n - k];
                const float f2r = R[k] - R[n - k], f2i = I[k] + I[n - k];
                const float tr = f2r * str[k - 1] - f2i * sti[k - 1];
                const float ti = f2r * sti[k - 1] + f2i * str[k - 1];
                Y[2 * k] = 0.5f * (f1r + tr);
                Y[2 * k + 1] = 0.5f * (f1i + ti);
                Y[2 * (n - k)] = 0.5f * (f1r - tr);
                Y[2 * (n - k) + 1] = 0.5f * (ti - f1i);
            }
            continue;
        }
        {
            const int32_t *str = (const int32_t *)p->st_r, *sti = (const int32_t *)p->st_i;
            const pj_kc d = pj_kfixdiv(re[0], im[0], 2, bits);
            pj_kput(y, bits, 0, pj_kw((int64_t)d.r + d.i, bits));
            pj_kput(y, bits, 1, 0);
            pj_kput(y, bits, 2 * n, pj_kw((int64_t)d.r - d.i, bits));
            pj_kput(y, bits, 2 * n + 1, 0);
            for (k = 1; k <= n / 2; ++k) {
                const pj_kc pk = pj_kfixdiv(re[k], im[k], 2, bits);
                const pj_kc pnk = pj_kfixdiv(re[n - k], pj_kw(-(int64_t)im[n - k], bits), 2, bits);
                const pj_kc f1 = pj_kcx((int64_t)pk.r + pnk.r, (int64_t)pk.i + pnk.i, bits);
                const pj_kc f2 = pj_kcx((int64_t)pk.r - pnk.r, (int64_t)pk.i - pnk.i, bits);
                const pj_kc tw = pj_kcmul(f2, str[k - 1], sti[k - 1], bits);
                pj_kput(y, bits, 2 * k, pj_kw(pj_khalf((int64_t)f1.r + tw.r), bits));
                pj_kput(y, bits, 2 * k + 1, pj_kw(pj_khalf((int64_t)f1.i + tw.i), bits));
                pj_kput(y, bits, 2 * (n - k), pj_kw(pj_khalf((int64_t)f1.r - tw.r), bits));
                pj_kput(y, bits, 2 * (n - k) + 1, pj_kw(pj_khalf((int64_t)tw.i - f1.i), bits));
            }
        }
    }
}

void pj_signal_irfft(const pj_kfft_params *p, int32_t frames, const void *in, void *out,
                     int32_t *scratch)
{
    const int32_t n = p->nfft / 2, bits = p->bits, esz = bits == 16 ? 2 : 4;
    int32_t *tr = scratch, *ti = scratch + n, *re = scratch + 2 * n, *im = scratch + 3 * n;
    int32_t fr, j, k;
    for (fr = 0; fr < frames; ++fr) {
        const void *x = (const uint8_t *)in + (size_t)fr * (p->nfft + 2) * esz;
        void *y = (uint8_t *)out + (size_t)fr * p->nfft * esz;
        if (bits == 0) {
            const float *X = (const float *)x;
            const float *str = (const float *)p->st_r, *sti = (const float *)p->st_i;
            float *TR = (float *)(void *)tr, *TI = (float *)(void *)ti;
            float *R = (float *)(void *)re, *I = (float *)(void *)im;
            float *Y = (float *)y;
            const float scale = 1.0f / (float)p->nfft;
            TR[0] = X[0] + X[2 * n];
            TI[0] = X[0] - X[2 * n];
            for (k = 1; k <= n / 2; ++k) {
                const float fkr = X[2 * k], fki = X[2 * k + 1];
                const float fnr = X[2 * (n - k)], fni = -X[2 * (n - k) + 1];
                const float er = fkr + fnr, ei = fki + fni;
                const float dr = fkr - fnr, di = fki - fni;
                const float okr = dr * str[k - 1] - di * sti[k - 1];
                const float oki = dr * sti[k - 1] + di * str[k - 1];
                TR[k] = er + okr;
                TI[k] = ei + oki;
                TR[n - k] = er - okr;
                TI[n - k] = -(ei - oki);
            }
            for (j = 0; j < n; ++j) {
                R[j] = TR[p->perm[j]];
                I[j] = TI[p->perm[j]];
            }
            pj_kfft(p, re, im);
            for (j = 0; j < n; ++j) {
                Y[2 * j] = R[j] * scale;
                Y[2 * j + 1] = I[j] * scale;
            }
            continue;
        }
        {
            const int32_t *str = (const int32_t *)p->st_r, *sti = (const int32_t *)p->st_i;
            const int32_t f0 = pj_kget(x, bits, 0), fn = pj_kget(x, bits, 2 * n);
            const pj_kc d = pj_kfixdiv(pj_kw((int64_t)f0 + fn, bits),
                                       pj_kw((int64_t)f0 - fn, bits), 2, bits);
            tr[0] = d.r;
            ti[0] = d.i;
            for (k = 1; k <= n / 2; ++k) {
                const pj_kc fk = pj_kfixdiv(pj_kget(x, bits, 2 * k), pj_kget(x, bits, 2 * k + 1),
                                            2, bits);
                const pj_kc fnkc = pj_kfixdiv(pj_kget(x, bits, 2 * (n - k)),
                                              pj_kw(-(int64_t)pj_kget(x, bits, 2 * (n - k) + 1),
                                                    bits), 2, bits);
                const pj_kc fek = pj_kcx((int64_t)fk.r + fnkc.r, (int64_t)fk.i + fnkc.i, bits);
                const pj_kc tmp = pj_kcx((int64_t)fk.r - fnkc.r, (int64_t)fk.i - fnkc.i, bits);
                const pj_kc fok = pj_kcmul(tmp, str[k - 1], sti[k - 1], bits);
                tr[k] = pj_kw((int64_t)fek.r + fok.r, bits);
                ti[k] = pj_kw((int64_t)fek.i + fok.i, bits);
                tr[n - k] = pj_kw((int64_t)fek.r - fok.r, bits);
                ti[n - k] = pj_kw(-(int64_t)pj_kw((int64_t)fek.i - fok.i, bits), bits);
            }
            for (j = 0; j < n; ++j) {
                re[j] = tr[p->perm[j]];
                im[j] = ti[p->perm[j]];
            }
            pj_kfft(p, re, im);
            for (j = 0; j < n; ++j) {
                pj_kput(y, bits, 2 * j, re[j]);
                pj_kput(y, bits, 2 * j + 1, im[j]);
            }
        }
    }
}

/* ---- streaming ops -------------------------------------------------------------------- */
void pj_signal_delay(int32_t rows, int32_t frame, int32_t delay, const int16_t *in,
                     int16_t *out, int16_t *state)
{
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const int16_t *x = in + r * frame;
        int16_t *y = out + r * frame, *st = state + r * delay;
        /* The row is (state, input): the first `frame` values out, the last `delay` kept. */
        for (i = 0; i < frame; ++i) {
            y[i] = i < delay ? st[i] : x[i - delay];
        }
        for (i = 0; i < delay; ++i) {
            st[i] = frame + i < delay ? st[frame + i] : x[frame + i - delay];
        }
    }
}

/* TFLM's CircularBuffer operations on h = {read, write, not empty} and buf[2 * cap]. */
static void pj_cb_write(int32_t *h, int16_t *buf, int32_t cap, const int16_t *v, int32_t n)
{
    const int32_t w = h[1];
    int32_t i;
    if (n <= 0) {
        return;
    }
    for (i = 0; i < n; ++i) {
        buf[w + i] = v[i];
    }
    if (w + n < cap) {
        for (i = 0; i < n; ++i) {
            buf[cap + w + i] = v[i];
        }
        h[1] = w + n;
    } else {
        const int32_t n1 = cap - w;
        for (i = 0; i < n1; ++i) {
            buf[cap + w + i] = v[i];
        }
        for (i = 0; i < w + n - cap; ++i) {
            buf[i] = v[n1 + i];
        }
        h[1] = w + n - cap;
    }
    h[2] = 1;
}

static int32_t pj_cb_available(const int32_t *h, int32_t cap)
{
    const int32_t diff = h[1] - h[0];
    if (diff > 0) {
        return diff;
    }
    if (diff < 0) {
        return cap + diff;
    }
    return h[2] ? cap : 0;
}

static void pj_cb_get(const int32_t *h, const int16_t *buf, int32_t cap, int16_t *dst,
                      int32_t n)
{
    const int32_t r = h[0];
    int32_t i;
    if (r + n <= cap) {
        memcpy(dst, buf + r, (size_t)n * sizeof *dst);
        return;
    }
    for (i = 0; i < cap - r; ++i) {
        dst[i] = buf[r + i];
    }
    for (; i < n; ++i) {
        dst[i] = buf[i - (cap - r)];
    }
}

static void pj_cb_discard(int32_t *h, int32_t cap, int32_t n)
{
    h[0] += n;
    if (h[0] >= cap) {
        h[0] -= cap;
    }
    if (h[0] == h[1]) {
        h[2] = 0;
    }
}

void pj_signal_framer(const pj_framer_params *p, const int16_t *in, int16_t *out,
                      uint8_t *valid, int32_t *hdr, int16_t *buf, int16_t *last)
{
    const int32_t cap = p->capacity, size = p->frame_size, step = p->frame_step;
    const int32_t frames = p->n_frames;
    int32_t r, k, ok = 1;
    if (!hdr[0]) { /* fresh after a reset: TFLM's Prepare prefills size - step zeros */
        hdr[0] = 1;
        for (r = 0; r < p->rows; ++r) {
            int32_t *h = hdr + 1 + 3 * r;
            h[0] = h[1] = h[2] = 0;
            if (p->prefill && size > step) {
                h[1] = size - step;
                h[2] = 1;
            }
        }
    }
    for (r = 0; r < p->rows; ++r) {
        int32_t *h = hdr + 1 + 3 * r;
        int16_t *b = buf + 2 * cap * r;
        for (k = 0; k < frames; ++k) {
            pj_cb_write(h, b, cap, in + (r * frames + k) * step, step);
            if (pj_cb_available(h, cap) >= size) {
                pj_cb_get(h, b, cap, last + (r * frames + k) * size, size);
                pj_cb_discard(h, cap, step);
            } else {
                ok = 0; /* TFLM leaves this frame's output untouched */
            }
        }
    }
    memcpy(out, last, (size_t)p->rows * frames * size * sizeof *out);
    *valid = (uint8_t)ok;
}

void pj_signal_stacker(const pj_stacker_params *p, const int16_t *in, int16_t *out,
                       uint8_t *valid, int32_t *hdr, int16_t *buf, int16_t *last,
                       int16_t *scratch)
{
    const int32_t cap = p->size, nch = p->num_channels;
    int32_t *h = hdr + 1;
    int32_t ok;
    pj_cb_write(h, buf, cap, in, nch);
    if (!hdr[0]) { /* the first frame also stands in for the missing left context */
        const int32_t w = h[1];
        const int32_t start = nch > w ? w + cap - nch : w - nch;
        int32_t t;
        hdr[0] = 1;
        if (nch > 0) {
            for (t = 0; t < p->left; ++t) {
                if (start + nch <= cap) {
                    memcpy(scratch, buf + start, (size_t)nch * sizeof *scratch);
                    pj_cb_write(h, buf, cap, scratch, nch);
                } else {
                    const int32_t n1 = cap - start;
                    memcpy(scratch, buf + start, (size_t)n1 * sizeof *scratch);
                    pj_cb_write(h, buf, cap, scratch, n1);
                    memcpy(scratch, buf, (size_t)(nch - n1) * sizeof *scratch);
                    pj_cb_write(h, buf, cap, scratch, nch - n1);
                }
            }
        }
    }
    ok = pj_cb_available(h, cap) >= cap;
    if (ok) {
        pj_cb_get(h, buf, cap, last, cap);
        pj_cb_discard(h, cap, nch * p->step);
    }
    memcpy(out, last, (size_t)cap * sizeof *out);
    *valid = (uint8_t)ok;
}

void pj_signal_overlap_add_s16(int32_t rows, int32_t n_frames, int32_t size, int32_t step,
                               const int16_t *in, int16_t *out, int16_t *state)
{
    int32_t r, k, i;
    for (r = 0; r < rows; ++r) {
        int16_t *b = state + r * size;
        for (k = 0; k < n_frames; ++k) {
            const int16_t *x = in + (r * n_frames + k) * size;
            int16_t *y = out + (r * n_frames + k) * step;
            for (i = 0; i < size; ++i) {
                b[i] = (int16_t)pj_clamp32((int32_t)b[i] + x[i], -32768, 32767);
            }
            memcpy(y, b, (size_t)step * sizeof *y);
            memmove(b, b + step, (size_t)(size - step) * sizeof *b);
            memset(b + size - step, 0, (size_t)step * sizeof *b);
        }
    }
}

void pj_signal_overlap_add_f32(int32_t rows, int32_t n_frames, int32_t size, int32_t step,
                               const float *in, float *out, float *state)
{
    int32_t r, k, i;
    for (r = 0; r < rows; ++r) {
        float *b = state + r * size;
        for (k = 0; k < n_frames; ++k) {
            const float *x = in + (r * n_frames + k) * size;
            float *y = out + (r * n_frames + k) * step;
            for (i = 0; i < size; ++i) {
                b[i] = b[i] + x[i];
            }
            memcpy(y, b, (size_t)step * sizeof *y);
            memmove(b, b + step, (size_t)(size - step) * sizeof *b);
            for (i = size - step; i < size; ++i) {
                b[i] = 0.0f;
            }
        }
    }
}
