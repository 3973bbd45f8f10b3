/* SOFTMAX int8 -> int16 as TFLM's Softmax<int8, int16>: the int8 -> int8 algorithm
 * (tabulated fixed-point exponentials, Q12.19 sum, Newton-Raphson reciprocal) with the
 * final rounding shift to the 1/65536 output scale.
 */
#include "pj_common.h"
#include "pj_ops2.h"

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out. */
static int32_t pj_recip_one_plus(int32_t a)
{
    int64_t t = (int64_t)a + INT32_MAX;
    int32_t half_den, x;
    int i;
    t += t >= 0 ? 1 : -1;
    half_den = (int32_t)(t >= 0 ? t / 2 : -((-t) / 2));
    x = pj_wrap32((int64_t)1515870810 + pj_srdhm(half_den, -1010580540));
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = pj_wrap32((int64_t)(1 << 29) - pj_srdhm(half_den, x));
        x = pj_wrap32((int64_t)x + pj_sat_shl(pj_srdhm(x, one_minus), 2));
    }
    return pj_sat_shl(x, 1);
}

void pj_softmax_s8_s16(const pj_softmax16_params *p, const int8_t *in, int16_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * depth;
        int16_t *o = out + r * depth;
        int32_t mx = -128;
        uint32_t sum = 0;
        int hpo, exponent;
        int32_t scale;
        for (i = 0; i < depth; ++i) {
            mx = pj_max32(mx, x[i]);
        }
        for (i = 0; i < depth; ++i) {
            sum += (uint32_t)pj_rdbpot(p->exp_table[x[i] - mx + 255], 12);
        }
        hpo = pj_clz32(sum);
        scale = pj_recip_one_plus((int32_t)((sum << hpo) - 0x80000000u));
        exponent = 12 - hpo + 31 - 16;
        for (i = 0; i < depth; ++i) {
            const int32_t e = p->exp_table[x[i] - mx + 255];
            const int32_t v = pj_rdbpot(pj_srdhm(scale, e), exponent) - 32768;
            o[i] = (int16_t)(v > 32767 ? 32767 : v);
        }
    }
}
