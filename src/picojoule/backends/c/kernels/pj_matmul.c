/* BATCH_MATMUL (see pj_matmul.h).
 *
 * Portable kernels: the reference sum, element by element, with the operands' strides.
 * pj_bmm_s8_dsp: the sum split as
 *     sum (l + lo)(r + ro) = sum l r + ro sum_t l + (lo sum_t r + k lo ro),
 * all modulo 2^32 like TFLM's int32 accumulator, so it gives the portable kernel's integers.
 * Each lhs row is widened to int16 once; the rhs columns are kept as int8 in the quad
 * layout (4 columns interleaved per group of 4 rows, bytes reordered t0 t2 t1 t3, so one
 * SXTB16 and one SXTB16 ROR #8 give the pairs (t0, t1) and (t2, t3)): per group of 4 rows,
 * 2 loads of the row, 4 of the columns, 8 SXTB16 and 8 SMLAD for 16 MACs.  A runtime rhs is
 * packed into scratch once per rhs matrix (broadcast batches reuse it); a constant one was
 * packed at generation time.
 */
#include "pj_common.h"
#include "pj_matmul.h"

PJ_INLINE int32_t pj_bmm_index(const int32_t *step, int32_t b0, int32_t b1, int32_t b2)
{
    return b0 * step[0] + b1 * step[1] + b2 * step[2];
}

PJ_INLINE int8_t pj_bmm_rq8(const pj_bmm_params *p, uint32_t acc)
{
    return (int8_t)pj_clamp32(pj_mbqm((int32_t)acc, p->mult, p->shift) + p->out_offset,
                              p->act_min, p->act_max);
}

void pj_bmm_f32(const pj_bmm_params *p, const float *lhs, const float *rhs, float *out)
{
    const int32_t m = p->m, k = p->k, n = p->n;
    int32_t b0, b1, b2, i, j, t;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const float *L = lhs + pj_bmm_index(p->lhs_step, b0, b1, b2) * m * k;
                const float *R = rhs + pj_bmm_index(p->rhs_step, b0, b1, b2) * k * n;
                for (i = 0; i < m; ++i) {
                    const float *l = L + i * p->lhs_sm;
                    for (j = 0; j < n; ++j) {
                        const float *r = R + j * p->rhs_sn;
                        float acc = 0.0f;
                        for (t = 0; t < k; ++t) {
                            acc += l[t * p->lhs_sk] * r[t * p->rhs_sk];
                        }
                        *out++ = acc;
                    }
                }
            }
        }
    }
}

void pj_bmm_s8(const pj_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out)
{
    const int32_t m = p->m, k = p->k, n = p->n;
    const int32_t lo = p->lhs_offset, ro = p->rhs_offset;
    int32_t b0, b1, b2, i, j, t;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *L = lhs + pj_bmm_index(p->lhs_step, b0, b1, b2) * m * k;
                const int8_t *R = rhs + pj_bmm_index(p->rhs_step, b0, b1, b2) * k * n;
                for (i = 0; i < m; ++i) {
                    const int8_t *l = L + i * p->lhs_sm;
                    for (j = 0; j < n; ++j) {
                        const int8_t *r = R + j * p->rhs_sn;
                        uint32_t acc = 0;
                        for (t = 0; t < k; ++t) {
                            acc += (uint32_t)((l[t * p->lhs_sk] + lo) * (r[t * p->rhs_sk] + ro));
                        }
                        *out++ = pj_bmm_rq8(p, acc);
                    }
                }
            }
        }
    }
}

void pj_bmm_s16(const pj_bmm_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out)
{
    const int32_t m = p->m, k = p->k, n = p->n;
    const int32_t lo = p->lhs_offset, ro = p->rhs_offset;
    const int32_t ts = p->shift;
    int32_t b0, b1, b2, i, j, t;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int16_t *L = lhs + pj_bmm_index(p->lhs_step, b0, b1, b2) * m * k;
                const int16_t *R = rhs + pj_bmm_index(p->rhs_step, b0, b1, b2) * k * n;
                for (i = 0; i < m; ++i) {
                    const int16_t *l = L + i * p->lhs_sm;
                    for (j = 0; j < n; ++j) {
                        const int16_t *r = R + j * p->rhs_sn;
                        int64_t acc = 0, y;
                        for (t = 0; t < k; ++t) {
                            acc += (int64_t)(l[t * p->lhs_sk] + lo) * (r[t * p->rhs_sk] + ro);
                        }
                        /* TFLM's 64-bit MultiplyByQuantizedMultiplier (the generator proves
                         * |acc * mult| < 2^62). */
                        y = (acc * p->mult + ((int64_t)1 << (ts - 1))) >> ts;
                        *out++ = (int16_t)pj_clamp32(pj_wrap32(y) + p->out_offset, p->act_min,
                                                     p->act_max);
                    }
                }
            }
        }
    }
}

/* A 2 x 2 block of dot products: rows i, i+1 widened to int16 and interleaved per group of
 * 4 as (i: t0 t1) (i+1: t0 t1) (i: t2 t3) (i+1: t2 t3), with columns j, j+1 of the quad
 * layout (their two words of each 16-byte group).  acc: {(i, j), (i, j+1), (i+1, j),
 * (i+1, j+1)}.  Per group 2 LDRD of rows, 1 LDRD of columns, 4 SXTB16 (each serving both
 * rows), 8 SMLAD and the loop branch: 17 instructions for 16 MACs, 12 registers (so frame
 * pointers still fit). */
static void pj_bmm_dot2x2(const int16_t *x, const int8_t *w, int32_t groups, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if PJ_DSP_ASM
    uint32_t xa, ya, w0, w1, t;
    if (groups > 0) {
        __asm__ __volatile__(
            "1:\n\t"
            "ldrd   %[xa], %[ya], [%[x]], #8\n\t"
            "ldrd   %[w0], %[w1], [%[w]], #16\n\t"
            "sxtb16 %[t], %[w0]\n\t"
            "smlad  %[a00], %[xa], %[t], %[a00]\n\t"
            "smlad  %[a10], %[ya], %[t], %[a10]\n\t"
            "sxtb16 %[t], %[w1]\n\t"
            "smlad  %[a01], %[xa], %[t], %[a01]\n\t"
            "smlad  %[a11], %[ya], %[t], %[a11]\n\t"
            "ldrd   %[xa], %[ya], [%[x]], #8\n\t"
            "sxtb16 %[w0], %[w0], ror #8\n\t"
            "smlad  %[a00], %[xa], %[w0], %[a00]\n\t"
            "smlad  %[a10], %[ya], %[w0], %[a10]\n\t"
            "sxtb16 %[w1], %[w1], ror #8\n\t"
            "smlad  %[a01], %[xa], %[w1], %[a01]\n\t"
            "smlad  %[a11], %[ya], %[w1], %[a11]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
              [x] "+r"(x), [w] "+r"(w), [n] "+r"(groups), [xa] "=&r"(xa), [ya] "=&r"(ya),
              [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
            :
            : "cc", "memory");
    }
#else
    for (; groups > 0; --groups) {
        const uint32_t xa = pj_load32a(x), ya = pj_load32a(x + 2);
        const uint32_t xb = pj_load32a(x + 4), yb = pj_load32a(x + 6);
        const uint32_t w0 = pj_load32a(w), w1 = pj_load32a(w + 4);
        uint32_t lo = pj_sxtb16(w0), hi = pj_sxtb16_ror8(w0);
        a00 = pj_smlad(xb, hi, pj_smlad(xa, lo, a00));
        a10 = pj_smlad(yb, hi, pj_smlad(ya, lo, a10));
        lo = pj_sxtb16(w1);
        hi = pj_sxtb16_ror8(w1);
        a01 = pj_smlad(xb, hi, pj_smlad(xa, lo, a01));
        a11 = pj_smlad(yb, hi, pj_smlad(ya, lo, a11));
        x += 8;
        w += 16;
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Pack one rhs matrix (k x n, strided) into the quad layout (zero padding) and its column
 * terms lhs_offset * sum_t r[t][j] + k * lhs_offset * rhs_offset. */
static void pj_bmm_pack(const pj_bmm_params *p, const int8_t *R, int32_t kpad, int32_t npad,
                        int8_t *packed, int32_t *col_terms)
{
    const int32_t k = p->k, n = p->n, sk = p->rhs_sk, kfull = k & ~3;
    const uint32_t kterm = (uint32_t)k * (uint32_t)p->lhs_offset * (uint32_t)p->rhs_offset;
    int32_t j, t;
    if (n & 3) { /* the last quad's padding columns */
        memset(packed + (n >> 2) * 4 * kpad, 0, (size_t)(4 * kpad));
    }
    for (j = 0; j < n; ++j) {
        const int8_t *r = R + j * p->rhs_sn;
        int8_t *dst = packed + (j >> 2) * 4 * kpad + (j & 3) * 4;
        int32_t sum = 0, u = 0;
        for (t = 0; t < kfull; t += 4, u += 4 * sk, dst += 16) {
            const int8_t v0 = r[u], v1 = r[u + sk], v2 = r[u + 2 * sk], v3 = r[u + 3 * sk];
            dst[0] = v0;
            dst[1] = v2;
            dst[2] = v1;
            dst[3] = v3;
            sum += v0 + v1 + v2 + v3;
        }
        if (t < k) { /* the last, partial group of rows: zeros past k */
            const int8_t v0 = r[u], v1 = t + 1 < k ? r[u + sk] : 0;
            const int8_t v2 = t + 2 < k ? r[u + 2 * sk] : 0;
            dst[0] = v0;
            dst[1] = v2;
            dst[2] = v1;
            dst[3] = 0;
            sum += v0 + v1 + v2;
        }
        col_terms[j] = (int32_t)((uint32_t)sum * (uint32_t)p->lhs_offset + kterm);
    }
    for (; j < npad; ++j) {
        col_terms[j] = 0;
    }
}

/* Widen lhs row l (k values, stride sk) into slot 0 or 1 of the interleaved buffer (see
 * pj_bmm_dot2x2: value t of slot s at 8 (t / 4) + 2 (t & 2) + 2 s + (t & 1)); returns
 * rhs_offset * the row's sum. */
static uint32_t pj_bmm_widen(const pj_bmm_params *p, const int8_t *l, int16_t *xs, int32_t slot)
{
    const int32_t k = p->k, sk = p->lhs_sk;
    int16_t *dst = xs + 2 * slot;
    int32_t t, u = 0, sum = 0;
    for (t = 0; t + 4 <= k; t += 4, u += 4 * sk, dst += 8) {
        const int32_t v0 = l[u], v1 = l[u + sk], v2 = l[u + 2 * sk], v3 = l[u + 3 * sk];
        dst[0] = (int16_t)v0;
        dst[1] = (int16_t)v1;
        dst[4] = (int16_t)v2;
        dst[5] = (int16_t)v3;
        sum += v0 + v1 + v2 + v3;
    }
    if (t < k) { /* the last, partial group: zeros past k */
        const int32_t v0 = l[u], v1 = t + 1 < k ? l[u + sk] : 0;
        const int32_t v2 = t + 2 < k ? l[u + 2 * sk] : 0;
        dst[0] = (int16_t)v0;
        dst[1] = (int16_t)v1;
        dst[4] = (int16_t)v2;
        dst[5] = 0;
        sum += v0 + v1 + v2;
    }
    return (uint32_t)sum * (uint32_t)p->rhs_offset;
}

PJ_INLINE int8_t pj_bmm_out8(const pj_bmm_params *p, int32_t acc)
{
    const int32_t v = p->rq != 0 ? pj_rq(acc, p->rq)
                                 : pj_mbqm(acc, p->mult, p->shift) + p->out_offset;
    return (int8_t)pj_clamp32(v, p->act_min, p->act_max);
}

void pj_bmm_s8_dsp(const pj_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out,
                   void *scratch)
{
    const int32_t m = p->m, k = p->k, n = p->n;
    const int32_t kpad = (k + 3) & ~3, npad = (n + 3) & ~3;
    int16_t *xs = (int16_t *)scratch;
    int32_t *terms = (int32_t *)(void *)(xs + 2 * kpad);
    int8_t *packed = (int8_t *)(terms + npad);
    int32_t b0, b1, b2, i, j, last = -1;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *L = lhs + pj_bmm_index(p->lhs_step, b0, b1, b2) * m * k;
                const int32_t ri = pj_bmm_index(p->rhs_step, b0, b1, b2);
                const int8_t *cols;
                const int32_t *cterm;
                if (p->rhs_packed != 0) {
                    cols = p->rhs_packed + ri * npad * kpad;
                    cterm = p->col_terms + ri * npad;
                } else {
                    if (ri != last) {
                        pj_bmm_pack(p, rhs + ri * k * n, kpad, npad, packed, terms);
                        last = ri;
                    }
                    cols = packed;
                    cterm = terms;
                }
                for (i = 0; i < m; i += 2) {
                    const int32_t two = i + 1 < m;
                    const uint32_t rt0 = pj_bmm_widen(p, L + i * p->lhs_sm, xs, 0);
                    /* a lone last row is paired with itself (its second results dropped) */
                    const uint32_t rt1 = pj_bmm_widen(p, L + (i + two) * p->lhs_sm, xs, 1);
                    int8_t *o0 = out + i * n;
                    int8_t *o1 = o0 + n;
                    for (j = 0; j < n; j += 2) {
                        int32_t acc[4];
                        acc[0] = (int32_t)((uint32_t)cterm[j] + rt0);
                        acc[1] = (int32_t)((uint32_t)cterm[j + 1] + rt0);
                        acc[2] = (int32_t)((uint32_t)cterm[j] + rt1);
                        acc[3] = (int32_t)((uint32_t)cterm[j + 1] + rt1);
                        pj_bmm_dot2x2(xs, cols + (j >> 2) * 4 * kpad + (j & 3) * 4, kpad >> 2,
                                      acc);
                        o0[j] = pj_bmm_out8(p, acc[0]);
                        if (j + 1 < n) {
                            o0[j + 1] = pj_bmm_out8(p, acc[1]);
                        }
                        if (two) {
                            o1[j] = pj_bmm_out8(p, acc[2]);
                            if (j + 1 < n) {
                                o1[j + 1] = pj_bmm_out8(p, acc[3]);
                            }
                        }
                    }
                }
                out += m * n;
            }
        }
    }
}
