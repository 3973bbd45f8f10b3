/* FULLY_CONNECTED int8.  The input offset is folded into the bias at generation time
 * (bias + input_offset * sum(w + weight_offset)), so the loop sums x * w only; a nonzero
 * weight offset (asymmetric weights, rare) adds weight_offset * sum(x).  Integers equal
 * TFLM's (sum (x + input_offset) * (w + weight_offset) + bias, modulo 2^32).  pj_fc_u8 and
 * pj_fc_u8_dsp are LiteRT's uint8 kernel (a legacy uint8 layer re-encoded as int8): the same
 * sums, then round(acc * scale) in double instead of the fixed-point requantization.
 */
#include "pj_common.h"
#include "pj_kernels.h"

PJ_INLINE int8_t pj_fc_requant(const pj_fc_params *p, int32_t acc, int32_t n)
{
    const int32_t v = p->rq != 0
        ? pj_rq(acc, p->rq + 4 * n)
        : pj_mbqm(acc, p->mult[n], p->shift[n]) + p->out_offset;
    return (int8_t)pj_clamp32(v, p->act_min, p->act_max);
}

void pj_fc_u8(const pj_fc_params *p, double scale, const int8_t *in, int8_t *out);
void pj_fc_u8_dsp(const pj_fc_params *p, double scale, const int8_t *in, int8_t *out,
                  int16_t *scratch);

/* static_cast<int32_t>(round(double(acc) * scale)): C's round (halves away from zero)
 * computed exactly, and INT32_MIN outside int32 (what x86 makes of that cast). */
PJ_INLINE int32_t pj_round_scaled(int32_t acc, double scale)
{
    const double v = (double)acc * scale;
    int32_t i;
    double r;
    if (!(v < 2147483647.5 && v > -2147483648.5)) {
        return INT32_MIN;
    }
    i = (int32_t)v; /* truncates */
    r = v - (double)i;
    if (r >= 0.5) {
        ++i;
    } else if (r <= -0.5) {
        --i;
    }
    return i;
}

/* One output: TFLM's fixed-point requantization when scale is 0 (a compile-time constant
 * in the int8 entry points, where this folds away), else LiteRT's uint8 reference kernel:
 * the accumulator scaled in double and rounded, plus the output offset. */
PJ_INLINE int8_t pj_fc_out(const pj_fc_params *p, int32_t acc, int32_t n, double scale)
{
    if (scale != 0.0) {
        const int32_t v = (int32_t)((uint32_t)pj_round_scaled(acc, scale)
                                    + (uint32_t)p->out_offset);
        return (int8_t)pj_clamp32(v, p->act_min, p->act_max);
    }
    return pj_fc_requant(p, acc, n);
}

static int32_t pj_fc_xsum(const pj_fc_params *p, const int8_t *x)
{
    int32_t s = 0, k;
    if (p->weight_offset == 0) {
        return 0;
    }
    for (k = 0; k < p->accum_depth; ++k) {
        s += x[k];
    }
    return s * p->weight_offset;
}

PJ_INLINE void pj_fc_s8_body(const pj_fc_params *p, double scale, const int8_t *in,
                             int8_t *out)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * kd;
        const int32_t xs = pj_fc_xsum(p, x);
        for (n = 0; n < nd; ++n) {
            const int8_t *w = p->weights + n * kd;
            int32_t acc = p->bias[n] + xs;
            for (k = 0; k < kd; ++k) {
                acc += x[k] * w[k];
            }
            out[b * nd + n] = pj_fc_out(p, acc, n, scale);
        }
    }
}

void pj_fc_s8(const pj_fc_params *p, const int8_t *in, int8_t *out)
{
    pj_fc_s8_body(p, 0.0, in, out);
}

/* A legacy uint8 layer (re-encoded as int8): LiteRT's double-scaled rounding. */
void pj_fc_u8(const pj_fc_params *p, double scale, const int8_t *in, int8_t *out)
{
    pj_fc_s8_body(p, scale, in, out);
}

/* The dot products of one widened input vector with 4 weight rows in the quad layout
 * (dsp_quad_layout: rows padded to 4, groups of 4 reordered (w0, w2, w1, w3), the 4 rows'
 * groups interleaved): per group of 4 inputs one LDRD of inputs, two LDRD of weights (16
 * bytes), 8 SXTB16 and 8 SMLAD, then the loop branch: 21 instructions for 16 MACs. */
PJ_INLINE void pj_fc_dot4(const int16_t *x, const int8_t *w, int32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if PJ_DSP_ASM
    uint32_t xa, xb, wa, wb, t;
    if (groups > 0) {
        __asm__ __volatile__(
            "1:\n\t"
            "ldrd   %[xa], %[xb], [%[x]], #8\n\t"
            "ldrd   %[wa], %[wb], [%[w]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[a0], %[xa], %[t], %[a0]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a0], %[xb], %[wa], %[a0]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[a1], %[xa], %[t], %[a1]\n\t"
            "sxtb16 %[wb], %[wb], ror #8\n\t"
            "smlad  %[a1], %[xb], %[wb], %[a1]\n\t"
            "ldrd   %[wa], %[wb], [%[w]], #8\n\t"
            "sxtb16 %[t], %[wa]\n\t"
            "smlad  %[a2], %[xa], %[t], %[a2]\n\t"
            "sxtb16 %[wa], %[wa], ror #8\n\t"
            "smlad  %[a2], %[xb], %[wa], %[a2]\n\t"
            "sxtb16 %[t], %[wb]\n\t"
            "smlad  %[a3], %[xa], %[t], %[a3]\n\t"
            "sxtb16 %[wb], %[wb], ror #8\n\t"
            "smlad  %[a3], %[xb], %[wb], %[a3]\n\t"
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x),
              [w] "+r"(w), [n] "+r"(groups), [xa] "=&r"(xa), [xb] "=&r"(xb), [wa] "=&r"(wa),
              [wb] "=&r"(wb), [t] "=&r"(t)
            :
            : "cc", "memory");
    }
#else
    for (; groups > 0; --groups) {
        const uint32_t x01 = pj_load32a(x), x23 = pj_load32a(x + 2);
        const uint32_t w0 = pj_load32a(w), w1 = pj_load32a(w + 4);
        const uint32_t w2 = pj_load32a(w + 8), w3 = pj_load32a(w + 12);
        a0 = pj_smlad(x01, pj_sxtb16(w0), a0);
        a0 = pj_smlad(x23, pj_sxtb16_ror8(w0), a0);
        a1 = pj_smlad(x01, pj_sxtb16(w1), a1);
        a1 = pj_smlad(x23, pj_sxtb16_ror8(w1), a1);
        a2 = pj_smlad(x01, pj_sxtb16(w2), a2);
        a2 = pj_smlad(x23, pj_sxtb16_ror8(w2), a2);
        a3 = pj_smlad(x01, pj_sxtb16(w3), a3);
        a3 = pj_smlad(x23, pj_sxtb16_ror8(w3), a3);
        x += 4;
        w += 16;
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* DSP variant: weights in the quad layout (accum_depth padded to kpad, a multiple of 4,
 * out_depth to a multiple of 4 with zero rows); each batch's inputs are widened to int16
 * once (zeros past accum_depth), then 4 rows at a time share every input load.
 * scratch: kpad int16 (4-byte aligned).  scale: as in pj_fc_out (0 in the int8 entry
 * point, where the uint8 path folds away). */
PJ_INLINE void pj_fc_dsp_body(const pj_fc_params *p, double scale, const int8_t *in,
                              int8_t *out, int16_t *xs16)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth;
    const int32_t kpad = (kd + 3) & ~3;
    int32_t b, n, k, j;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * kd;
        const int32_t xs = pj_fc_xsum(p, x);
        for (k = 0; k < kd; ++k) {
            xs16[k] = x[k];
        }
        for (; k < kpad; ++k) {
            xs16[k] = 0;
        }
        for (n = 0; n < nd; n += 4) {
            const int32_t m = nd - n < 4 ? nd - n : 4;
            int32_t acc[4];
            for (j = 0; j < 4; ++j) {
                acc[j] = j < m ? p->bias[n + j] + xs : 0;
            }
            pj_fc_dot4(xs16, p->weights + n * kpad, kpad >> 2, acc);
            for (j = 0; j < m; ++j) {
                out[b * nd + n + j] = pj_fc_out(p, acc[j], n + j, scale);
            }
        }
    }
}

void pj_fc_s8_dsp(const pj_fc_params *p, const int8_t *in, int8_t *out, int16_t *xs16)
{
    pj_fc_dsp_body(p, 0.0, in, out, xs16);
}

/* A legacy uint8 layer (re-encoded as int8): LiteRT's double-scaled rounding. */
void pj_fc_u8_dsp(const pj_fc_params *p, double scale, const int8_t *in, int8_t *out,
                  int16_t *xs16)
{
    pj_fc_dsp_body(p, scale, in, out, xs16);
}
