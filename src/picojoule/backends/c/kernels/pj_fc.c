/* FULLY_CONNECTED int8.  The input offset is folded into the bias at generation time
 * (bias + input_offset * sum(w + weight_offset)), so the loop sums x * w only; a nonzero
 * weight offset (asymmetric weights, rare) adds weight_offset * sum(x).  Integers equal
 * TFLM's (sum (x + input_offset) * (w + weight_offset) + bias, modulo 2^32).
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

void pj_fc_s8(const pj_fc_params *p, const int8_t *in, int8_t *out)
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
            out[b * nd + n] = pj_fc_requant(p, acc, n);
        }
    }
}

void pj_fc_s8_dsp(const pj_fc_params *p, const int8_t *in, int8_t *out, int16_t *xs16)
{
    const int32_t kd = p->accum_depth, nd = p->out_depth;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * kd;
        const int32_t xs = pj_fc_xsum(p, x);
        for (k = 0; k < kd; ++k) {
            xs16[k] = x[k];
        }
        for (n = 0; n < nd; n += 2) {
            const int pair = n + 1 < nd;
            const int32_t n1 = pair ? n + 1 : n;
            const int8_t *w0 = p->weights + n * kd;
            const int8_t *w1 = p->weights + n1 * kd;
            int32_t a0 = p->bias[n] + xs, a1 = p->bias[n1] + xs;
            for (k = 0; k + 4 <= kd; k += 4) {
                const uint32_t wa = pj_read32(w0 + k);
                const uint32_t wb = pj_read32(w1 + k);
                const uint32_t x01 = pj_read32(xs16 + k), x23 = pj_read32(xs16 + k + 2);
                a0 = pj_smlad(x01, pj_sxtb16(wa), a0);
                a0 = pj_smlad(x23, pj_sxtb16_ror8(wa), a0);
                a1 = pj_smlad(x01, pj_sxtb16(wb), a1);
                a1 = pj_smlad(x23, pj_sxtb16_ror8(wb), a1);
            }
            for (; k < kd; ++k) {
                a0 += xs16[k] * w0[k];
                a1 += xs16[k] * w1[k];
            }
            out[b * nd + n] = pj_fc_requant(p, a0, n);
            if (pair) {
                out[b * nd + n1] = pj_fc_requant(p, a1, n1);
            }
        }
    }
}
