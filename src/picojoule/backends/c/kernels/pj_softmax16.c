/* SOFTMAX int8 -> int16 as TFLM's Softmax<int8, int16>: the int8 -> int8 algorithm
 * (pj_softmax_row: tabulated fixed-point exponentials, Q12.19 sum, Newton-Raphson
 * reciprocal) with the final rounding shift to the 1/65536 output scale.
 *
 * SOFTMAX int16 -> int16 as TFLM's SoftmaxInt16: exponentials of the rescaled differences
 * to the row's maximum and the reciprocal of their sum, both from 513-point tables with
 * linear interpolation; the exponentials are kept in the output row until the end.
 */
#include "pj_common.h"
#include "pj_ops2.h"

void pj_softmax_s8_s16(const pj_softmax16_params *p, const int8_t *in, int16_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * depth;
        int16_t *o = out + r * depth;
        int32_t mx;
        int shift;
        const int32_t scale = pj_softmax_row(p->exp_table, x, depth, &mx, &shift);
        const int exponent = shift - 16;
        for (i = 0; i < depth; ++i) {
            const int32_t e = p->exp_table[x[i] - mx + 255];
            const int32_t v = pj_rdbpot(pj_srdhm(scale, e), exponent) - 32768;
            o[i] = (int16_t)(v > 32767 ? 32767 : v);
        }
    }
}

/* TFLM's int16 table lookup: 513 points over the int16 range, 128 values apart. */
PJ_INLINE int32_t pj_lut16(const int16_t *lut, int32_t x)
{
    const int32_t index = 256 + (x >> 7);
    const int32_t base = lut[index];
    const int32_t v = base + ((((int32_t)lut[index + 1] - base) * (x & 0x7F) + 64) >> 7);
    return ((v + 32768) & 0xFFFF) - 32768;
}

void pj_softmax_s16(const pj_softmax_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int16_t *x = in + r * depth;
        int16_t *o = out + r * depth;
        int32_t mx = x[0], sum = 0, recip, sym, hpo, right;
        int64_t shifted;
        for (i = 1; i < depth; ++i) {
            mx = x[i] > mx ? x[i] : mx;
        }
        for (i = 0; i < depth; ++i) {
            const int32_t d = pj_mbqm((int32_t)x[i] - mx, p->multiplier, p->shift) + 32767;
            const int32_t e = pj_lut16(p->exp_lut, pj_clamp32(d, -32768, 32767));
            o[i] = (int16_t)e;
            sum += e;
        }
        hpo = pj_clz32((uint32_t)sum);
        shifted = (((int64_t)sum << (hpo - 1)) + (1 << 13)) >> 14;
        sym = (int32_t)(shifted - ((1 << 15) + (1 << 16)));
        recip = pj_lut16(p->recip_lut, pj_clamp32(sym, -32768, 32767));
        right = 31 - hpo;
        for (i = 0; i < depth; ++i) {
            const int64_t v = ((int64_t)o[i] * recip + ((int64_t)1 << (right - 1))) >> right;
            o[i] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
}
